"""What the Python subclasses of pyloop's native transports add: the asyncio
class they pass for, and asyncio's warning for a transport never closed."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar


class NativeTransportFace:
    """Mixed into a Python subclass of a native transport.

    A native type cannot inherit from asyncio's transport classes (their
    ``__slots__`` give them a layout of their own), but ``isinstance`` falls
    back to ``__class__`` when the type check fails (as it does for mocks),
    so reporting ``face`` there makes ``isinstance(t, asyncio.ReadTransport)``
    and the like hold, as CPython's tests and some libraries check."""

    __slots__ = ()
    face: ClassVar[type]
    # The attribute holding the OS resource, None once the transport closed.
    resource: ClassVar[str]

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self).face

    def __del__(self, _warn: Any = warnings.warn) -> None:
        # As asyncio's: a transport dropped before it was closed says so.
        held = getattr(self, type(self).resource)
        if held is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            held.close()
