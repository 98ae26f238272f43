"""A real library that drives its own fd through add_reader: pyzmq's asyncio
integration (zmq.asyncio polls the ZMQ_FD with loop.add_reader)."""

from __future__ import annotations

import asyncio

import zmq
import zmq.asyncio as zmq_asyncio  # pinned in the test extra: a missing one fails loudly


def test_zmq_request_reply(loop: asyncio.AbstractEventLoop) -> None:
    watched: list[int] = []
    add_reader = loop.add_reader

    def counting_add_reader(fd, callback, *args):  # type: ignore[no-untyped-def]
        watched.append(fd)
        return add_reader(fd, callback, *args)

    loop.add_reader = counting_add_reader  # type: ignore[method-assign]

    async def main() -> list[bytes]:
        ctx = zmq_asyncio.Context()
        server = ctx.socket(zmq.REP)
        client = ctx.socket(zmq.REQ)
        port = server.bind_to_random_port("tcp://127.0.0.1")
        client.connect(f"tcp://127.0.0.1:{port}")

        async def serve(count: int) -> None:
            for _ in range(count):
                message = await server.recv()
                await server.send(message.upper())

        serving = asyncio.ensure_future(serve(50))
        replies = []
        for i in range(50):
            await client.send(f"ping {i}".encode())
            replies.append(await asyncio.wait_for(client.recv(), timeout=30))
        await serving
        client.close(linger=0)
        server.close(linger=0)
        ctx.term()
        return replies

    replies = loop.run_until_complete(main())
    assert replies == [f"PING {i}".encode() for i in range(50)]
    assert watched  # the library really waited through add_reader
