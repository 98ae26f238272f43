"""aiohttp "hello world": an aiohttp web server with one ``GET /`` handler and an
aiohttp ``ClientSession`` sending it requests over keep-alive connections, both
on the loop under test. The figure is requests per second, client and server
together: what a real library on top of the loop gets from it.

aiohttp is imported inside the benchmark, so the children of the other rows do
not pay for it; where it is not installed, the row is listed as pending with
the reason instead of failing on every loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
from time import perf_counter

from .registry import pending, register
from .transports import guarded

NAME = "aiohttp_hello_world"
UNIT = "requests/s"
# Requests in flight at once, each on its own kept-alive connection.
CONCURRENCY = 8
BODY = b"Hello, World!"


async def hello_world(n: int) -> float:
    """``n`` requests, CONCURRENCY at a time; timed once every connection is open."""
    import aiohttp
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=BODY, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}/"
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    each = max(1, n // CONCURRENCY)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:

            async def get() -> bytes:
                async with session.get(url) as response:
                    response.raise_for_status()
                    return await response.read()

            async def client() -> None:
                for _ in range(each):
                    await get()

            # One request per connection first: connecting is not the figure.
            bodies = await asyncio.gather(*(get() for _ in range(CONCURRENCY)))
            if any(body != BODY for body in bodies):
                raise ValueError(f"unexpected response body {bodies[0]!r}")
            started = perf_counter()
            await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
            elapsed = perf_counter() - started
    finally:
        await runner.cleanup()
    return each * CONCURRENCY / elapsed


if importlib.util.find_spec("aiohttp") is None:
    pending(NAME, unit=UNIT, needs="aiohttp installed (pip install aiohttp)")
else:

    @register(NAME, unit=UNIT, full=1_500, quick=400)
    async def aiohttp_hello_world(n: int) -> float:
        return await guarded(hello_world(n))
