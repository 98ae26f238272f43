"""Async generator bookkeeping: the hooks installed while the loop runs, and
``shutdown_asyncgens``, which closes the generators still alive."""

from __future__ import annotations

import asyncio
import warnings
import weakref
from collections.abc import AsyncGenerator
from typing import Any


class AsyncGenMixin:
    _asyncgens: weakref.WeakSet[AsyncGenerator[Any, Any]]
    _asyncgens_shutdown_called = False

    def _asyncgen_firstiter_hook(self, agen: AsyncGenerator[Any, Any]) -> None:
        if self._asyncgens_shutdown_called:
            warnings.warn(
                f"asynchronous generator {agen!r} was scheduled after "
                "loop.shutdown_asyncgens() call",
                ResourceWarning,
                source=self,
                stacklevel=2,
            )
        self._asyncgens.add(agen)

    def _asyncgen_finalizer_hook(self, agen: AsyncGenerator[Any, Any]) -> None:
        self._asyncgens.discard(agen)
        if not self.is_closed():  # type: ignore[attr-defined]
            self.call_soon_threadsafe(self.create_task, agen.aclose())  # type: ignore[attr-defined]

    async def shutdown_asyncgens(self) -> None:
        self._asyncgens_shutdown_called = True
        if not self._asyncgens:
            return
        closing = list(self._asyncgens)
        self._asyncgens.clear()
        results = await asyncio.gather(*[agen.aclose() for agen in closing], return_exceptions=True)
        for result, agen in zip(results, closing, strict=True):
            if isinstance(result, Exception):
                self.call_exception_handler(  # type: ignore[attr-defined]
                    {
                        "message": "an error occurred during closing of "
                        f"asynchronous generator {agen!r}",
                        "exception": result,
                        "asyncgen": agen,
                    }
                )
