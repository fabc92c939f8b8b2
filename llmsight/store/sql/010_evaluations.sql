-- Judge scores, one row per (span, metric, judge model, prompt version). ReplacingMergeTree keeps
-- the newest row of a key, so a re-run after a crash cannot double-count; read with FINAL
-- (or argMax) where exactness matters.
CREATE TABLE IF NOT EXISTS ${db}.evaluations (
    SpanTimestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String),
    Model LowCardinality(String),
    Metric LowCardinality(String),
    Score Nullable(UInt8),
    WeightedScore Nullable(Float64),
    Threshold Float64,
    Passed Nullable(UInt8),
    Status LowCardinality(String),
    Reason String CODEC(ZSTD(3)),
    JudgeModel LowCardinality(String),
    PromptVersion LowCardinality(String),
    JudgeInputTokens UInt32,
    JudgeOutputTokens UInt32,
    JudgeCost Float64,
    JudgeLatencyMs Float64,
    EvaluatedAt DateTime64(3) DEFAULT now64(3),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1
) ENGINE = ReplacingMergeTree(EvaluatedAt)
PARTITION BY toYYYYMM(SpanTimestamp)
ORDER BY (toDate(SpanTimestamp), ServiceName, SpanId, Metric, JudgeModel, PromptVersion)
${ttl_eval}
