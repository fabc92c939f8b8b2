"""Shared CLI pieces: the store option, settings from flags, readable errors, the query connection."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from llmsight.settings import Settings

console = Console()
err_console = Console(stderr=True)


def setting_default(field: str, *, secret: bool = False) -> str:
    """The help suffix naming a Settings field's effective default and its env var.

    Flags that map to Settings default to None so that an omitted flag leaves the ``LLMSIGHT_*`` variable and
    the Settings default in force; typer then has no default of its own to show, so the help text says it.
    """
    return env_default(f"LLMSIGHT_{field.upper()}", Settings.model_fields[field].default, secret=secret)


def env_default(env: str, default: object, *, secret: bool = False) -> str:
    """`` [default: VALUE] [env var: ENV]``, or the env var's value when it is set in this shell.

    A ``secret`` only says it is set, a URL's password is masked. Escaped: rich would take ``[default: ...]``
    for a markup tag and drop it.
    """
    value = os.environ.get(env, "")
    if value:
        shown = "set" if secret else re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", value)
        return " " + escape(f"[default: {shown}, from {env}]")
    return " " + escape(f"[default: {'none' if default == '' else default}] [env var: {env}]")


def default_note(text: str) -> str:
    """`` [default: TEXT]`` for an option whose default is a behaviour (all services, off), escaped for rich."""
    return " " + escape(f"[default: {text}]")


ServiceOption = Annotated[
    str, typer.Option("--service", help="Only calls of this service." + default_note("all"), show_default=False)
]
ModelOption = Annotated[
    str, typer.Option("--model", help="Only calls to this model." + default_note("all"), show_default=False)
]
EnvironmentOption = Annotated[
    str,
    typer.Option(
        "--environment",
        help="Only this deployment environment; llmsight-eval shows experiments (llmsight eval run)."
        + default_note("all but llmsight-eval"),
        show_default=False,
    ),
]
ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        envvar="LLMSIGHT_CONFIG",
        help="Monitor file: what is watched, its targets, thresholds and rubrics."
        + default_note("llmsight.yaml here if present, else the built-in default monitor"),
        show_default=False,
    ),
]
JudgeBaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--judge-base-url",
        envvar="LLMSIGHT_JUDGE_BASE_URL",
        help="OpenAI-compatible endpoint." + default_note("https://api.openai.com/v1"),
        show_default=False,
    ),
]
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--clickhouse-url",
        help="Storage: chdb://PATH (embedded) or http(s)://user:pass@host:8123/database."
        + setting_default("clickhouse_url"),
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


def running_serve(settings: Settings) -> dict[str, Any] | None:
    """What serve.json says about the running `serve` that owns this embedded store; None if none does."""
    path = serve_file(settings)
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    from llmsight.store.url import parse_store_url

    if info.get("store_path") != parse_store_url(settings.clickhouse_url).path:
        return None
    return info


def running_query_url(settings: Settings) -> str | None:
    """The query endpoint of a `serve` that owns this embedded store, if one is running."""
    info = running_serve(settings)
    return (info.get("query_url") or None) if info else None


def query_client(settings: Settings):  # -> clickhouse_connect Client
    """A client for reading: the store itself, or the query endpoint of the `serve` that owns it."""
    from llmsight.store.client import open_client
    from llmsight.store.url import parse_store_url

    store = parse_store_url(settings.clickhouse_url)
    if store.embedded:
        info = running_serve(settings)
        if info and info.get("query_url"):
            from llmsight.collector.auth import TokenAuth

            configured = TokenAuth(settings.ingest_tokens, settings.experiment_tokens)
            token = settings.query_token or info.get("query_token") or configured.reader_token()
            return open_client(f"{info['query_url']}/{store.database}", compress=False, access_token=token)
    return open_client(store)


def parse_duration(text: str) -> int:
    """'90s', '15m', '1h', '7d', 'PT1H', 'P7D' -> whole seconds; a clear error otherwise."""
    from llmsight.durations import DurationError
    from llmsight.durations import parse_duration as parse

    try:
        return int(parse(text))
    except DurationError as exc:
        raise typer.BadParameter(str(exc)) from None
