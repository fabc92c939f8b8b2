-- The lowest-scoring failing answers (score below the per-call threshold), a few per metric,
-- newest first among equal scores: the samples a report or an alert points a person to.
SELECT
    toString(Metric) AS metric,
    Score AS score,
    TraceId AS trace_id,
    SpanId AS span_id,
    toString(ServiceName) AS service,
    Reason AS reason
FROM {{db}}.evaluations FINAL
WHERE {{window(SpanTimestamp)}} AND {{filters}} AND {{metrics}} AND Status = 'ok' AND Score < {{threshold}}
ORDER BY Score ASC, SpanTimestamp DESC, SpanId
LIMIT {per_metric:UInt32} BY Metric
