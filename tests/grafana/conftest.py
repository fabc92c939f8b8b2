"""Fixtures for the Grafana provisioning tests: the provisioned files, and one seeded database.

The seeded database lives in the session's shared chDB directory (chDB allows one per process)
under its own name, and is created once for the whole directory: seeding is the slow part and
every test here only reads.
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path

import pytest

from . import seed as seed_mod
from .macros import ALL, Context

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "grafana"
DASHBOARD_DIR = GRAFANA / "dashboards"
PROVISIONING = GRAFANA / "provisioning"
DATASOURCE_UID = "llmsight-clickhouse"


def load_generator():
    spec = importlib.util.spec_from_file_location("llmsight_grafana_generator", GRAFANA / "generate_dashboards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARD_DIR.glob("*.json"))}


def all_panels() -> list[tuple[str, dict]]:
    out = []
    for name, dash in load_dashboards().items():
        for p in dash["panels"]:
            if p["type"] != "row":
                out.append((name, p))
    return out


@pytest.fixture(scope="session")
def seeded(chdb_path: Path):
    """(client, database, Seed): the schema plus deterministic spans and judge scores."""
    from llmsight.store.client import open_client
    from llmsight.store.schema import init_schema
    from llmsight.store.url import parse_store_url

    url = f"chdb://{chdb_path}?database=grafana_{uuid.uuid4().hex[:10]}"
    store = parse_store_url(url)
    admin = open_client(store, database=False)
    init_schema(admin, store, retention_days=30)
    client = open_client(store)
    data = seed_mod.build()
    seed_mod.load(client, store.database, data)
    yield client, store.database, data
    admin.command(f"DROP DATABASE IF EXISTS `{store.database}` SYNC")
    client.close()
    admin.close()


def context_for(seeded, **variables) -> Context:
    """The dashboards' default view (last 24 h, every variable All) unless variables say otherwise."""
    _, database, data = seeded
    options = {
        "service": sorted({c.service for c in data.calls}),
        "model": sorted({c.model for c in data.calls}),
        "environment": sorted({c.environment for c in data.calls}),
        "metric": sorted(seed_mod.METRICS),
    }
    values = {"service": ALL, "model": ALL, "environment": ALL, "metric": ALL, "scope": "Model",
              "drift_baseline": "604800",  # seconds: the quality dashboard's default drift baseline, 7 days
              "trace_id": data.evals_in_range()[0].call.trace_id}
    values.update(variables)
    return Context(time_from=data.time_from, time_to=data.time_to, interval_s=600, variables=values,
                   options=options, database=database)
