-- v13: one row per (experiment, dataset row): what the target answered, from the row's
-- llmsight.experiment.row span (experiment_rows_mv); its LLM calls and retrievals are that span's
-- children in the same trace. A rerun runs again only rows that have none or that failed (Error), and
-- the newest replaces the older. Context is a JSON array of documents.
CREATE TABLE IF NOT EXISTS ${db}.experiment_rows (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    Experiment String CODEC(ZSTD(1)),
    RowId String CODEC(ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String),
    DatasetHash String CODEC(ZSTD(1)),
    Question String CODEC(ZSTD(3)),
    Context String CODEC(ZSTD(3)),
    GroundTruth String CODEC(ZSTD(3)),
    Answer String CODEC(ZSTD(3)),
    Error String CODEC(ZSTD(3)),
    DurationMs Float64
) ENGINE = ReplacingMergeTree(Timestamp)
ORDER BY (Experiment, RowId)
${ttl_experiment_rows}
