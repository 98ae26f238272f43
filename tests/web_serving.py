"""An aiohttp application served on a free loopback port for the length of a
block, for the integration tests."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator

from aiohttp import web  # pinned in the test extra


@contextlib.asynccontextmanager
async def serving(
    app: web.Application, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[str]:
    """Serves `app` on `host` and yields its base URL; cleans up on exit."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=ssl_context)
    await site.start()
    try:
        port = runner.addresses[0][1]
        scheme = "http" if ssl_context is None else "https"
        yield f"{scheme}://{host}:{port}"
    finally:
        await runner.cleanup()
