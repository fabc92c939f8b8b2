-- v11: people's verdicts on answers (llmsight.feedback() in the app, or any OTel SDK: a span named
-- llmsight.feedback), one row per feedback span, filled by feedback_mv. A row names its call by
-- CallTraceId + CallSpanId, or only by ResponseId (the provider's response id), which readers match
-- to the call's gen_ai.response.id. Score is 0 (bad) to 1 (good); Thumbs is up / down when it was one.
-- Keyed by the feedback span: a replayed export replaces instead of counting twice.
CREATE TABLE IF NOT EXISTS ${db}.feedback (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    FeedbackSpanId String CODEC(ZSTD(1)),
    CallTraceId String CODEC(ZSTD(1)),
    CallSpanId String CODEC(ZSTD(1)),
    ResponseId String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String),
    Score Float64,
    Thumbs LowCardinality(String),
    Label LowCardinality(String),
    Comment String CODEC(ZSTD(1)),
    UserId String CODEC(ZSTD(1))
) ENGINE = ReplacingMergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (FeedbackSpanId, Timestamp)
${ttl_feedback}
