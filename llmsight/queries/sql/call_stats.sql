-- Traffic, errors, latency (all calls, as the dashboards), time to first token (calls that have one),
-- tokens and cost of the calls in the window. Exact quantiles, so a monitor and a panel agree to the digit.
-- Cost is tokens_by_deployment's (tokens priced per provider and model), not a per-row price lookup.
SELECT
    count() AS requests,
    sum(IsError) AS errors,
    quantileExact(0.5)(Duration) / 1e6 AS latency_p50_ms,
    quantileExact(0.95)(Duration) / 1e6 AS latency_p95_ms,
    quantileExactIf(0.95)(TimeToFirstChunk, TimeToFirstChunk IS NOT NULL) * 1000 AS ttft_p95_ms,
    countIf(TimeToFirstChunk IS NOT NULL) AS streams,
    sum(InputTokens) AS prompt_tokens,
    sum(OutputTokens) AS completion_tokens,
    sum(InputTokens + OutputTokens) AS total_tokens,
    (SELECT sum(cost) FROM ({{include(tokens_by_deployment)}})) AS cost
FROM {{db}}.llm_calls
WHERE {{window(Timestamp)}} AND {{filters}}
