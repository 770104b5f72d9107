"""A round-robin TCP balancer: each new connection goes to the next backend, bytes as is.

What a Kubernetes Service without session affinity does to the MCP server's pods
(kube-proxy picks a backend per connection, not per request), run in a process of its
own so its copying shares no interpreter with the client or the servers. TLS passes
through untouched and terminates on the servers, as behind a Service.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import socket
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess

CHUNK = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _serve(port: int, backends: Sequence[int]) -> None:
    turn = itertools.cycle(backends)

    async def forward(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        sock = client_w.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", next(turn))
        except OSError:
            client_w.close()
            return
        server_sock = server_w.get_extra_info("socket")
        if server_sock is not None:
            server_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w))

    server = await asyncio.start_server(forward, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def _run(port: int, backends: Sequence[int]) -> None:
    asyncio.run(_serve(port, backends))


class RoundRobinBalancer:
    """``with RoundRobinBalancer(port, [a, b]):`` listens on ``port`` in a child process."""

    def __init__(self, port: int, backends: Sequence[int]) -> None:
        self.port = port
        self.process: BaseProcess = multiprocessing.get_context("spawn").Process(
            target=_run, args=(port, list(backends)), daemon=True
        )

    def __enter__(self) -> RoundRobinBalancer:
        self.process.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            # The probe took a turn: the next connection goes to the second backend.
            return self
        raise RuntimeError("the balancer did not start")

    def __exit__(self, *_exc: object) -> None:
        self.process.terminate()
        self.process.join(timeout=10)
