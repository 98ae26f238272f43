"""A real framework over the loop's TCP transports and servers: an aiohttp
server and client exchanging JSON over HTTP and messages over a websocket, and
a file served through loop.sendfile."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from aiohttp import ClientSession, WSMsgType, web  # pinned in the test extra
from web_serving import serving


async def _echo_json(request: web.Request) -> web.Response:
    body = await request.json()
    return web.json_response({"got": body, "method": request.method})


async def _websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            await ws.send_str(message.data[::-1])
        elif message.type == WSMsgType.BINARY:
            await ws.send_bytes(bytes(reversed(message.data)))
    return ws


def test_aiohttp_json_and_websocket(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[object, ...]:
        app = web.Application()
        app.router.add_post("/json", _echo_json)
        app.router.add_get("/ws", _websocket)
        async with serving(app) as base, ClientSession() as session:
            replies = []
            for i in range(20):  # keep-alive: one connection, many requests
                async with session.post(f"{base}/json", json={"n": i}) as response:
                    replies.append((response.status, await response.json()))
            async with session.ws_connect(f"{base}/ws") as ws:
                await ws.send_str("hello websocket")
                text = await ws.receive_str()
                await ws.send_bytes(b"\x00\x01\x02" * 1000)
                binary = await ws.receive_bytes()
                await ws.close()
                close_code = ws.close_code
        return replies, text, binary, close_code

    replies, text, binary, close_code = loop.run_until_complete(main())
    assert replies == [(200, {"got": {"n": i}, "method": "POST"}) for i in range(20)]
    assert text == "hello websocket"[::-1]
    assert binary == bytes(reversed(b"\x00\x01\x02" * 1000))
    assert close_code == 1000


def test_aiohttp_file_response_over_plain_http(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    # web.FileResponse hands the connection's transport to loop.sendfile:
    # over plain TCP that is the zero-copy path.
    path = tmp_path / "download.bin"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 7))

    async def download(_: web.Request) -> web.FileResponse:
        return web.FileResponse(path)

    async def main() -> tuple[int, str, str]:
        app = web.Application()
        app.router.add_get("/file", download)
        async with serving(app) as base, ClientSession() as session:
            # Twice on one keep-alive connection: the transport works after.
            digests = []
            for _ in range(2):
                async with session.get(f"{base}/file") as response:
                    digests.append(hashlib.sha256(await response.read()).hexdigest())
        return response.status, digests[0], digests[1]

    status, first, second = loop.run_until_complete(main())
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (status, first, second) == (200, expected, expected)
