"""The revisioned key-value store: RocksDB (embedded), memory, or etcd."""
import ctypes
import weakref
from collections import namedtuple

from . import _native
from ._watch import Watch
from ._native import check, enc

KeyValue = namedtuple("KeyValue", "key value create_revision mod_revision version")
StoreEvent = namedtuple("StoreEvent", "type key value prev_value revision")


class Store(_native.NativeHandle):
    """A korch store. Keys are str, values bytes (str is encoded as UTF-8).

        with korch.Store.open_rocksdb("/var/lib/app/db") as store:
            rev = store.create("/apps/web", b"{...}")
            store.update("/apps/web", b"{...}", expected_mod_revision=rev)
    """

    def __init__(self, handle):
        self._handle = handle
        self._watches = weakref.WeakSet()

    @classmethod
    def open_rocksdb(cls, path, sync=True):
        handle = ctypes.c_void_p()
        options = '{"sync": %s}' % ("true" if sync else "false")
        check(_native.lib.korch_store_open_rocksdb(ctypes.byref(handle), enc(str(path)),
                                                   enc(options)))
        return cls(handle)

    @classmethod
    def open_memory(cls):
        handle = ctypes.c_void_p()
        check(_native.lib.korch_store_open_memory(ctypes.byref(handle)))
        return cls(handle)

    @classmethod
    def open_etcd(cls, endpoints, key_prefix=""):
        if not isinstance(endpoints, str):
            endpoints = ",".join(endpoints)
        handle = ctypes.c_void_p()
        check(_native.lib.korch_store_open_etcd(ctypes.byref(handle), enc(endpoints),
                                                enc(key_prefix)))
        return cls(handle)

    def _h(self):
        if self._handle is None:
            raise ValueError("the store is closed")
        return self._handle

    @staticmethod
    def _bytes(value):
        return value.encode("utf-8") if isinstance(value, str) else bytes(value)

    def get(self, key):
        """The KeyValue of `key`; korch.NotFound when absent."""
        value = ctypes.c_void_p()
        size = ctypes.c_size_t()
        meta = _native.KvMeta()
        check(_native.lib.korch_store_get(ctypes.byref(value), ctypes.byref(size),
                                          ctypes.byref(meta), self._h(), enc(key)))
        data = _native.take_bytes(value.value, size.value)
        return KeyValue(key, data, meta.create_revision, meta.mod_revision, meta.version)

    def create(self, key, value):
        """Creates `key`; returns the revision. korch.AlreadyExists if present."""
        data = self._bytes(value)
        rev = ctypes.c_int64()
        check(_native.lib.korch_store_create(ctypes.byref(rev), self._h(), enc(key), data,
                                             len(data)))
        return rev.value

    def update(self, key, value, expected_mod_revision=0):
        """Replaces `key` if its mod revision is expected (0: any); returns the
        new revision. korch.Conflict when it moved."""
        data = self._bytes(value)
        rev = ctypes.c_int64()
        check(_native.lib.korch_store_update(ctypes.byref(rev), self._h(), enc(key), data,
                                             len(data), expected_mod_revision))
        return rev.value

    def delete(self, key, expected_mod_revision=0):
        rev = ctypes.c_int64()
        check(_native.lib.korch_store_delete(ctypes.byref(rev), self._h(), enc(key),
                                             expected_mod_revision))
        return rev.value

    def range(self, prefix, end=None, revision=0, limit=0):
        """Keys with `prefix` (or in [prefix, end)) at `revision` (0: latest):
        (list of KeyValue, revision read, more)."""
        items = []
        errors = []

        def on_kv(key, key_len, value, value_len, meta, user_data):
            try:
                m = meta.contents
                items.append(KeyValue(ctypes.string_at(key, key_len).decode("utf-8"),
                                      ctypes.string_at(value, value_len), m.create_revision,
                                      m.mod_revision, m.version))
                return 0
            except BaseException as e:  # never let it unwind through C
                errors.append(e)
                return 1

        at = ctypes.c_int64()
        more = ctypes.c_int()
        callback = _native.KV_FN(on_kv)
        check(_native.lib.korch_store_range(ctypes.byref(at), ctypes.byref(more), self._h(),
                                            enc(prefix), enc(end), revision, limit, callback,
                                            None))
        if errors:
            raise errors[0]
        return items, at.value, bool(more.value)

    @property
    def revision(self):
        rev = ctypes.c_int64()
        check(_native.lib.korch_store_current_revision(ctypes.byref(rev), self._h()))
        return rev.value

    def compact(self, revision):
        check(_native.lib.korch_store_compact(self._h(), revision))

    def watch(self, prefix, start_revision=-1):
        """An iterator of StoreEvent("PUT"|"DELETE", key, value, prev_value,
        revision) for changes under `prefix` after `start_revision` (-1: from
        now). Close it (or use `with`)."""
        w = Watch()

        def on_event(kind, key, key_len, value, value_len, prev, prev_len, revision, ud):
            event = StoreEvent("PUT" if kind == 0 else "DELETE",
                               ctypes.string_at(key, key_len).decode("utf-8"),
                               ctypes.string_at(value, value_len) if value else None,
                               ctypes.string_at(prev, prev_len) if prev else None, revision)
            return w._push(event)

        event_cb = _native.STORE_EVENT_FN(on_event)
        end_cb = _native.WATCH_END_FN(w._on_end)
        w._callbacks = [event_cb, end_cb, self]  # the store outlives the watch
        handle = ctypes.c_void_p()
        check(_native.lib.korch_store_watch(ctypes.byref(handle), self._h(), enc(prefix),
                                            start_revision, event_cb, end_cb, None))
        w._handle = handle
        self._watches.add(w)
        return w

    def close(self):
        """Closes the store (and first every watch still open on it)."""
        for w in list(self._watches):
            w.close()
        if self._handle is not None:
            _native.lib.korch_store_destroy(self._handle)
            self._handle = None
