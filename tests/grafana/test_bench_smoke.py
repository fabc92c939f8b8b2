"""The dashboard benchmark still runs against the current schema (it seeds with its own SQL, so a
schema change can break it silently). It runs in a subprocess: chDB allows one engine directory
per process, and the benchmark needs its own."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import REPO, all_panels


@pytest.mark.parametrize("via", ["traces", "calls"])
def test_benchmark_smoke_run(tmp_path, via):
    out = subprocess.run(
        [sys.executable, str(REPO / "bench/dashboard_queries.py"), "--calls", "3000", "--reps", "1",
         "--via", via, "--path", str(tmp_path / "store"), "--output", str(tmp_path / "table.md")],
        capture_output=True, text=True, timeout=240, cwd=REPO,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "store: 3,000 llm_calls" in out.stdout
    rows = [line for line in (tmp_path / "table.md").read_text().splitlines()[2:] if line.startswith("| ")]
    alert_rows = [r for r in rows if r.startswith("| alert |")]
    assert len(rows) - len(alert_rows) == len(all_panels()) and len(alert_rows) == len(default_rules())


def default_rules() -> list[dict]:
    import yaml

    from llmsight.monitors.config import default_monitor_file
    from llmsight.monitors.grafana_rules import render_rules

    return [r for g in yaml.safe_load(render_rules(default_monitor_file()))["groups"] for r in g["rules"]]
