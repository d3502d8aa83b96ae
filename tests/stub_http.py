"""Stub vendors for the tests: a JSON-answering request handler and a loopback server."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["JsonHandler", "serve"]


class JsonHandler(BaseHTTPRequestHandler):
    """Base of a stub vendor: answers JSON, keeps no access log."""

    def send_json(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serve(
    handler: type[socketserver.BaseRequestHandler],
    server_class: type[socketserver.ThreadingTCPServer] = ThreadingHTTPServer,
) -> Iterator[str]:
    """Serve ``handler`` on a loopback port until the block ends; yields the base URL.
    ``server_class``: a raw TCP server for a stub that speaks HTTP badly on purpose."""
    server = server_class(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
