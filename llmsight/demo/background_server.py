"""An ASGI app served by uvicorn in a daemon thread on a free 127.0.0.1 port.

The demo model and the tests' fake OpenAI server both need exactly this; subclasses set
``self.app`` in ``__init__`` and get ``start``/``stop``, a context manager and ``base_url``.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, TypeVar

import uvicorn

_S = TypeVar("_S", bound="BackgroundServer")


class BackgroundServer:
    app: Any
    name = "llmsight-background-server"

    port: int = 0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (with ``/v1``) that an ``openai`` client needs."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self: _S) -> _S:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=1)  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"{self.name}-{self.port}"
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
