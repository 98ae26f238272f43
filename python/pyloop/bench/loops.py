"""The loops the bench knows, by name, and how a child builds one.

Each name is a module with a ``new_event_loop()``. Nothing here is imported by
the parent for a loop other than asyncio: a loop that fails to import, or
crashes on start, must only cost its own column, so ``child probe`` tries it in
a throwaway interpreter.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import platform
from collections.abc import Callable

LOOPS = ("asyncio", "uvloop", "rloop", "pyloop")
BASELINE = "asyncio"
SUBJECT = "pyloop"
RIVALS = ("uvloop", "rloop")  # pyloop's headline compares with the faster of these


def factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The loop's ``new_event_loop``; raises if the loop cannot be imported."""
    if name not in LOOPS:
        raise ValueError(f"unknown loop {name!r}")
    module = importlib.import_module(name)
    new_event_loop: Callable[[], asyncio.AbstractEventLoop] = module.new_event_loop
    return new_event_loop


def version(name: str) -> str:
    """The loop's version (CPython's for asyncio), or ``unknown``."""
    if name == BASELINE:
        return platform.python_version()
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return str(getattr(importlib.import_module(name), "__version__", "unknown"))
