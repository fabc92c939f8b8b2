-- Tokens and cost per deployment (model) and provider in the window, largest cost first.
-- Tokens are summed per (provider, model) first and only those few sums are priced (a join on
-- model_prices, the table the price dictionary reads): the same number as sum(llm_calls.Cost),
-- whose ALIAS looks up three prices for every row, at a fraction of the work over 30 days.
SELECT
    t.model AS model,
    t.provider AS provider,
    t.requests AS requests,
    t.prompt_tokens AS prompt_tokens,
    t.completion_tokens AS completion_tokens,
    t.prompt_tokens + t.completion_tokens AS total_tokens,
    (t.uncached_in * p.InputPerMTok + t.cached_in * p.CacheReadPerMTok + t.completion_tokens * p.OutputPerMTok)
        / 1e6 AS cost
FROM (
    SELECT
        toString(Model) AS model,
        toString(Provider) AS provider,
        count() AS requests,
        sum(InputTokens) AS prompt_tokens,
        sum(OutputTokens) AS completion_tokens,
        sum(InputTokens - least(CacheReadTokens, InputTokens)) AS uncached_in,
        sum(least(CacheReadTokens, InputTokens)) AS cached_in
    FROM {{db}}.llm_calls
    WHERE {{window(Timestamp)}} AND {{filters}}
    GROUP BY model, provider
) AS t
LEFT JOIN (
    SELECT toString(Provider) AS provider, Model AS model, InputPerMTok, OutputPerMTok, CacheReadPerMTok
    FROM {{db}}.model_prices FINAL
) AS p ON t.provider = p.provider AND t.model = p.model
ORDER BY cost DESC, total_tokens DESC, model, provider
