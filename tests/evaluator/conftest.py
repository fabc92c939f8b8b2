"""Evaluator fixtures: a fake judge on 127.0.0.1 and a config that points at it with short timeouts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fake_judge import FakeJudge


@pytest.fixture
def judge_server() -> Iterator[FakeJudge]:
    with FakeJudge() as server:
        yield server


@pytest.fixture
def database(store_url: str) -> str:
    from llmsight.store.url import parse_store_url

    return parse_store_url(store_url).database
