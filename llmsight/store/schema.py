"""Create and migrate the llmsight schema, idempotently.

The DDL lives in ``sql/*.sql`` (one statement a file, readable on its own). Each
migration is a list of those files; ``schema_migrations`` records which versions a
store has, so ``init_schema`` applies only what is new. Retention is a table TTL that
``init_schema`` also brings in line with the configured number of days.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from string import Template

from clickhouse_connect.driver.client import Client

from llmsight.store.url import StoreURL

# version -> the SQL files it applies, in order. Append a new version for a change; never edit an old one.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        "001_otel_traces.sql",
        "002_otel_traces_trace_id_ts.sql",
        "003_otel_traces_trace_id_ts_mv.sql",
        "004_otel_logs.sql",
        "005_model_prices.sql",
        "006_model_prices_dict.sql",
        "007_price_catalog.sql",
        "008_llm_calls.sql",
        "009_llm_calls_mv.sql",
        "010_evaluations.sql",
    ],
    2: ["011_evaluations_environment.sql"],
    3: ["012_llm_calls_mv_drop.sql", "013_llm_calls_mv.sql"],
    4: ["014_views_deduplication_window.sql", "015_trace_id_ts_deduplication_window.sql"],
    5: ["016_otel_logs_event_name.sql"],
    6: ["017_otel_traces_attribute_items.sql", "018_otel_logs_attribute_items.sql"],
    7: ["019_monitor_results.sql"],
    8: ["020_llm_call_events.sql", "021_llm_call_events_mv.sql"],
    9: ["022_evaluations_scale_category.sql"],
    10: ["023_call_screens.sql", "024_call_screens_mv.sql"],
    11: ["025_feedback.sql", "026_feedback_mv.sql"],
    12: ["027_call_response_ids.sql", "028_call_response_ids_mv.sql", "029_call_response_ids_backfill.sql"],
    13: [
        "030_experiment_runs.sql",
        "031_experiment_runs_mv.sql",
        "032_experiment_rows.sql",
        "033_experiment_rows_mv.sql",
        "034_experiment_evaluations.sql",
        "035_experiment_evaluations_mv.sql",
    ],
    14: ["036_call_screens_mv_drop.sql", "037_call_screens_mv.sql"],
    15: [
        "038_experiment_runs_mv_drop.sql",
        "039_experiment_runs_mv.sql",
        "040_experiment_rows_mv_drop.sql",
        "041_experiment_rows_mv.sql",
        "042_experiment_evaluations_mv_drop.sql",
        "043_experiment_evaluations_mv.sql",
    ],
}
SCHEMA_VERSION = max(MIGRATIONS)

# table -> the TTL expression's time column; retention applies to each.
TTL_COLUMNS: dict[str, str] = {
    "otel_traces": "toDateTime(Timestamp)",
    "otel_traces_trace_id_ts": "Start",
    "otel_logs": "TimestampTime",
    "llm_calls": "toDateTime(Timestamp)",
    "evaluations": "toDateTime(SpanTimestamp)",
    "monitor_results": "toDateTime(RunAt)",
    "llm_call_events": "toDateTime(Timestamp)",
    "call_screens": "toDateTime(Timestamp)",
    "feedback": "toDateTime(Timestamp)",
    "call_response_ids": "toDateTime(Timestamp)",
    "experiment_runs": "toDateTime(Timestamp)",
    "experiment_rows": "toDateTime(Timestamp)",
    "experiment_evaluations": "toDateTime(SpanTimestamp)",
}


@dataclass(frozen=True)
class SchemaReport:
    database: str
    version_before: int
    version_after: int
    applied: list[str]


def _ttl_clause(column: str, retention_days: int) -> str:
    return f"TTL {column} + toIntervalDay({retention_days})" if retention_days > 0 else ""


def render(filename: str, store: StoreURL, retention_days: int) -> str:
    """The SQL of one schema file with the database, TTLs and credentials filled in."""
    text = resources.files("llmsight.store").joinpath("sql", filename).read_text(encoding="utf-8")
    credentials = ""
    if not store.embedded:
        # A server runs the dictionary's source query as this user; chDB has no users.
        credentials = f" USER '{store.username}' PASSWORD '{store.password}'"
    return Template(text).substitute(
        db=f"`{store.database}`",
        dbname=store.database,
        ttl=_ttl_clause(TTL_COLUMNS["otel_traces"], retention_days),
        ttl_start=_ttl_clause(TTL_COLUMNS["otel_traces_trace_id_ts"], retention_days),
        ttl_logs=_ttl_clause(TTL_COLUMNS["otel_logs"], retention_days),
        ttl_eval=_ttl_clause(TTL_COLUMNS["evaluations"], retention_days),
        ttl_monitor=_ttl_clause(TTL_COLUMNS["monitor_results"], retention_days),
        ttl_events=_ttl_clause(TTL_COLUMNS["llm_call_events"], retention_days),
        ttl_screens=_ttl_clause(TTL_COLUMNS["call_screens"], retention_days),
        ttl_feedback=_ttl_clause(TTL_COLUMNS["feedback"], retention_days),
        ttl_response_ids=_ttl_clause(TTL_COLUMNS["call_response_ids"], retention_days),
        ttl_experiment_runs=_ttl_clause(TTL_COLUMNS["experiment_runs"], retention_days),
        ttl_experiment_rows=_ttl_clause(TTL_COLUMNS["experiment_rows"], retention_days),
        ttl_experiment_evaluations=_ttl_clause(TTL_COLUMNS["experiment_evaluations"], retention_days),
        dict_credentials=credentials,
    )


def current_version(client: Client, database: str) -> int:
    exists = client.command(f"EXISTS TABLE `{database}`.schema_migrations")
    if not int(exists):
        return 0
    return int(client.command(f"SELECT max(Version) FROM `{database}`.schema_migrations") or 0)


def parse_retention_overrides(spec: str) -> dict[str, int]:
    """``otel_logs=7,evaluations=365`` -> days per table; unknown tables are an error the user sees."""
    overrides: dict[str, int] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        table, _, days = item.partition("=")
        if table.strip() not in TTL_COLUMNS or not days.strip().isdigit():
            raise ValueError(f"invalid retention {item!r}: use TABLE=DAYS with TABLE one of {', '.join(TTL_COLUMNS)}")
        overrides[table.strip()] = int(days)
    return overrides


def init_schema(
    client: Client,
    store: StoreURL,
    retention_days: int = 30,
    retention_overrides: dict[str, int] | None = None,
    upto: int | None = None,
) -> SchemaReport:
    """Create or migrate the schema, then align TTLs with ``retention_days`` (0 keeps data forever),
    or with ``retention_overrides`` for the tables it names. ``upto`` stops at that version: benchmarks
    and tests build a store with an older schema that way, to compare it with the current one."""
    db = f"`{store.database}`"
    client.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    client.command(
        f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations "
        "(Version UInt32, AppliedAt DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY Version"
    )
    before = current_version(client, store.database)
    applied: list[str] = []
    last = max(MIGRATIONS) if upto is None else upto
    for version in sorted(v for v in MIGRATIONS if before < v <= last):
        for filename in MIGRATIONS[version]:
            client.command(render(filename, store, retention_days))
            applied.append(filename)
        client.command(f"INSERT INTO {db}.schema_migrations (Version) VALUES ({version})")
    apply_retention(client, store.database, retention_days, retention_overrides)
    return SchemaReport(store.database, before, max(before, last), applied)


def apply_retention(
    client: Client, database: str, retention_days: int, overrides: dict[str, int] | None = None
) -> None:
    """Make every table's TTL match its configured days; cheap when it already does."""
    for table, column in TTL_COLUMNS.items():
        if not int(client.command(f"EXISTS TABLE `{database}`.`{table}`")):
            continue  # a table a later schema version adds (a store migrated only part-way)
        days = (overrides or {}).get(table, retention_days)
        ddl = str(client.command(f"SHOW CREATE TABLE `{database}`.`{table}`"))
        wanted = f"toIntervalDay({days})"
        has_ttl = "TTL " in ddl
        if days > 0 and wanted not in ddl:
            client.command(f"ALTER TABLE `{database}`.`{table}` MODIFY TTL {column} + {wanted}")
        elif days <= 0 and has_ttl:
            client.command(f"ALTER TABLE `{database}`.`{table}` REMOVE TTL")
