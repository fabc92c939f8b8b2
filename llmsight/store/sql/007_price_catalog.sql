-- The genai-prices catalogue as a table, refreshed by `llmsight db init`.
CREATE TABLE IF NOT EXISTS ${db}.price_catalog (
    Provider LowCardinality(String),
    Model String,
    Name String,
    InputPerMTok Float64,
    OutputPerMTok Float64,
    CacheReadPerMTok Float64,
    LoadedAt DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(LoadedAt)
ORDER BY (Provider, Model)
