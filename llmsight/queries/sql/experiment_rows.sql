-- The rows of one experiment run, by row id: what the target answered (or the error it raised) and
-- the row span that is the root of the row's trace (its scores are filed under its SpanId).
SELECT
    RowId AS row_id,
    TraceId AS trace_id,
    SpanId AS span_id,
    toUnixTimestamp64Nano(Timestamp) AS time_ns,
    Question AS question,
    Context AS context,
    GroundTruth AS ground_truth,
    Answer AS answer,
    Error AS error,
    DatasetHash AS dataset_hash,
    DurationMs AS duration_ms
FROM {{db}}.experiment_rows FINAL
WHERE Experiment = {experiment:String}
ORDER BY RowId
