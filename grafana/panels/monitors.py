"""Monitor results on the Generation quality dashboard: what the monitors concluded, beside the scores.

A *violation* is one monitor run whose computed value (average score or pass rate over its
lookback window) missed its target; these panels read ``monitor_results`` through the query layer
(``monitor_violations_over_time``, ``monitor_latest``, ``monitor_values_over_time``), the rows
``llmsight monitors`` and ``llmsight report`` read.
"""

from __future__ import annotations

from panels.blocks import Layout, from_question, table, timeseries

DASHED = {"fill": "dash", "dash": [10, 10]}


def monitor_panels(lay: Layout) -> list[dict]:
    return [
        timeseries(
            lay,
            "Pass rate and monitor target",
            "Each quality monitor's pass rate over its lookback window at each run, and the target it was held to "
            "(dashed).",
            from_question(
                "monitor_values_over_time",
                "time, concat(monitor, ' / ', metric) AS series, value AS pass_rate, target",
                where="statistic = 'pass_rate'",
                order_by="time",
            ),
            "percentunit",
            display_name="${__field.name} ${__field.labels.series}",
            overrides=[
                {
                    "matcher": {"id": "byRegexp", "options": "^target.*"},
                    "properties": [{"id": "custom.lineStyle", "value": DASHED}],
                }
            ],
        ),
        timeseries(
            lay,
            "Monitor violations by metric",
            "How many monitor runs missed their target per interval (a violation), per monitor, metric and statistic?",
            from_question(
                "monitor_violations_over_time",
                "time, monitor AS Monitor, metric AS Metric, statistic AS Statistic, violations",
                order_by="time",
            ),
            "short",
            display_name="${__field.labels.Monitor} ${__field.labels.Metric} ${__field.labels.Statistic}",
            custom={"drawStyle": "bars", "fillOpacity": 60},
        ),
        table(
            lay,
            "Monitor state",
            "What did each monitor conclude at its latest run in the range, per signal, metric and statistic, "
            "with the value and the target?",
            from_question(
                "monitor_latest",
                "monitor, signal, metric, statistic, state, value, comparison, target, sample_count, run_at, detail",
            ),
            h=7,
        ),
    ]
