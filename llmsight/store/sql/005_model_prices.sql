-- Price per million tokens for each (provider, model) seen in llm_calls, resolved from the
-- genai-prices catalogue. Cost is computed from it at query time, so new prices apply to old calls.
CREATE TABLE IF NOT EXISTS ${db}.model_prices (
    Provider LowCardinality(String),
    Model String,
    CatalogProvider LowCardinality(String),
    CatalogModel String,
    InputPerMTok Float64,
    OutputPerMTok Float64,
    CacheReadPerMTok Float64,
    UpdatedAt DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(UpdatedAt)
ORDER BY (Provider, Model)
