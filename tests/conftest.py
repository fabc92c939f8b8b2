"""Shared fixtures.

chDB allows one engine directory per process, so the whole test session shares one
embedded store directory and each test gets its own database in it (``store_url``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CLI test's environment: no LLMSIGHT_* / OPENAI_* settings from the shell, and a wide terminal
    so rich does not wrap what the test looks for."""
    for name in list(os.environ):
        if name.startswith(("LLMSIGHT_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb") / "store"


@pytest.fixture
def store_url(chdb_path: Path) -> Iterator[str]:
    """An embedded store URL with a fresh database, schema created."""
    from llmsight.store.client import open_client
    from llmsight.store.schema import init_schema
    from llmsight.store.url import parse_store_url

    url = f"chdb://{chdb_path}?database=t_{uuid.uuid4().hex[:12]}"
    store = parse_store_url(url)
    client = open_client(store, database=False)
    init_schema(client, store, retention_days=30)
    yield url
    client.command(f"DROP DATABASE IF EXISTS `{store.database}` SYNC")
    client.close()


@pytest.fixture
def store_client(store_url: str):
    """A clickhouse-connect client on the test's database."""
    from llmsight.store.client import open_client

    client = open_client(store_url)
    yield client
    client.close()


def free_port() -> int:
    """A free port on 127.0.0.1, never one handed out before in this process (tests ask for three at once)."""
    from llmsight.collector.server import free_port as issue_port

    return issue_port()


@pytest.fixture
def collector_factory(store_url: str, tmp_path_factory: pytest.TempPathFactory):
    """Start real collectors (HTTP, gRPC and query receivers on free ports) on the test's store."""
    from llmsight.collector.server import Collector
    from llmsight.settings import Settings

    started: list[Collector] = []

    def start(**overrides: object) -> Collector:
        values = {
            "clickhouse_url": store_url,
            "http_port": free_port(),
            "grpc_port": free_port(),
            "query_port": free_port(),
            "batch_timeout_ms": 20,
            # tests send small batches: let ClickHouse decode them all, as it does large ones in production
            "sql_decoder_min_spans": 1,
            # each collector its own spool: the chDB directory is shared by the whole session
            "spool_dir": str(tmp_path_factory.mktemp("spool")),
        }
        values.update(overrides)
        collector = Collector(Settings(**values))  # type: ignore[arg-type]
        collector.start_in_thread()
        started.append(collector)
        return collector

    yield start
    for collector in started:
        collector.stop_thread()


@pytest.fixture
def collector(collector_factory):
    """One running collector on the test's store."""
    return collector_factory()
