"""Real servers the monitor tests send to: aiosmtpd for mail, ThreadingHTTPServer for webhooks."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


class Mailbox:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def message(self, index: int) -> email.message.EmailMessage:
        return email.message_from_bytes(self.envelopes[index].original_content, policy=email.policy.default)


class PortZeroController(Controller):
    """Binds port 0 (no race for a free port) and learns the port before aiosmtpd's start-up probe."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class Receiver:
    """An HTTP server recording each POST; answers from ``script`` first, then ``default``."""

    def __init__(self, script: list[tuple[int, dict[str, str]]] | None = None, default: int = 200) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.script = list(script or [])
        self.default = default
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers = receiver.script.pop(0) if receiver.script else (receiver.default, {})
                with receiver.changed:
                    receiver.requests.append((self.path, dict(self.headers), body))
                    receiver.changed.notify_all()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                answer = b"ok" if status < 300 else b"receiver says no " * 50
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval only makes shutdown() at teardown quick; no test waits on it.
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, count: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.requests) >= count, timeout=10)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """Every JSON body received so far, in arrival order."""
        with self.changed:
            return [json.loads(body) for _, _, body in self.requests]

    def json(self, index: int) -> dict[str, Any]:
        return json.loads(self.requests[index][2])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
