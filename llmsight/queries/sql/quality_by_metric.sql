-- Per metric and judge: how many calls were scored, how many passed the per-call threshold,
-- the average score, and the rows that are not scores (not applicable, parse and judge errors).
-- Only `ok` rows are scored; a window with none has no pass rate, never 100%.
-- scale is '1-5' or 'binary' (a pass/fail metric stores 1 for pass and 0 for fail, threshold 1).
SELECT
    toString(Metric) AS metric,
    toString(JudgeModel) AS judge_model,
    toString(argMax(Scale, SpanTimestamp)) AS scale,
    max({{threshold}}) AS threshold,
    countIf(Status = 'ok') AS scored,
    countIf(Status = 'ok' AND Score >= {{threshold}}) AS passed,
    avgIf(Score, Status = 'ok') AS average_score,
    avgIf(WeightedScore, Status = 'ok' AND WeightedScore IS NOT NULL) AS average_weighted,
    countIf(Status = 'not_applicable') AS not_applicable,
    countIf(Status = 'parse_error') AS parse_errors,
    countIf(Status = 'judge_error') AS judge_errors,
    sum(JudgeCost) AS judge_cost
FROM {{db}}.evaluations FINAL
WHERE {{window(SpanTimestamp)}} AND {{filters}} AND {{metrics}}
GROUP BY metric, judge_model
ORDER BY metric, judge_model
