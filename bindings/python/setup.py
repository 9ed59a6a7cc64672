"""Copies libkorch_c into the package when building it, so that an installed
korch finds its native library next to its own files.

Where the library comes from, in order: $KORCH_C_LIBRARY (a file), then the
build trees $KORCH_BUILD_DIR/capi and <repository>/build/capi.
"""
import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def find_library():
    explicit = os.environ.get("KORCH_C_LIBRARY")
    if explicit:
        if not os.path.isfile(explicit):
            raise SystemExit(f"KORCH_C_LIBRARY={explicit}: no such file")
        return explicit
    dirs = []
    if os.environ.get("KORCH_BUILD_DIR"):
        dirs.append(os.path.join(os.environ["KORCH_BUILD_DIR"], "capi"))
    dirs.append(os.path.join(HERE, "..", "..", "build", "capi"))
    for d in dirs:
        found = sorted(glob.glob(os.path.join(d, "libkorch_c.so*")), key=len)
        if found:
            return found[0]
    return None


class BuildPyWithLibrary(build_py):
    def run(self):
        super().run()
        library = find_library()
        if library is None:
            print("warning: libkorch_c not found; the installed package will look for it "
                  "through $KORCH_C_LIBRARY or the system library path")
            return
        target = os.path.join(self.build_lib, "korch", "libkorch_c.so")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.realpath(library), target)


setup(cmdclass={"build_py": BuildPyWithLibrary})
