-- One row per LLM call, with typed columns derived in SQL from otel_traces (see 009), so every
-- ingest path (llmsight's collector, the contrib exporter, a direct insert) yields the same rows.
-- Cost columns are ALIASes over model_prices_dict: they follow price updates without a rewrite.
-- Prompt (last user message) and Completion (output text) are ALIASes too: computed when read,
-- so message content is not stored a third time; they are read for a few rows at a time.
CREATE TABLE IF NOT EXISTS ${db}.llm_calls (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    SpanName LowCardinality(String),
    ServiceName LowCardinality(String),
    Environment LowCardinality(String),
    Operation LowCardinality(String),
    Provider LowCardinality(String),
    RequestModel LowCardinality(String),
    ResponseModel LowCardinality(String),
    Model LowCardinality(String),
    InputTokens UInt64 CODEC(T64, ZSTD(1)),
    OutputTokens UInt64 CODEC(T64, ZSTD(1)),
    CacheReadTokens UInt64 CODEC(T64, ZSTD(1)),
    ReasoningTokens UInt64 CODEC(T64, ZSTD(1)),
    UsagePartial UInt8,
    Stream UInt8,
    Duration UInt64 CODEC(T64, ZSTD(1)),
    TimeToFirstChunk Nullable(Float64),
    StatusCode LowCardinality(String),
    StatusMessage String CODEC(ZSTD(1)),
    ErrorType LowCardinality(String),
    IsError UInt8,
    FinishReasons Array(LowCardinality(String)),
    SystemInstructions String CODEC(ZSTD(1)),
    InputMessages String CODEC(ZSTD(1)),
    OutputMessages String CODEC(ZSTD(1)),
    ContextDocuments String CODEC(ZSTD(1)),
    GroundTruth String CODEC(ZSTD(1)),
    SessionId String CODEC(ZSTD(1)),
    UserId String CODEC(ZSTD(1)),
    Prompt String ALIAS arrayStringConcat(arrayMap(m -> if(JSONHas(m, 'parts'),
            arrayStringConcat(arrayMap(p -> JSONExtractString(p, 'content'),
                arrayFilter(p -> JSONExtractString(p, 'type') = 'text', JSONExtractArrayRaw(m, 'parts'))), '\n'),
            JSONExtractString(m, 'content')),
        arraySlice(arrayFilter(m -> JSONExtractString(m, 'role') = 'user', JSONExtractArrayRaw(InputMessages)), -1, 1)), ''),
    Completion String ALIAS arrayStringConcat(arrayMap(m -> if(JSONHas(m, 'parts'),
            arrayStringConcat(arrayMap(p -> JSONExtractString(p, 'content'),
                arrayFilter(p -> JSONExtractString(p, 'type') = 'text', JSONExtractArrayRaw(m, 'parts'))), '\n'),
            JSONExtractString(m, 'content')),
        JSONExtractArrayRaw(OutputMessages)), '\n'),
    TotalTokens UInt64 ALIAS InputTokens + OutputTokens,
    InputCost Float64 ALIAS
        ((InputTokens - least(CacheReadTokens, InputTokens)) * dictGetOrDefault('${dbname}.model_prices_dict', 'InputPerMTok', (toString(Provider), toString(Model)), 0.)
         + least(CacheReadTokens, InputTokens) * dictGetOrDefault('${dbname}.model_prices_dict', 'CacheReadPerMTok', (toString(Provider), toString(Model)), 0.)) / 1e6,
    OutputCost Float64 ALIAS
        OutputTokens * dictGetOrDefault('${dbname}.model_prices_dict', 'OutputPerMTok', (toString(Provider), toString(Model)), 0.) / 1e6,
    Cost Float64 ALIAS InputCost + OutputCost,
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_span_id SpanId TYPE bloom_filter(0.001) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, Model, Timestamp)
${ttl}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
