"""aiohttp over TLS: an HTTPS server and an HTTPS client on the same loop
exchanging JSON on one keep-alive connection, and a file served by
``web.FileResponse``, which hands the transport to ``loop.sendfile`` (over
TLS that is the copying path)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, TCPConnector, web  # pinned in the test extra
from tls_certs import localhost_contexts, needs_openssl
from web_serving import serving

pytestmark = needs_openssl

FILE_SIZE = 3 * 1024 * 1024 + 123


@pytest.fixture(scope="module")
def contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    return localhost_contexts(tmp_path_factory.mktemp("https"))


async def _echo_json(request: web.Request) -> web.Response:
    body = await request.json()
    return web.json_response({"got": body, "tls": request.secure})


def test_aiohttp_https_json_and_file(
    loop: asyncio.AbstractEventLoop, contexts: Any, tmp_path: Path
) -> None:
    server_ctx, client_ctx = contexts
    path = tmp_path / "download.bin"
    path.write_bytes(os.urandom(FILE_SIZE))

    async def main() -> tuple[list[Any], int, str, str | None]:
        app = web.Application()
        app.router.add_post("/json", _echo_json)

        async def download(_: web.Request) -> web.FileResponse:
            return web.FileResponse(path)

        app.router.add_get("/file", download)
        async with (
            serving(app, "localhost", server_ctx) as base,
            ClientSession(connector=TCPConnector(ssl=client_ctx)) as session,
        ):
            replies = []
            for i in range(10):  # keep-alive: one TLS connection, many requests
                payload = {"n": i, "text": "é" * i}
                async with session.post(f"{base}/json", json=payload) as response:
                    replies.append((response.status, await response.json()))
            async with session.get(f"{base}/file") as response:
                status = response.status
                assert response.connection is not None  # still reading the body
                ssl_object = response.connection.transport.get_extra_info("ssl_object")
                tls_version = ssl_object.version() if ssl_object else None
                digest = hashlib.sha256()
                async for chunk in response.content.iter_chunked(1 << 16):
                    digest.update(chunk)
        return replies, status, digest.hexdigest(), tls_version

    replies, status, digest, tls_version = loop.run_until_complete(main())
    assert replies == [(200, {"got": {"n": i, "text": "é" * i}, "tls": True}) for i in range(10)]
    assert status == 200
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert tls_version is not None and tls_version.startswith("TLS")
