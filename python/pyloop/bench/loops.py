"""The loops a benchmark can run on, by name, and how to build one."""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
from collections.abc import Callable

# name -> (module to import, its new_event_loop; None = stock asyncio)
LOOPS: dict[str, str | None] = {
    "asyncio": None,
    "uvloop": "uvloop",
    "rloop": "rloop",
    "pyloop": "pyloop",
}


def factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    module = LOOPS[name]
    if module is None:
        return asyncio.new_event_loop
    return importlib.import_module(module).new_event_loop  # type: ignore[no-any-return]


def available(name: str) -> str | None:
    """None if the loop can be built here, else why not."""
    try:
        factory(name)().close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def version(name: str) -> str:
    module = LOOPS[name]
    if module is None:
        import platform

        return platform.python_version()
    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
