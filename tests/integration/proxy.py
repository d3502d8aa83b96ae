"""A loopback TCP proxy the tests can cut and restore, to take the broker away from the daemon;
with an SSL context it terminates TLS in front of the broker (which speaks none)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from types import TracebackType


class TcpProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target>. ``cut()`` resets every connection
    and refuses new ones until ``restore()``. With ``tls``, clients speak TLS to the proxy
    and the proxy speaks plain TCP to the target. ``rate``: bytes per second each direction
    of a connection is held to (None: as fast as it goes), for a slow broker. ``stall()``:
    connections stay open but nothing is forwarded any more (a broker whose host froze);
    ``swallowed`` counts the bytes dropped since."""

    def __init__(self, target_port: int, *, tls: ssl.SSLContext | None = None) -> None:
        self.target_port = target_port
        self.tls = tls
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        sock.close()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.rate: float | None = None
        self.stalled = False
        self.swallowed = 0

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self.stalled:
                    self.swallowed += len(data)
                    continue
                writer.write(data)
                await writer.drain()
                if self.rate:
                    await asyncio.sleep(len(data) / self.rate)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        self._writers |= {client_w, up_w}
        await asyncio.gather(self._pipe(client_r, up_w), self._pipe(up_r, client_w))
        self._writers -= {client_w, up_w}

    async def _open(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True, ssl=self.tls,
        )

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()  # a reset, as when the broker's host goes away
        self._writers.clear()

    async def _finish(self) -> None:
        """End the connections' tasks (a throttled pipe may be sleeping) before the loop stops."""
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._open())
        return self

    def cut(self) -> None:
        self._call(self._close())

    def stall(self) -> None:
        self.stalled = True

    def restore(self) -> None:
        self._call(self._open())

    def stop(self) -> None:
        self._call(self._close())
        self._call(self._finish())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
