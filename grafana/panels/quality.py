"""The Generation quality dashboard: judge scores per metric, and what the monitors made of them.

The pass rate (a score at or above the metric's per-call threshold), average score, failing
answers and judge errors are the query layer's ``quality_by_metric``, ``quality_over_time`` and
``failing_answers`` (a quality monitor's numbers). A call below the threshold is a *failing
answer*; a *violation* is a monitor run that missed its target (``panels.monitors``).
"""

from __future__ import annotations

from panels.blocks import (
    CALLS_FILTER,
    EVALS_FILTER,
    Layout,
    barchart,
    dashboard,
    environment_var,
    from_question,
    metric_var,
    model_var,
    service_var,
    stat,
    table,
    timeseries,
)
from panels.drift import baseline_var, drift_table
from panels.experiments import experiment_runs
from panels.feedback import feedback_agreement, feedback_stats
from panels.monitors import monitor_panels


def _quality(select: str) -> str:
    return from_question("quality_by_metric", select)


def _by_metric_over_time(column: str, where: str = "") -> str:
    return from_question(
        "quality_over_time",
        f"time, metric AS Metric, {column}",
        where="scored > 0" + (f" AND {where}" if where else ""),
        order_by="time, Metric",
    )


def quality() -> dict:
    lay = Layout()
    E = EVALS_FILTER
    EV = "otel.evaluations FINAL"
    panels = [
        stat(
            lay,
            "Evaluated calls",
            "How many calls did the judge score?",
            f"SELECT uniqExact(SpanId) AS evaluated FROM {EV} WHERE {E} AND Status = 'ok'",
            "short",
        ),
        stat(
            lay,
            "Judge coverage",
            "What share of LLM calls in the range has at least one judge verdict?",
            f"""SELECT (SELECT uniqExact(SpanId) FROM {EV} WHERE {E})
  / greatest((SELECT count() FROM otel.llm_calls WHERE {CALLS_FILTER}), 1) AS coverage""",
            "percentunit",
            decimals=1,
        ),
        stat(
            lay,
            "Pass rate",
            "What share of scores met their metric's per-call threshold?",
            _quality("sum(passed) / sum(scored) AS pass_rate"),
            "percentunit",
            decimals=1,
        ),
        stat(
            lay,
            "Failing answers",
            "How many scores fell below their metric's per-call threshold?",
            _quality("sum(scored - passed) AS failing_answers"),
            "short",
        ),
        stat(
            lay,
            "Judge errors",
            "How many evaluations failed (judge unreachable or unparsable answer)?",
            _quality("sum(judge_errors + parse_errors) AS judge_errors"),
            "short",
        ),
        stat(
            lay,
            "Judge cost",
            "What did the judge model cost?",
            _quality("sum(judge_cost) AS judge_cost"),
            "currencyUSD",
            decimals=2,
        ),  # fmt: skip
    ]
    lay.new_row()
    panels += [
        table(
            lay,
            "Per metric",
            "For each metric and judge: average score, threshold, pass rate and failing answers (a pass/fail "
            "metric's scale is binary: its scores are 1 and 0, so its average is its pass rate).",
            _quality(
                "metric AS Metric, judge_model AS judge, scale, scored, average_score AS avg_score, threshold, "
                "passed / nullIf(scored, 0) AS pass_rate, scored - passed AS failing_answers, not_applicable, "
                "parse_errors + judge_errors AS errors"
            ),
            h=7,
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "pass_rate"},
                    "properties": [{"id": "unit", "value": "percentunit"}],
                }
            ],
        ),
        timeseries(
            lay,
            "Average score by metric",
            "Is answer quality (1-5) drifting? (Pass/fail metrics are on the pass rate chart.)",
            _by_metric_over_time("average_score AS avg_score", where="scale = '1-5'"),
            "none",
            display_name="${__field.labels.Metric}",
        ),
        timeseries(
            lay,
            "Pass rate by metric",
            "What share of answers passes each metric's per-call threshold?",
            _by_metric_over_time("pass_rate"),
            "percentunit",
            display_name="${__field.labels.Metric}",
        ),
    ]
    lay.new_row()
    panels += monitor_panels(lay)
    lay.new_row()
    panels += feedback_stats(lay)
    lay.new_row()
    panels += [feedback_agreement(lay), drift_table(lay)]
    lay.new_row()
    panels += [
        timeseries(
            lay,
            "Failing answers by metric",
            "How many answers fall below their metric's per-call threshold per interval?",
            _by_metric_over_time("scored - passed AS failing_answers"),
            "short",
            display_name="${__field.labels.Metric}",
        ),
        barchart(
            lay,
            "Score histogram",
            "How are scores 1-5 distributed per 1-5 metric?",
            f"""SELECT Metric, countIf(Score = 1) AS `1`, countIf(Score = 2) AS `2`, countIf(Score = 3) AS `3`,
  countIf(Score = 4) AS `4`, countIf(Score = 5) AS `5`
FROM {EV} WHERE {E} AND Status = 'ok' AND Scale = '1-5'
GROUP BY Metric ORDER BY Metric""",
            "Metric",
        ),
        table(
            lay,
            "Failing pass/fail checks by category",
            "Which harm or injection categories did the judge name for failing answers (harmful_content, "
            "prompt_injection and your own pass/fail metrics)?",
            from_question(
                "failing_categories",
                "metric AS Metric, if(category = '', '(none named)', category) AS Category, failing",
                order_by="Metric, failing DESC, Category",
            ),
        ),
        table(
            lay,
            "Pre-screen hits",
            "Which calls did the pre-screen flag on ingest (every call, before sampling): injection phrasings "
            "in the input or retrieved documents, a leaked system prompt, a secret in the answer? Each flagged "
            "call is judged with harmful_content and prompt_injection.",
            from_question("screen_hits", "hit AS Rule, calls AS Calls", order_by="Calls DESC, Rule"),
        ),
        timeseries(
            lay,
            "Judge errors",
            "Is the judge failing (unreachable, unparsable)?",
            from_question(
                "quality_over_time",
                "time, sum(judge_errors) AS judge_errors, sum(parse_errors) AS parse_errors",
                group_by="time",
                order_by="time",
            ),
            "short",
        ),
        timeseries(
            lay,
            "Judge coverage",
            "What share of calls per interval has a judge verdict?",
            f"""SELECT c.time AS time, ifNull(e.evaluated, 0) / c.calls AS coverage
FROM (SELECT $__timeInterval(Timestamp) AS time, count() AS calls
      FROM otel.llm_calls WHERE {CALLS_FILTER} GROUP BY time) AS c
LEFT JOIN (SELECT $__timeInterval(SpanTimestamp) AS time, uniqExact(SpanId) AS evaluated
      FROM {EV} WHERE {E} GROUP BY time) AS e ON c.time = e.time
ORDER BY time""",
            "percentunit",
        ),
        timeseries(
            lay,
            "Judge cost by judge model",
            "What does judging cost over time?",
            f"""SELECT $__timeInterval(SpanTimestamp) AS time, JudgeModel, sum(JudgeCost) AS judge_cost
FROM {EV} WHERE {E}
GROUP BY time, JudgeModel ORDER BY time""",
            "currencyUSD",
            display_name="${__field.labels.JudgeModel}",
        ),
    ]
    lay.new_row()
    panels += [
        table(
            lay,
            "Sampled requests with scores",
            "What did recently judged calls ask and answer, and how did they score?",
            f"""WITH recent AS (
  -- the newest verdicts (a top-N on time: no GROUP BY over the whole range)
  SELECT SpanId, SpanTimestamp FROM otel.evaluations WHERE {E} AND Status = 'ok'
  ORDER BY SpanTimestamp DESC LIMIT 500),
  (SELECT min(SpanTimestamp) FROM recent) AS since
SELECT s.ts AS Timestamp, c.ServiceName AS ServiceName, c.Model AS Model, s.scores AS scores,
  s.min_score AS min_score, substring(c.Prompt, 1, 300) AS prompt,
  substring(c.Completion, 1, 300) AS completion, s.TraceId AS TraceId
FROM (
  SELECT SpanId, any(TraceId) AS TraceId, max(SpanTimestamp) AS ts, min(Score) AS min_score,
    arrayStringConcat(arraySort(groupArray(concat(Metric, '=', toString(Score)))), ' ') AS scores
  FROM {EV} WHERE {E} AND Status = 'ok' AND SpanTimestamp >= since AND SpanId IN (SELECT SpanId FROM recent)
  GROUP BY SpanId ORDER BY ts DESC LIMIT 100) AS s
INNER JOIN (SELECT SpanId, ServiceName, Model, Prompt, Completion FROM otel.llm_calls
            WHERE $__timeFilter(Timestamp) AND Timestamp >= since
              AND SpanId IN (SELECT SpanId FROM recent)) AS c ON c.SpanId = s.SpanId
ORDER BY Timestamp DESC""",
            links_on=["TraceId"],
        ),
        table(
            lay,
            "Failing answers (lowest scores first)",
            "Which answers scored worst, below their metric's per-call threshold, and why did the judge say so?",
            from_question(
                "failing_answers",
                "metric AS Metric, score AS Score, reason AS Reason, service AS ServiceName, trace_id AS TraceId, "
                "span_id AS SpanId",
                order_by="Score ASC, Metric, SpanId",
                limit=100,
                values={"per_metric": 100},
            ),
            links_on=["TraceId"],
        ),
    ]
    lay.new_row()
    panels.append(experiment_runs(lay))
    return dashboard(
        "llmsight-quality",
        "llmsight / Generation quality",
        "Judge scores per metric: averages, pass rates, failing answers, coverage and judge cost; monitor "
        "violations and targets; people's feedback against the judge; drift against a baseline; experiment runs.",
        panels,
        [service_var(), model_var(), environment_var(), metric_var(), baseline_var()],
        tags=["quality"],
    )
