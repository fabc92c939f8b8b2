"""``llmsight db init`` and ``llmsight db status``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from llmsight.cli.common import (
    StoreOption,
    console,
    fail,
    make_settings,
    query_client,
    running_query_url,
    setting_default,
    user_errors,
)

app = typer.Typer(help="Create, migrate and inspect the ClickHouse store.", no_args_is_help=True)


@app.command("init")
def init(
    clickhouse_url: StoreOption = None,
    retention_days: Annotated[
        int | None,
        typer.Option(
            help="Days of data ClickHouse keeps (TTL); 0 keeps all." + setting_default("retention_days"),
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create or migrate the schema and refresh model prices from genai-prices.

    Safe to run again: it applies only migrations the store does not have yet.

    Example:

        llmsight db init --clickhouse-url http://default:pw@localhost:8123/otel --retention-days 90
    """
    from llmsight.store.client import open_client
    from llmsight.store.prices import load_catalog, reprice_all
    from llmsight.store.schema import init_schema, parse_retention_overrides
    from llmsight.store.url import parse_store_url

    with user_errors():
        settings = make_settings(clickhouse_url=clickhouse_url, retention_days=retention_days)
        store = parse_store_url(settings.clickhouse_url)
        if store.embedded and running_query_url(settings):
            raise fail("`llmsight serve` owns this store and already created its schema; stop it to run db init")
        client = open_client(store, database=False)
        try:
            overrides = parse_retention_overrides(settings.retention_per_table)
        except ValueError as exc:
            raise fail(str(exc)) from None
        report = init_schema(client, store, settings.retention_days, overrides)
        client.database = store.database
        models = load_catalog(client, store.database)
        priced = reprice_all(client, store.database)
    console.print(f"store      {store.display()}")
    console.print(f"schema     version {report.version_before} -> {report.version_after}")
    console.print(f"retention  {settings.retention_days or 'forever'} days" + (f", {overrides}" if overrides else ""))
    console.print(f"prices     {models} catalogue models loaded, {priced} models seen in calls priced")


@app.command("status")
def status(clickhouse_url: StoreOption = None) -> None:
    """Show the schema version, row counts, time range and disk use of each table.

    Works while `llmsight serve` runs on the same embedded store (through its query endpoint).

    Example:

        llmsight db status
    """
    with user_errors():
        settings = make_settings(clickhouse_url=clickhouse_url)
        client = query_client(settings)
        db = client.database
        exists = int(client.command(f"EXISTS TABLE `{db}`.schema_migrations"))
        if not exists:
            raise fail(f"no llmsight schema in database {db!r}: run `llmsight db init` or `llmsight serve`")
        version = client.command(f"SELECT max(Version) FROM `{db}`.schema_migrations")
        rows = client.query(
            "SELECT name, engine, total_rows, total_bytes FROM system.tables "
            "WHERE database = %(db)s AND engine NOT IN ('MaterializedView', 'View') ORDER BY name",
            parameters={"db": db},
        ).result_rows
        calls_range = client.query("SELECT count(), min(Timestamp), max(Timestamp) FROM llm_calls").result_rows[0]
    table = Table(title=f"llmsight store ({db}), schema version {version}")
    for column in ("table", "engine", "rows", "on disk"):
        table.add_column(column, justify="right" if column in ("rows", "on disk") else "left")
    for name, engine, count, size in rows:
        table.add_row(name, engine, f"{count or 0:,}", _bytes(size or 0) if engine != "Dictionary" else "")
    console.print(table)
    if calls_range[0]:
        console.print(f"LLM calls from {str(calls_range[1])[:19]} to {str(calls_range[2])[:19]} (UTC)")


def _bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)
