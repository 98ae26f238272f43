"""The loop's exception handler: where failing callbacks are reported.

Same contract as asyncio: a context dict with ``message`` and usually
``exception`` and ``handle``/``future``/``task``; the default handler logs it
through the ``asyncio`` logger; only SystemExit and KeyboardInterrupt escape.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("asyncio")

Handler = Callable[[Any, dict[str, Any]], object]


class ExceptionHandlerMixin:
    _exception_handler: Handler | None = None

    def get_exception_handler(self) -> Handler | None:
        return self._exception_handler

    def set_exception_handler(self, handler: Handler | None) -> None:
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        message = context.get("message") or "Unhandled exception in event loop"
        exception = context.get("exception")
        exc_info: Any = False
        if exception is not None:
            exc_info = (type(exception), exception, exception.__traceback__)
        current = getattr(self, "_current_handle", None)
        if "source_traceback" not in context and getattr(current, "_source_traceback", None):
            context["handle_traceback"] = current._source_traceback  # type: ignore[union-attr]
        lines = [message]
        for key in sorted(context):
            if key in ("message", "exception"):
                continue
            value = context[key]
            if key == "source_traceback":
                stack = "".join(traceback.format_list(value)).rstrip()
                text = f"Object created at (most recent call last):\n{stack}"
            elif key == "handle_traceback":
                stack = "".join(traceback.format_list(value)).rstrip()
                text = f"Handle created at (most recent call last):\n{stack}"
            else:
                text = repr(value)
            lines.append(f"{key}: {text}")
        logger.error("\n".join(lines), exc_info=exc_info)

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        handler = self._exception_handler
        if handler is None:
            try:
                self.default_exception_handler(context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error("Exception in default exception handler", exc_info=True)
            return
        try:
            handler(self, context)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            try:
                self.default_exception_handler(
                    {
                        "message": "Unhandled error in exception handler",
                        "exception": exc,
                        "context": context,
                    }
                )
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error(
                    "Exception in default exception handler while handling an "
                    "unexpected error in custom exception handler",
                    exc_info=True,
                )
