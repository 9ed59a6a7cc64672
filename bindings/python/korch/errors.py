"""Exceptions raised by korch, one class per error code of the C API.

Every exception carries the C code and korch's message, which names what is
wrong ("pods \"web\" not found", "options.lisen: unknown field").
"""


class KorchError(Exception):
    """Base class of every korch error."""

    code = -2

    def __init__(self, message, code=None):
        super().__init__(message)
        if code is not None:
            self.code = code


class Cancelled(KorchError):
    code = -1


class Invalid(KorchError, ValueError):
    """Bad input (Kubernetes' Invalid / BadRequest)."""
    code = -3


class Timeout(KorchError, TimeoutError):
    code = -4


class NotFound(KorchError, LookupError):
    code = -5


class AlreadyExists(KorchError):
    code = -6


class Forbidden(KorchError, PermissionError):
    code = -7


class ResourceExhausted(KorchError):
    """A limit was reached (quota, size, a watcher that fell behind)."""
    code = -8


class FailedPrecondition(KorchError):
    code = -9


class Conflict(KorchError):
    """A stale resourceVersion or mod revision: read again and retry."""
    code = -10


class Gone(KorchError):
    """The revision was compacted (Kubernetes' 410 Expired): list again."""
    code = -11


class Unimplemented(KorchError, NotImplementedError):
    code = -12


class Internal(KorchError):
    code = -13


class Unavailable(KorchError):
    code = -14


class DataLoss(KorchError):
    code = -15


class Unauthorized(KorchError):
    code = -16


class CallbackError(KorchError):
    code = -100


_BY_CODE = {cls.code: cls for cls in (
    Cancelled, Invalid, Timeout, NotFound, AlreadyExists, Forbidden, ResourceExhausted,
    FailedPrecondition, Conflict, Gone, Unimplemented, Internal, Unavailable, DataLoss,
    Unauthorized, CallbackError)}


def error_for(code, message):
    """The exception for a C return code."""
    cls = _BY_CODE.get(code, KorchError)
    return cls(message, code)
