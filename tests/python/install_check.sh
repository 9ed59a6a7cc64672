#!/usr/bin/env bash
# Installs the Python package the way a user does (pip, no network) into a
# fresh virtual environment, then runs the binding tests against the
# installed copy from another directory: the package must find the
# libkorch_c copied next to it at install time.
# Usage: install_check.sh PYTHON SOURCE_DIR LIBKORCH_C WORK_DIR
set -euo pipefail
python=$1 src=$2 lib=$3 work=$4
rm -rf "$work"
mkdir -p "$work"
cp -r "$src/bindings/python" "$work/src"
rm -rf "$work/src/build" "$work/src"/*.egg-info
"$python" -m venv --system-site-packages "$work/venv"
KORCH_C_LIBRARY=$lib "$work/venv/bin/python" -m pip install --quiet --no-index \
  --no-build-isolation "$work/src"
cd "$work"
env -u KORCH_C_LIBRARY -u KORCH_BUILD_DIR KORCH_TEST_INSTALLED=1 "$work/venv/bin/python" -c \
  'import korch, os; print("installed korch", korch.__version__, "at", os.path.dirname(korch.__file__))'
env -u KORCH_C_LIBRARY -u KORCH_BUILD_DIR KORCH_TEST_INSTALLED=1 \
  "$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$work/src/tests"
