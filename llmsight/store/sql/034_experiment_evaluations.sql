-- v13: the judge's scores of experiment rows (`llmsight eval run`), one row per (row span, metric,
-- judge model, prompt version), filed from llmsight.evaluation spans by experiment_evaluations_mv.
-- A table of their own, not `evaluations`: scores that arrive as OpenTelemetry data from any sender
-- with an ingest token must not be able to replace the production scores monitors read, which only
-- the evaluator writes. The newest arrival of a key wins (a rerun's judgement after a judge error).
CREATE TABLE IF NOT EXISTS ${db}.experiment_evaluations (
    SpanTimestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    Experiment String CODEC(ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String),
    Metric LowCardinality(String),
    Scale LowCardinality(String),
    Score Nullable(UInt8),
    WeightedScore Nullable(Float64),
    Threshold Float64,
    Passed Nullable(UInt8),
    Status LowCardinality(String),
    Reason String CODEC(ZSTD(3)),
    Category LowCardinality(String),
    JudgeModel LowCardinality(String),
    PromptVersion LowCardinality(String),
    JudgeInputTokens UInt32,
    JudgeOutputTokens UInt32,
    JudgeCost Float64,
    JudgeLatencyMs Float64,
    EvaluatedAt DateTime64(3),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1
) ENGINE = ReplacingMergeTree(EvaluatedAt)
PARTITION BY toYYYYMM(SpanTimestamp)
ORDER BY (SpanId, Metric, JudgeModel, PromptVersion)
${ttl_experiment_evaluations}
