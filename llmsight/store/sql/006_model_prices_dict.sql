CREATE DICTIONARY IF NOT EXISTS ${db}.model_prices_dict (
    Provider String,
    Model String,
    InputPerMTok Float64,
    OutputPerMTok Float64,
    CacheReadPerMTok Float64
) PRIMARY KEY Provider, Model
SOURCE(CLICKHOUSE(QUERY 'SELECT Provider, Model, InputPerMTok, OutputPerMTok, CacheReadPerMTok FROM ${db}.model_prices FINAL'${dict_credentials}))
LIFETIME(MIN 30 MAX 60)
LAYOUT(COMPLEX_KEY_HASHED())
