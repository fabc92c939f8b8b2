"""Fixtures for the monitor tests: a real SMTP server and real webhook receivers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from .servers import Mailbox, PortZeroController, Receiver


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, Controller]]:
    def start(**kwargs: Any) -> tuple[Mailbox, Controller]:
        box = Mailbox()
        controller = PortZeroController(box, hostname="127.0.0.1", port=0, **kwargs)
        controller.start()
        started.append(controller)
        return box, controller

    started: list[Controller] = []
    yield start  # type: ignore[misc]
    for controller in started:
        controller.stop()


@pytest.fixture
def receiver() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(script: list[tuple[int, dict[str, str]]] | None = None, default: int = 200) -> Receiver:
        made.append(Receiver(script, default))
        return made[-1]

    yield make
    for r in made:
        r.stop()
