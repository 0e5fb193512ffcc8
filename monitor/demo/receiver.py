"""A webhook receiver on loopback for the demo: it plays the incident tool, checks each
delivery's Standard Webhooks signature and counts what arrived."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec

MAX_BODY = 1 << 20


class WebhookReceiver:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.received = 0
        self.bad_signatures = 0
        self.last: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/alerts"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def verify(self, headers: Any, body: bytes) -> bool:
        signed = f"{headers.get('webhook-id')}.{headers.get('webhook-timestamp')}.".encode() + body
        expected = base64.b64encode(hmac.new(self.secret, signed, hashlib.sha256).digest())
        offered = (headers.get("webhook-signature") or "").split()
        return any(hmac.compare_digest(s.split(",", 1)[-1].encode(), expected) for s in offered)

    def _record(self, headers: Any, body: bytes) -> None:
        ok = self.verify(headers, body)
        with self._lock:
            self.received += 1
            self.bad_signatures += not ok
            self.last = [msgspec.json.decode(body), *self.last][:20]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                body = self.rfile.read(length)
                try:
                    receiver._record(self.headers, body)
                except msgspec.DecodeError:
                    self.send_response(400)
                else:
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
