"""The lifetime every object that owns a C handle shares (Router, Plan,
Experts): released by ``close()``, by ``with``, or by the garbage collector
(a ``weakref.finalize`` the owner sets in ``self._finalizer``)."""

from ._errors import Error


class OwnedHandle:
    """Mixin: ``close``, ``closed``, the context manager, ``_live_handle``.

    The owner sets ``self._handle``, ``self._finalizer`` (None until the C
    object exists) and the class attribute ``_what`` used in messages.
    """

    _finalizer = None
    _what = "object"

    def close(self):
        """Releases the C handle now (idempotent)."""
        if self._finalizer is not None:
            self._finalizer()

    @property
    def closed(self):
        """True once the C handle has been released."""
        return self._finalizer is None or not self._finalizer.alive

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _live_handle(self):
        if self.closed:
            raise Error(f"the {self._what} is closed (its C handle was released by close())")
        return self._handle
