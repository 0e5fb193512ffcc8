"""One small HTTP server for ``/metrics``, ``/healthz`` and ``/readyz``.

Bounded on purpose: GET only, no request body is read, the standard library caps the
request line and header count, each connection has a socket timeout, and at most
``MAX_CONCURRENT`` requests are served at once (others get 503 at once). Binding to
``0.0.0.0`` exposes the endpoints to the network; the default is loopback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

MAX_CONCURRENT = 16


class HealthState:
    """What the probes report; the daemon updates it, the server only reads it."""

    def __init__(self, liveness_timeout_s: float = 60.0, readiness_stall_s: float = 10.0) -> None:
        self._clock = time.monotonic
        self.liveness_timeout_s = liveness_timeout_s
        # A main loop that has not come round for this long (waiting on an unreachable
        # broker, say) is not ready even before its next check says why.
        self.readiness_stall_s = readiness_stall_s
        self.last_beat = self._clock()
        self.ready = False
        self.reasons: list[str] = ["starting"]

    def beat(self) -> None:
        self.last_beat = self._clock()

    @property
    def alive(self) -> bool:
        return self._clock() - self.last_beat < self.liveness_timeout_s

    def readiness(self) -> tuple[bool, list[str]]:
        stalled = self._clock() - self.last_beat
        if stalled >= self.readiness_stall_s:
            return False, [*self.reasons, f"main loop busy for {stalled:.0f} s"]
        return self.ready, list(self.reasons)


def _handler(registry: CollectorRegistry, health: HealthState) -> type[BaseHTTPRequestHandler]:
    slots = threading.BoundedSemaphore(MAX_CONCURRENT)

    class Handler(BaseHTTPRequestHandler):
        timeout = 5
        server_version = "driftd"
        sys_version = ""

        def do_GET(self) -> None:
            if not slots.acquire(blocking=False):
                self._reply(503, b"busy\n")
                return
            try:
                self._route()
            finally:
                slots.release()

        def _route(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                ok = health.alive
                self._reply(200 if ok else 503, b"ok\n" if ok else b"main loop stalled\n")
            elif path == "/readyz":
                ready, reasons = health.readiness()
                if ready:
                    self._reply(200, b"ready\n")
                else:
                    self._reply(503, ("not ready: " + ", ".join(reasons) + "\n").encode())
            elif path == "/":
                self._reply(200, b"driftd: /metrics /healthz /readyz\n")
            else:
                self._reply(404, b"not found\n")

        def _method_not_allowed(self) -> None:
            self._reply(405, b"method not allowed\n")

        do_POST = do_PUT = do_DELETE = do_PATCH = _method_not_allowed

        def _reply(
            self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8"
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # request logs would flood; Prometheus scrapes every few seconds

    return Handler


class ProbeServer:
    def __init__(
        self, host: str, port: int, registry: CollectorRegistry, health: HealthState
    ) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(registry, health))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="driftd-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self, on_stop: Callable[[], None] | None = None) -> None:
        self._server.shutdown()
        self._server.server_close()
        if on_stop:
            on_stop()
