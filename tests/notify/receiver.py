"""A real HTTP receiver on loopback that records requests and answers from a script."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from monitor.broker import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic() on arrival
    answered: int | None = None  # status sent back; None: reset or not answered

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b'{"status": "success"}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    reset: bool = False  # abort the connection (TCP RST) instead of answering


Script = Callable[[int, Received], Reply]


def always_ok(_index: int, _request: Received) -> Reply:
    return Reply()


class Receiver:
    """``ThreadingHTTPServer`` in a thread; ``stop()`` closes the port, ``start()`` reopens it."""

    def __init__(self, script: Script = always_ok, port: int | None = None) -> None:
        self.port = port or free_port()
        self.script = script
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Receiver:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)

    @property
    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.answered is not None and r.answered < 300]

    def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        raise AssertionError(f"{what} not within {timeout_s} s; got {len(self.requests)} requests")

    def wait_accepted(self, count: int, timeout_s: float = 20.0) -> list[Received]:
        self.wait_for(lambda: len(self.accepted) >= count, timeout_s, f"{count} accepted")
        return self.accepted

    def _record(self, request: Received) -> int:
        with self._lock:
            self.requests.append(request)
            return len(self.requests) - 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                request = Received(self.path, headers, body, time.monotonic())
                reply = receiver.script(receiver._record(request), request)
                if reply.reset:
                    # SO_LINGER with timeout 0 makes close() send RST: a connection reset.
                    linger = struct.pack("ii", 1, 0)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    self.close_connection = True
                    self.connection.close()
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                # Recorded before answering, so the client never sees an answer that is not
                # recorded yet (it may still have given up on it: see ``delay``).
                request.answered = reply.status
                with contextlib.suppress(OSError):  # the client may have given up
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
