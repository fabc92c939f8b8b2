"""Receive timeouts and a connection cap for the OTLP/HTTP receiver, as a uvicorn h11 protocol.

uvicorn closes idle keep-alive connections, but has no deadline for a request's headers or body:
300 connections that send half a header stay open forever (slow-loris), each holding a socket
and its buffers. This protocol closes a connection that

- has not sent a complete request header ``header_timeout`` seconds after it connected or after
  its previous response (the keep-alive wait is uvicorn's, and shorter);
- while sending a body, brings less than ``MIN_BODY_BYTES`` in a period of ``body_timeout``
  seconds (a rate of at least 64 KiB per period; the period restarts at each check).

Nothing is timed while the application holds the request (reading is then paused by uvicorn's
flow control, or the body is complete), so a slow spool or decode never cuts a sender off. Past
``max_connections`` open connections, new ones are closed on accept: a flood of idle sockets
costs the server nothing more than the cap.
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("llmsight.collector")

MIN_BODY_BYTES = 64 * 1024


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with header/body deadlines; configure with ``guarded_protocol``."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000

    _timer: asyncio.TimerHandle | None = None
    _body_bytes = 0  # body bytes received in the current period

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            log.warning("OTLP/HTTP: more than %d connections open, closing a new one", self.max_connections)
            transport.close()
            return
        self._arm(self.header_timeout, self._header_deadline)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        waiting_headers = self.conn.their_state is h11.IDLE
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if waiting_headers:  # the headers just completed: from now on the body is timed
                self._body_bytes = 0
                self._arm(self.body_timeout, self._body_check)
            self._body_bytes += len(data)
        elif state is h11.IDLE and self._timer is None and not self.transport.is_closing():
            # bytes of a next request on a kept-alive connection: its headers are timed again
            self._arm(self.header_timeout, self._header_deadline)
        elif state is not h11.IDLE:
            self._disarm()  # request complete (or the connection errored): the app holds it now

    def on_response_complete(self) -> None:
        self._disarm()  # uvicorn's keep-alive timeout now limits the wait for the next request
        super().on_response_complete()

    def _arm(self, delay: float, callback: object) -> None:
        self._disarm()
        self._timer = self.loop.call_later(delay, callback)  # type: ignore[arg-type]

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _header_deadline(self) -> None:
        self._timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info("OTLP/HTTP: closing %s: no request header within %.0f s", self.client, self.header_timeout)
            self.transport.close()

    def _body_check(self) -> None:
        self._timer = None
        if self.conn.their_state is not h11.SEND_BODY or self.transport.is_closing():
            return
        if self._body_bytes < MIN_BODY_BYTES and not self.flow.read_paused:
            log.info("OTLP/HTTP: closing %s: body slower than 64 KiB per %.0f s", self.client, self.body_timeout)
            self.transport.close()
            return
        self._body_bytes = 0
        self._arm(self.body_timeout, self._body_check)


def guarded_protocol(header_timeout: float, body_timeout: float, max_connections: int) -> type[GuardedH11Protocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` with these limits."""
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout, "max_connections": max_connections},
    )
