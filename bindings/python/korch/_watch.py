"""Watch iterators over the C API's callback watches.

The C library calls back on its own thread; events go into a bounded queue
that the iterator reads. When the consumer is slow the library's own bound
ends the watch (korch.ResourceExhausted) instead of memory growing.
"""
import queue

from . import _native, errors

_END = object()


class Watch(_native.NativeHandle):
    """Iterates over events until the watch ends or close() is called.

    Use as a context manager, or call close(): it stops the native watch and
    waits for its thread. Iteration raises the error that ended the watch
    (e.g. korch.Gone when the start revision was compacted).
    """

    def __init__(self, max_pending=10000):
        self._queue = queue.Queue(maxsize=max_pending)
        self._closing = False
        self._handle = None
        self._ended = False
        self._end_error = None
        # Keep the ctypes callbacks alive as long as the native watch.
        self._callbacks = []

    def _push(self, item):
        while not self._closing:
            try:
                self._queue.put(item, timeout=0.1)
                return 0
            except queue.Full:
                continue
        return 1  # closing: ask the library to stop

    def _on_end(self, code, message, user_data):
        error = None
        if code != 0:
            error = errors.error_for(code, (message or b"").decode("utf-8", "replace"))
        self._push((_END, error))

    def next(self, timeout=None):
        """The next event, or None when `timeout` seconds pass without one.
        Raises StopIteration when the watch has ended cleanly."""
        if self._ended:
            if self._end_error is not None:
                raise self._end_error
            raise StopIteration
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item[0] is _END:
            self._ended = True
            self._end_error = item[1]
            if item[1] is not None:
                raise item[1]
            raise StopIteration
        return item

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            item = self.next(timeout=0.5)
            if item is not None:
                return item

    def close(self):
        if self._handle is None:
            return
        self._closing = True
        _native.lib.korch_watch_destroy(self._handle)
        self._handle = None
