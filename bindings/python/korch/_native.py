"""Loads libkorch_c and declares its functions for ctypes.

The library is looked for, in order: $KORCH_C_LIBRARY (a file path), next to
this package (copied there at install time), the repository's build tree
(build/capi, when running from a checkout), and the system library path.
"""
import ctypes
import ctypes.util
import glob
import os
import threading

from . import errors

_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    explicit = os.environ.get("KORCH_C_LIBRARY")
    if explicit:
        yield explicit
        return
    yield from sorted(glob.glob(os.path.join(_HERE, "libkorch_c.so*")), key=len)
    build_dirs = []
    if os.environ.get("KORCH_BUILD_DIR"):
        build_dirs.append(os.path.join(os.environ["KORCH_BUILD_DIR"], "capi"))
    build_dirs.append(os.path.join(_HERE, "..", "..", "..", "build", "capi"))
    for d in build_dirs:
        yield from sorted(glob.glob(os.path.join(d, "libkorch_c.so*")), key=len)
    found = ctypes.util.find_library("korch_c")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path}: {e}")
    raise ImportError("korch: cannot load libkorch_c (set KORCH_C_LIBRARY to its path); tried: " +
                      ("; ".join(tried) if tried else "nothing found"))


lib = _load()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]

c_char_pp = ctypes.POINTER(ctypes.c_char_p)
c_void_pp = ctypes.POINTER(ctypes.c_void_p)
c_int64_p = ctypes.POINTER(ctypes.c_int64)


class KvMeta(ctypes.Structure):
    _fields_ = [("create_revision", ctypes.c_int64), ("mod_revision", ctypes.c_int64),
                ("version", ctypes.c_int64)]


KV_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                         ctypes.c_size_t, ctypes.POINTER(KvMeta), ctypes.c_void_p)
STORE_EVENT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                                  ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                                  ctypes.c_size_t, ctypes.c_int64, ctypes.c_void_p)
WATCH_END_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
CLIENT_EVENT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p,
                                   ctypes.c_void_p)
ADMISSION_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p,
                                ctypes.c_char_p, c_void_pp, c_void_pp, ctypes.c_void_p)
AUTHN_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, c_void_pp, ctypes.c_void_p)

_vp = ctypes.c_void_p
_cp = ctypes.c_char_p
_i = ctypes.c_int
_i64 = ctypes.c_int64
_sz = ctypes.c_size_t


def _declare(name, argtypes, restype=ctypes.c_int):
    fn = getattr(lib, name)
    fn.argtypes = argtypes
    fn.restype = restype
    return fn


_declare("korch_last_error", [], ctypes.c_char_p)
_declare("korch_free", [_vp], None)
_declare("korch_version", [], ctypes.c_char_p)

_declare("korch_store_open_rocksdb", [c_void_pp, _cp, _cp])
_declare("korch_store_open_memory", [c_void_pp])
_declare("korch_store_open_etcd", [c_void_pp, _cp, _cp])
_declare("korch_store_destroy", [_vp], None)
_declare("korch_store_get", [c_void_pp, ctypes.POINTER(_sz), ctypes.POINTER(KvMeta), _vp, _cp])
_declare("korch_store_create", [c_int64_p, _vp, _cp, _cp, _sz])
_declare("korch_store_update", [c_int64_p, _vp, _cp, _cp, _sz, _i64])
_declare("korch_store_delete", [c_int64_p, _vp, _cp, _i64])
_declare("korch_store_range", [c_int64_p, ctypes.POINTER(_i), _vp, _cp, _cp, _i64, _i64, KV_FN,
                               _vp])
_declare("korch_store_current_revision", [c_int64_p, _vp])
_declare("korch_store_compact", [_vp, _i64])
_declare("korch_store_watch", [c_void_pp, _vp, _cp, _i64, STORE_EVENT_FN, WATCH_END_FN, _vp])
_declare("korch_watch_destroy", [_vp], None)

