-- What the judge did per metric for calls in the window: attempts (the latest row per call),
-- judge errors among them, and calls with a final verdict (a score, not applicable, or a parse error).
SELECT
    toString(Metric) AS metric,
    count() AS attempts,
    countIf(Status = 'judge_error') AS judge_errors,
    uniqExactIf(SpanId, Status != 'judge_error') AS judged_calls
FROM {{db}}.evaluations FINAL
WHERE {{window(SpanTimestamp)}} AND {{filters}} AND {{metrics}}
GROUP BY metric
ORDER BY metric
