"""Experiment runs on the Generation quality dashboard: ``llmsight eval run``'s results next to production.

The table is the query layer's ``experiment_summary`` question, the figures ``llmsight eval runs``
prints and ``llmsight eval gate`` checks: per run started in the range and metric, the rows scored,
the average score and the pass rate. The production panels leave experiments out (environment
``llmsight-eval``) unless that environment is chosen.
"""

from __future__ import annotations

from panels.blocks import Layout, from_question, table


def experiment_runs(lay: Layout) -> dict:
    return table(
        lay,
        "Experiment runs",
        "How did the experiment runs (llmsight eval run) started in this range score? Per run and metric: rows "
        "scored, average score, pass rate. Compare two with `llmsight eval compare A B`, which adds a confidence "
        "interval on the difference and the rows that regressed.",
        from_question(
            "experiment_summary",
            "run AS Run, started AS Started, metric AS Metric, scored AS `Rows scored`, "
            "round(average_score, 2) AS `Average score`, pass_rate AS `Pass rate`",
            order_by="Started DESC, Run, Metric",
            limit=500,
        ),
        w=24,
        h=8,
        overrides=[
            {
                "matcher": {"id": "byName", "options": "Pass rate"},
                "properties": [{"id": "unit", "value": "percentunit"}],
            }
        ],
    )
