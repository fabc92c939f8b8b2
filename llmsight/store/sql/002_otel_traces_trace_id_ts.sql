-- Trace id -> time range lookup; Grafana's ClickHouse plugin uses it to find a trace fast.
CREATE TABLE IF NOT EXISTS ${db}.otel_traces_trace_id_ts (
    TraceId String CODEC(ZSTD(1)),
    Start SimpleAggregateFunction(min, DateTime) CODEC(ZSTD(1)),
    End SimpleAggregateFunction(max, DateTime) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = AggregatingMergeTree
PARTITION BY toStartOfWeek(Start)
ORDER BY (TraceId)
${ttl_start}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
