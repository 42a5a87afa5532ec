"""The exception type of usmoe and the helper that turns a C status into it."""

__all__ = ["Error"]

# Mirrors of the USMOE_STATUS_* macros of usmoe.h (checked by the tests).
STATUS_SUCCESS = 0
STATUS_INVALID_ARGUMENT = 1
STATUS_NON_FINITE_INPUT = 2
STATUS_BUFFER_TOO_SMALL = 3
STATUS_OUT_OF_MEMORY = 4
STATUS_UNSUPPORTED = 5
STATUS_INTERNAL_ERROR = 6

_STATUS_NAMES = {
    STATUS_SUCCESS: "success",
    STATUS_INVALID_ARGUMENT: "invalid argument",
    STATUS_NON_FINITE_INPUT: "non-finite input",
    STATUS_BUFFER_TOO_SMALL: "buffer too small",
    STATUS_OUT_OF_MEMORY: "out of memory",
    STATUS_UNSUPPORTED: "unsupported",
    STATUS_INTERNAL_ERROR: "internal error",
}


class Error(ValueError):
    """A usmoe call failed, or an argument was rejected before the call.

    Attributes:
        message: the human-readable message. For a failure inside the C
            library this is ``usmoe_last_error()`` verbatim (it names the C
            function and the argument at fault); for an argument rejected by
            the Python layer it names the Python argument.
        status: the ``usmoe_status`` code (an ``int``, one of the
            ``usmoe.STATUS_*`` constants). Arguments rejected by the Python
            layer use ``STATUS_INVALID_ARGUMENT``.
        status_name: the C library's name for the status
            (``usmoe_status_string``), e.g. ``"invalid argument"``.

    ``str(error)`` is ``"<message> [status <code>: <status_name>]"``.
    ``Error`` derives from ``ValueError`` so that code catching bad values
    keeps working.
    """

    def __init__(self, message, status=STATUS_INVALID_ARGUMENT, status_name=None):
        self.message = str(message)
        self.status = int(status)
        if status_name is None:
            status_name = _STATUS_NAMES.get(self.status, "unknown status")
        self.status_name = status_name
        super().__init__(f"{self.message} [status {self.status}: {self.status_name}]")

    def __reduce__(self):
        return (type(self), (self.message, self.status, self.status_name))