_declare("korch_apiserver_options_new", [c_void_pp, _cp])
_declare("korch_apiserver_options_destroy", [_vp], None)
_declare("korch_apiserver_options_add_admission", [_vp, _cp, _i, ADMISSION_FN, _vp])
_declare("korch_apiserver_options_add_authenticator", [_vp, _cp, AUTHN_FN, _vp])
_declare("korch_apiserver_start", [c_void_pp, _vp])
_declare("korch_apiserver_url", [c_void_pp, _vp])
_declare("korch_apiserver_destroy", [_vp], None)

_declare("korch_client_new", [c_void_pp, _vp, _cp])
_declare("korch_client_connect", [c_void_pp, _cp, _cp])
_declare("korch_client_destroy", [_vp], None)
_declare("korch_client_create", [c_void_pp, _vp, _cp])
_declare("korch_client_get", [c_void_pp, _vp, _cp, _cp, _cp, _cp])
_declare("korch_client_list", [c_void_pp, _vp, _cp, _cp, _cp, _cp, _cp])
_declare("korch_client_update", [c_void_pp, _vp, _cp])
_declare("korch_client_patch", [c_void_pp, _vp, _cp, _cp, _cp, _cp, _cp, _cp, _cp])
_declare("korch_client_delete", [_vp, _cp, _cp, _cp, _cp])
_declare("korch_client_watch", [c_void_pp, _vp, _cp, _cp, _cp, _cp, _cp, CLIENT_EVENT_FN,
                                WATCH_END_FN, _vp])

# Exceptions raised inside Python callbacks that run on the calling thread
# are parked here and raised again when the C call returns (pygit2's way).
_pending = threading.local()


def park_exception(exc):
    _pending.exc = exc


def check(rc):
    """Raises the exception for a non-zero C return code (or the exception a
    Python callback raised during the call)."""
    exc = getattr(_pending, "exc", None)
    if exc is not None:
        _pending.exc = None
        raise exc
    if rc != 0:
        message = lib.korch_last_error().decode("utf-8", "replace")
        raise errors.error_for(rc, message)


def take_string(ptr):
    """Copies a korch-allocated C string into a Python str and frees it."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode("utf-8")
    finally:
        lib.korch_free(ptr)


def take_bytes(ptr, size):
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr, size)
    finally:
        lib.korch_free(ptr)


def malloc_string(text):
    """A malloc'ed copy of `text` for korch to free (callback outputs)."""
    data = text.encode("utf-8")
    ptr = libc.malloc(len(data) + 1)
    if not ptr:
        raise MemoryError("malloc failed")
    ctypes.memmove(ptr, data, len(data))
    ctypes.memset(ptr + len(data), 0, 1)
    return ptr


def enc(s):
    return None if s is None else s.encode("utf-8")

FILTER_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, c_void_pp,
                             ctypes.c_void_p)
SCORE_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, c_int64_p,
                            ctypes.c_void_p)

_declare("korch_scheduler_registry_new", [c_void_pp])
_declare("korch_scheduler_registry_destroy", [_vp], None)
_declare("korch_scheduler_registry_add_filter", [_vp, _cp, FILTER_FN, _vp])
_declare("korch_scheduler_registry_add_score", [_vp, _cp, SCORE_FN, _vp])
_declare("korch_scheduler_new", [c_void_pp, _cp, _vp, _cp])
_declare("korch_scheduler_destroy", [_vp], None)
_declare("korch_scheduler_add_node", [_vp, _cp])
_declare("korch_scheduler_update_node", [_vp, _cp])
_declare("korch_scheduler_remove_node", [_vp, _cp])
_declare("korch_scheduler_add_pod", [_vp, _cp])
_declare("korch_scheduler_remove_pod", [_vp, _cp])
_declare("korch_scheduler_schedule", [c_void_pp, _vp, _cp])
_declare("korch_scheduler_schedule_batch", [c_void_pp, _vp, _cp])
_declare("korch_scheduler_evaluate", [c_void_pp, _vp, _cp])
_declare("korch_scheduler_stats", [c_void_pp, _vp])
_declare("korch_scheduler_run", [c_void_pp, _vp, _cp, _vp])
_declare("korch_scheduler_runner_destroy", [_vp], None)


class NativeHandle:
    """Base of the classes that own a native handle: `with` blocks and garbage
    collection call close(), which each class defines (idempotent)."""

    def close(self):
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: modules may already be gone
            pass
