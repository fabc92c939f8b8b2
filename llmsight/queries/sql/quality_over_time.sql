-- quality_by_metric per time bucket and metric (all judges together: a chart line per metric),
-- for the dashboards' time series. Passed is a score at or above the per-call threshold; a pass/fail
-- metric (scale 'binary') stores 1 for pass and 0 for fail, so its average is its pass rate.
SELECT
    {{bucket(SpanTimestamp)}} AS time,
    toString(Metric) AS metric,
    toString(argMax(Scale, SpanTimestamp)) AS scale,
    countIf(Status = 'ok') AS scored,
    countIf(Status = 'ok' AND Score >= {{threshold}}) AS passed,
    passed / nullIf(scored, 0) AS pass_rate,
    avgIf(Score, Status = 'ok') AS average_score,
    countIf(Status = 'not_applicable') AS not_applicable,
    countIf(Status = 'parse_error') AS parse_errors,
    countIf(Status = 'judge_error') AS judge_errors,
    sum(JudgeCost) AS judge_cost
FROM {{db}}.evaluations FINAL
WHERE {{window(SpanTimestamp)}} AND {{filters}} AND {{metrics}}
GROUP BY time, metric
ORDER BY time, metric
