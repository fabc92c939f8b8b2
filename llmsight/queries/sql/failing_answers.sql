-- The lowest-scoring failing answers (score below the per-call threshold), a few per metric,
-- newest first among equal scores: the samples a report or an alert points a person to.
-- groupArraySorted keeps the few lowest per metric while it reads (no sort of every failing
-- answer in the window); the long Reason is then read for those rows alone.
SELECT
    toString(Metric) AS metric,
    Score AS score,
    TraceId AS trace_id,
    SpanId AS span_id,
    toString(ServiceName) AS service,
    Reason AS reason,
    toString(Category) AS category
FROM {{db}}.evaluations FINAL
WHERE {{window(SpanTimestamp)}} AND {{filters}} AND {{metrics}} AND Status = 'ok'
    AND (toString(Metric), SpanId) IN (
        SELECT metric, worst.3
        FROM (
            SELECT
                toString(Metric) AS metric,
                groupArraySorted({per_metric:UInt32})((Score, -toUnixTimestamp64Nano(SpanTimestamp), SpanId)) AS ws
            FROM {{db}}.evaluations FINAL
            WHERE {{window(SpanTimestamp)}} AND {{filters}} AND {{metrics}} AND Status = 'ok' AND Score < {{threshold}}
            GROUP BY metric
        )
        ARRAY JOIN ws AS worst
    )
ORDER BY Score ASC, SpanTimestamp DESC, SpanId, metric
LIMIT {per_metric:UInt32} BY Metric
