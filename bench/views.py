"""What each materialized view fed by otel_traces costs the engine per span, old and new versions side by side.

    .venv/bin/python bench/views.py [--spans 61440] [--batch 20480] [--reps 5]

Why not two databases alternating in one engine (bench/prescreen.py): background merges of the
earlier runs fall on whichever run comes next, and a few us/span vanished in that noise. Here:

- the same realistic LLM spans as bench/ingest.py are decoded once and written as Native files, and
  each timed insert is the exporter's own statement for them (``INSERT ... FROM INFILE ... FORMAT
  Native`` with its deduplication settings), so Python's share is a constant few us per batch;
- every (configuration, repetition) inserts into a database of its own, created just before and
  dropped just after, with merges stopped: no run inherits another's parts or merges;
- a configuration is a set of views: none, all as of schema ``--old`` (13, what issue 10 profiled),
  all as now, all old ones but one (what that one costs), all old ones with one replaced by its new
  version (what the new one costs), compared in the same round;
- process CPU time is measured beside wall time: chDB runs inside this process, so its query and
  insert threads count, and time the other engineers' jobs take from the two cores does not;
- configurations rotate between repetitions and medians are reported with their spread.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import build_bodies  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from llmsight.collector.exporters.clickhouse import merge  # noqa: E402
from llmsight.collector.otlp_rows import TRACE_COLUMNS, span_rows  # noqa: E402
from llmsight.store import schema  # noqa: E402
from llmsight.store.client import open_client  # noqa: E402
from llmsight.store.url import parse_store_url  # noqa: E402

OLD_VERSION = 13
VIEW_NAME = re.compile(r"CREATE MATERIALIZED VIEW IF NOT EXISTS \S+\.(\w+)")
TARGET = re.compile(r"\bTO (\S+)")
Config = tuple[int, frozenset[str], tuple[str, ...]]  # schema version, views dropped, new view files added


def write_batches(client, folder: Path, spans: int, batch: int) -> list[Path]:
    """The bench's spans as Native files, one per insert, in the exporter's column order."""
    files = []
    client.command("CREATE DATABASE IF NOT EXISTS views_stage")
    for i, body in enumerate(build_bodies(max(1, spans // batch), batch)):
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        rows = merge([span_rows(request)])
        client.command("DROP TABLE IF EXISTS views_stage.batch")
        client.command("CREATE TABLE views_stage.batch AS otel_traces_template.otel_traces ENGINE = Memory")
        client.insert("views_stage.batch", rows.data, column_names=rows.columns, column_oriented=True)
        columns = ", ".join(f"`{c}`" for c in TRACE_COLUMNS)
        path = folder / f"batch{i}.native"
        path.write_bytes(client.raw_query(f"SELECT {columns} FROM views_stage.batch", fmt="Native"))
        files.append(path)
    client.command("DROP DATABASE views_stage SYNC")
    return files


def new_view_files() -> dict[str, str]:
    """view name -> the file that creates its new version (migrations after ``OLD_VERSION``)."""
    found = {}
    for version, files in schema.MIGRATIONS.items():
        for filename in files if version > OLD_VERSION else []:
            text = schema.render(filename, parse_store_url("chdb:///x?database=d"), 30)
            if match := VIEW_NAME.search(text):
                found[match.group(1)] = filename
    return found


def ingest_views(client, database: str) -> list[str]:
    """The views an insert into otel_traces runs, directly or through a view's target table."""
    rows = client.query(
        "SELECT name, dependencies_table, create_table_query FROM system.tables WHERE database = {d:String}",
        parameters={"d": database},
    ).result_rows
    readers = {name: list(deps) for name, deps, _ in rows}
    targets = {name: m.group(1).split(".")[-1].strip("`") for name, _, ddl in rows if (m := TARGET.search(ddl))}
    views, todo = set(), ["otel_traces"]
    while todo:
        for view in readers.get(todo.pop(), []):
            views.add(view)
            todo.append(targets[view])
    return sorted(views)


def configurations(views: list[str], new: dict[str, str], old: int) -> dict[str, Config]:
    configs: dict[str, Config] = {
        "none": (old, frozenset(views), ()),
        "all old": (old, frozenset(), ()),
        "all new": (max(schema.MIGRATIONS), frozenset(), ()),
    }
    for view in views:
        configs[f"old - {view}"] = (old, frozenset({view}), ())
        if view in new:
            configs[f"old but new {view}"] = (old, frozenset({view}), (new[view],))
    return configs


def build(client, path: Path, database: str, config: Config) -> None:
    version, dropped, added = config
    store = parse_store_url(f"chdb://{path}?database={database}")
    schema.init_schema(client, store, 30, upto=version)
    for view in dropped:
        client.command(f"DROP VIEW IF EXISTS `{database}`.`{view}`")
    for filename in added:
        client.command(schema.render(filename, store, 30))


