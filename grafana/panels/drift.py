"""Drift on the Generation quality dashboard: the dashboard's range against the baseline just before it.

The table is the query layer's ``drift`` question, the one ``llmsight drift`` and a monitor's drift
signal ask: per item (tokens, answer length, latency, model / finish-reason / error mix, each metric's
scores) a population stability index, a two-sample test and a verdict that needs both. The baseline's
length is the ``drift_baseline`` variable (1, 7 or 28 days before the range's start).
"""

from __future__ import annotations

from llmsight.evaluator.drift import ALPHA
from llmsight.queries.questions import Grafana
from panels.blocks import Layout, custom_variable, from_question, table

BASELINE_OPTIONS = [("7d", "604800"), ("1d", "86400"), ("28d", "2419200")]  # text, seconds; the first is the default
MIN_SAMPLES = 30  # as `llmsight drift --min-samples`
VERDICT_COLORS = {"shifted": "red", "moderate shift": "orange", "stable": "green", "insufficient data": "text"}


def baseline_var() -> dict:
    return custom_variable("drift_baseline", "Drift baseline", BASELINE_OPTIONS)


def drift_table(lay: Layout) -> dict:
    values = {
        "baseline_start_ms": Grafana("$__from - ${drift_baseline} * 1000"),
        "baseline_end_ms": Grafana("$__from"),
        "current_start_ms": Grafana("$__from"),
        "current_end_ms": Grafana("$__to"),
        "min_samples": MIN_SAMPLES,
        "alpha": ALPHA,
    }
    summary = "if(kind = 'numeric', concat('median ', toString(round({}, 1))), {})"
    return table(
        lay,
        "Drift against the baseline",
        "Is the range's traffic and quality distributed like the baseline before it (the Drift baseline "
        "variable)? PSI says how large a shift is (< 0.1 stable, 0.1-0.25 moderate, > 0.25 shifted), the "
        "two-sample test (KS for numbers, chi2 for categories) whether it is more than noise: a verdict needs "
        f"p < 0.01 as well; fewer than {MIN_SAMPLES} calls in either window is insufficient data.",
        from_question(
            "drift",
            "item AS Item, verdict AS Verdict, psi AS PSI, if(kind = 'numeric', 'KS', 'chi2') AS Test, "
            f"pvalue AS p, {summary.format('baseline_median', 'baseline_top')} AS Baseline, "
            f"{summary.format('current_median', 'current_top')} AS Current, "
            "baseline_n AS `n baseline`, current_n AS `n current`",
            order_by="indexOf(['shifted', 'moderate shift', 'stable', 'insufficient data'], Verdict), Item",
            values=values,
        ),
        w=12,
        h=8,
        overrides=[
            {
                "matcher": {"id": "byName", "options": "Verdict"},
                "properties": [
                    {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                    {"id": "mappings", "value": [{"type": "value", "options": {
                        v: {"color": c, "index": i} for i, (v, c) in enumerate(VERDICT_COLORS.items())}}]},
                ],
            },  # fmt: skip
            {"matcher": {"id": "byName", "options": "PSI"}, "properties": [{"id": "decimals", "value": 3}]},
        ],
    )
