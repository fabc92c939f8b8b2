-- v10: the pre-screen's hits, one row per LLM call that tripped at least one rule (023's view fills
-- it on every call ingested, by any path, before any sampling). The evaluator forces a flagged call
-- into its sample and judges it with the safety metrics; report and dashboards count the hits.
-- Clean calls have no row, so the table stays small. Keyed by SpanId: replays replace, lookups are cheap.
CREATE TABLE IF NOT EXISTS ${db}.call_screens (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String),
    Hits Array(LowCardinality(String))
) ENGINE = ReplacingMergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (SpanId, Timestamp)
${ttl_screens}