def run(client, database: str, files: list[Path]) -> tuple[float, float]:
    """CPU and wall seconds to insert every batch, as the exporter does."""
    columns = ", ".join(f"`{c}`" for c in TRACE_COLUMNS)
    cpu = wall = 0.0
    for i, path in enumerate(files):
        sql = (
            f"INSERT INTO `{database}`.otel_traces ({columns}) FROM INFILE '{path}' SETTINGS "
            f"insert_deduplication_token = 'b{i}', deduplicate_blocks_in_dependent_materialized_views = 1 FORMAT Native"
        )
        cpu0, wall0 = time.process_time(), time.perf_counter()
        client.command(sql)
        cpu += time.process_time() - cpu0
        wall += time.perf_counter() - wall0
    return cpu, wall


def summary(values: list[float]) -> str:
    values = sorted(values)
    return f"{statistics.median(values):7.1f} [{values[0]:6.1f} .. {values[-1]:6.1f}]"


def report(results: dict[str, list[tuple[float, float]]], views: list[str], n_spans: int) -> None:
    per_span = {name: [(c / n_spans * 1e6, w / n_spans * 1e6) for c, w in runs] for name, runs in results.items()}

    def diff(a: str, b: str, k: int) -> list[float]:  # paired by repetition: the same round's noise
        return [x[k] - y[k] for x, y in zip(per_span[a], per_span[b], strict=True)]

    print(f"\n{'configuration':<40} {'CPU us/span: median [min .. max]':>34} {'wall us/span':>32}")
    for name in results:
        print(f"{name:<40} {summary([c for c, _ in per_span[name]]):>34} {summary([w for _, w in per_span[name]]):>32}")
    print(f"\n{'view cost (paired differences)':<40} {'CPU us/span':>34} {'wall us/span':>32}")
    rows = [("all views, old", "all old", "none"), ("all views, new", "all new", "none")]
    for view in views:
        rows.append((f"{view}, old", "all old", f"old - {view}"))
        if f"old but new {view}" in results:
            rows.append((f"{view}, new", f"old but new {view}", f"old - {view}"))
    for label, with_, without in rows:
        if with_ not in results or without not in results:
            continue
        print(f"{label:<40} {summary(diff(with_, without, 0)):>34} {summary(diff(with_, without, 1)):>32}")
    print("\nnew / old (medians of the paired differences, CPU):")
    for view in ["all"] + views:
        old_name, new_name = ("all old", "all new") if view == "all" else ("all old", f"old but new {view}")
        base = "none" if view == "all" else f"old - {view}"
        if new_name in results and base in results:
            old_cost = statistics.median(diff(old_name, base, 0))
            new_cost = statistics.median(diff(new_name, base, 0))
            print(f"  {view:<36} {old_cost:6.1f} -> {new_cost:6.1f} us/span  ({new_cost / max(old_cost, 1e-9):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=61_440)
    parser.add_argument("--batch", type=int, default=20_480, help="spans per insert (the exporter's is up to 20,000)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--old", type=int, default=OLD_VERSION, help="schema version of the old views")
    parser.add_argument("--only", default="", help="comma-separated configuration names to run (default all)")
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    parser.add_argument("--dir", default=shm, help="where the store goes (default tmpfs: no disk noise)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmsight-views-", dir=args.dir))
    path = tmp / "store"
    try:
        client = open_client(parse_store_url(f"chdb://{path}"), database=False)
        build(client, path, "otel_traces_template", (args.old, frozenset(), ()))
        files = write_batches(client, tmp, args.spans, args.batch)
        n_spans = len(files) * args.batch
        views = ingest_views(client, "otel_traces_template")
        client.command("DROP DATABASE otel_traces_template SYNC")
        configs = configurations(views, new_view_files(), args.old)
        if args.only:
            configs = {k: v for k, v in configs.items() if k in args.only.split(",") or k in ("none", "all old")}
        client.command("SYSTEM STOP MERGES")
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}
        names = list(configs)
        for rep in range(args.reps + 1):  # round 0 warms the engine (JIT-compiled expressions, caches)
            order = names[rep % len(names) :] + names[: rep % len(names)]
            for j, name in enumerate(order):
                database = f"views_{rep}_{j}"
                build(client, path, database, configs[name])
                cpu, wall = run(client, database, files[:1] if rep == 0 else files)
                client.command(f"DROP DATABASE `{database}` SYNC")
                if rep:
                    results[name].append((cpu, wall))
            print(f"round {rep}/{args.reps} done", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{n_spans:,} spans a run, {len(files)} inserts of {args.batch:,}, {args.reps} repetitions a configuration")
    report(results, views, n_spans)
    print(
        "\nPrecision: CPU time counts this process only (chDB's threads included), so other jobs on the cores\n"
        "mostly show as wall time; they still slow CPU time through shared caches and clock changes. A view's\n"
        "cost is a difference of two runs of ~1-4 s: read its spread, not only its median."
    )


if __name__ == "__main__":
    main()
