"""The Experiment runs table shows, per run and metric, the figures `llmsight eval gate` checks (one question)."""

from __future__ import annotations

from llmsight.experiments.compare import summarize
from llmsight.experiments.results import load_run
from tests.grafana.conftest import context_for, load_dashboards
from tests.grafana.macros import expand
from tests.grafana.seed import EXPERIMENTS, THRESHOLD


def test_experiment_runs_panel_equals_the_gates_figures(seeded):
    client, database, _ = seeded
    panel = next(p for p in load_dashboards()["quality.json"]["panels"] if p["title"] == "Experiment runs")
    result = client.query(expand(panel["targets"][0]["rawSql"], context_for(seeded)))
    rows = [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]
    assert [r["Run"] for r in rows] == ["candidate", "base"]  # newest first
    for row in rows:
        scores = EXPERIMENTS[row["Run"]]
        gate = summarize(load_run(client, database, row["Run"]), "groundedness")
        assert row["Rows scored"] == gate.n == len(scores)
        assert row["Pass rate"] == gate.pass_rate == sum(s >= THRESHOLD for s in scores) / len(scores)
        assert row["Average score"] == round(gate.mean, 2) == round(sum(scores) / len(scores), 2)
