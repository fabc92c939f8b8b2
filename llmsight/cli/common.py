"""Shared CLI pieces: the store option, settings from flags, readable errors, the query connection."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from llmsight.settings import Settings

console = Console()
err_console = Console(stderr=True)

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--clickhouse-url",
        envvar="LLMSIGHT_CLICKHOUSE_URL",
        help="Storage: chdb://PATH (embedded, default chdb://./.llmsight/clickhouse) "
        "or http(s)://user:pass@host:8123/database.",
        show_default=False,
    ),
]


def make_settings(**overrides: Any) -> Settings:
    """Settings from env and defaults, with the flags that were given on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one readable line."""
    from llmsight.store.client import StoreUnavailableError
    from llmsight.store.url import StoreURLError

    try:
        yield
    except (StoreURLError, StoreUnavailableError, OSError) as exc:
        raise fail(str(exc)) from None
    except Exception as exc:
        if type(exc).__module__.startswith("clickhouse_connect"):
            raise fail(str(exc).splitlines()[0]) from None
        raise


SERVE_FILE = "serve.json"


def serve_file(settings: Settings) -> Path:
    return settings.data_dir / SERVE_FILE


def running_query_url(settings: Settings) -> str | None:
    """The query endpoint of a `serve` that owns this embedded store, if one is running."""
    path = serve_file(settings)
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    from llmsight.store.url import parse_store_url

    if info.get("store_path") != parse_store_url(settings.clickhouse_url).path:
        return None
    return info.get("query_url") or None


def query_client(settings: Settings):  # -> clickhouse_connect Client
    """A client for reading: the store itself, or the query endpoint of the `serve` that owns it."""
    from llmsight.store.client import open_client
    from llmsight.store.url import parse_store_url

    store = parse_store_url(settings.clickhouse_url)
    if store.embedded:
        url = running_query_url(settings)
        if url:
            return open_client(f"{url}/{store.database}", compress=False)
    return open_client(store)


def parse_duration(text: str) -> int:
    """'90s', '15m', '1h', '7d' -> seconds; a clear error otherwise."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = text.strip().lower()
    if len(text) >= 2 and text[-1] in units and text[:-1].isdigit():
        return int(text[:-1]) * units[text[-1]]
    if text.isdigit():
        return int(text)
    raise typer.BadParameter(f"{text!r} is not a duration: use forms like 30m, 1h, 7d")
