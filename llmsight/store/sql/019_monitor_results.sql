-- One row per monitor run, signal, metric and statistic: the value over the run's window, its target
-- and the verdict (ok / violation / insufficient_data / error), so a monitor's history survives
-- restarts and is queryable beside the data it judged. Notified says what this run sent
-- ('violation', 'resolved' or ''), which is how the repeat interval and the one "resolved"
-- message are kept across restarts.
CREATE TABLE IF NOT EXISTS ${db}.monitor_results (
    RunAt DateTime64(3) CODEC(Delta(8), ZSTD(1)),
    RunId String CODEC(ZSTD(1)),
    Monitor LowCardinality(String),
    Signal LowCardinality(String),
    Metric LowCardinality(String),
    Statistic LowCardinality(String),
    WindowStart DateTime64(3),
    WindowEnd DateTime64(3),
    Value Nullable(Float64),
    Target Nullable(Float64),
    Comparison LowCardinality(String),
    SampleCount UInt64,
    State LowCardinality(String),
    Detail String CODEC(ZSTD(3)),
    ServiceName LowCardinality(String),
    Environment LowCardinality(String),
    Model LowCardinality(String),
    Notified LowCardinality(String),
    WorstTraceIds Array(String) CODEC(ZSTD(3))
) ENGINE = MergeTree
PARTITION BY toYYYYMM(RunAt)
ORDER BY (Monitor, Signal, Metric, Statistic, RunAt)
${ttl_monitor}
