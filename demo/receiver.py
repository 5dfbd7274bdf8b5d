"""A local webhook receiver: records every JSON POST it accepts. The demo prints what arrives; the
tests use it as the real HTTP endpoint alerts go to, and make it fail on purpose (`failing`)."""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0, echo: bool = False):
        super().__init__((host, port), _Handler)
        self.received: list[dict[str, Any]] = []
        self.refused = 0
        self.failing: HTTPStatus | None = None  # answer every POST with this status while set
        self.echo = echo
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/hook"

    def start(self) -> WebhookReceiver:
        threading.Thread(target=self.serve_forever, name="webhook-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def delivery_keys(self) -> list[str]:
        """Delivery keys of every alert received, in arrival order (a digest carries several)."""
        with self.lock:
            return [a["delivery_key"] for body in self.received for a in body.get("alerts", [])]


class _Handler(BaseHTTPRequestHandler):
    server: WebhookReceiver
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            failing = self.server.failing
            if failing is None:
                payload = json.loads(body)
                payload["_idempotency_header"] = self.headers.get("Idempotency-Key")
                self.server.received.append(payload)
            else:
                self.server.refused += 1
        if failing is None and self.server.echo:
            text = payload.get("text")
            text = text.get("content", "") if isinstance(text, dict) else f"{payload.get('subject', '')}\n{text}"
            print(f"--- webhook received ---\n{text}", flush=True)
        answer = b'{"errcode": 0, "errmsg": "ok"}' if failing is None else b'{"error": "down"}'
        self.send_response(failing or HTTPStatus.OK)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's signature
        pass
