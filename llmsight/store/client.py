"""Open a clickhouse-connect client for a storage URL: the one code path for both kinds.

chDB allows one engine directory per process; clients on that directory share
the engine, so each thread that needs the store opens its own client here.
"""

from __future__ import annotations

import os
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from llmsight.store.url import StoreURL, parse_store_url


class StoreUnavailableError(RuntimeError):
    """The store could not be opened; the message is meant for a person."""


def open_client(
    url: str | StoreURL,
    *,
    database: bool = True,
    compress: bool = True,
    access_token: str | None = None,
    **settings: Any,
) -> Client:
    """Connect to the store. ``database=False`` connects without selecting it (for CREATE DATABASE).

    ``settings`` are ClickHouse settings for every query of this client (``readonly=2`` for the
    query endpoint); ``compress=False`` suits llmsight's own query endpoint, which does not compress,
    and ``access_token`` is sent to it as ``Authorization: Bearer`` when it asks for a token.
    """
    store = parse_store_url(url) if isinstance(url, str) else url
    db = store.database if database else None
    try:
        if store.embedded:
            os.makedirs(store.path, exist_ok=True)
            return clickhouse_connect.get_client(dsn=f"chdb://{store.path}", database=db, settings=settings)
        return clickhouse_connect.get_client(
            host=store.host,
            port=store.port,
            username=None if access_token else store.username,
            password=None if access_token else store.password,
            secure=store.secure,
            compress=compress,
            database=db or "",
            settings=settings,
            access_token=access_token,
            connect_timeout=5,
            send_receive_timeout=60,
        )
    except Exception as exc:  # clickhouse-connect raises several types; all mean "cannot open"
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "UNKNOWN_DATABASE" in str(exc):
            message = f"database {store.database!r} does not exist: run `llmsight serve` or `llmsight db init` first"
        elif "Cannot lock file" in str(exc) or "already initialized" in str(exc):
            message = (
                f"the embedded store at {store.path} is in use by another process "
                "(is `llmsight serve` running? query it through its query endpoint instead)"
            )
        raise StoreUnavailableError(f"cannot open store {store.display()}: {message}") from exc
