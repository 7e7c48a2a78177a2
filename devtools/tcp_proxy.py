"""A TCP proxy that can play an unreachable server: the cluster's S3 endpoint in front of moto.

`python -m devtools.tcp_proxy LISTEN_PORT TARGET_PORT CONTROL_FILE` forwards every connection
to 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT. While CONTROL_FILE exists the server is
"down": the proxy stops listening (new connections are refused) and cuts the open ones; once
the file is gone it listens again. moto keeps its data in memory, so an outage of the object
store is played here, without stopping moto (`devtools.cluster.object_store_down`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

POLL = 0.2  # seconds between looks at the control file


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.close()


class Proxy:
    """Forwards 127.0.0.1:`listen` to 127.0.0.1:`target` while `control` does not exist."""

    def __init__(self, listen: int, target: int, control: Path) -> None:
        self.listen, self.target, self.control = listen, target, control
        self.open: set[asyncio.StreamWriter] = set()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            client_w.transport.abort()
            return
        pair = {client_w, server_w}
        self.open |= pair
        try:
            await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w))
        finally:
            self.open -= pair

    def _cut(self) -> None:
        """Reset every open connection, as a server that vanished does."""
        for writer in list(self.open):
            writer.transport.abort()
        self.open.clear()

    async def run(self) -> None:
        server: asyncio.Server | None = None
        while True:
            down = self.control.exists()
            if down and server is not None:
                server.close()
                self._cut()
                server = None
                print("down: refusing connections", flush=True)
            elif not down and server is None:
                server = await asyncio.start_server(self._serve, "127.0.0.1", self.listen)
                print(f"up: 127.0.0.1:{self.listen} -> 127.0.0.1:{self.target}", flush=True)
            await asyncio.sleep(POLL)


def main(argv: list[str] | None = None) -> None:
    listen, target, control = argv if argv is not None else sys.argv[1:]
    asyncio.run(Proxy(int(listen), int(target), Path(control)).run())


if __name__ == "__main__":
    main()
