"""korch: the Kubernetes architecture as an embeddable library.

Python bindings over korch's C API (libkorch_c):
  - Store: the revisioned key-value store (RocksDB, memory, etcd).
  - ApiServer / Client: an in-process Kubernetes API server and its clients.
  - Scheduler: the embeddable scheduler, with Python filter and score plugins;
    SchedulerRunner: the scheduler against an API server.
"""
from ._native import lib as _lib
from .errors import (AlreadyExists, CallbackError, Cancelled, Conflict, DataLoss,
                     FailedPrecondition, Forbidden, Gone, Internal, Invalid, KorchError,
                     NotFound, ResourceExhausted, Timeout, Unauthorized, Unavailable,
                     Unimplemented)
from .store import KeyValue, Store, StoreEvent
from .cluster import ApiServer, Client
from .scheduler import Scheduler, SchedulerRunner

__version__ = _lib.korch_version().decode()

__all__ = [
    "AlreadyExists", "ApiServer", "CallbackError", "Cancelled", "Client", "Conflict",
    "DataLoss", "FailedPrecondition", "Forbidden", "Gone", "Internal", "Invalid", "KeyValue",
    "KorchError", "NotFound", "ResourceExhausted", "Scheduler", "SchedulerRunner", "Store", "StoreEvent", "Timeout",
    "Unauthorized", "Unavailable", "Unimplemented", "__version__",
]
