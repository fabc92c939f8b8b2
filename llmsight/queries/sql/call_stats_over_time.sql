-- call_stats per time bucket, for the dashboards' time series: the same columns and the same exact
-- quantiles (plus p99 and the TTFT median a latency chart shows), so a bucket as wide as a monitor's
-- window shows the monitor's number.
SELECT
    {{bucket(Timestamp)}} AS time,
    count() AS requests,
    sum(IsError) AS errors,
    errors / requests AS error_rate,
    quantileExact(0.5)(Duration) / 1e6 AS latency_p50_ms,
    quantileExact(0.95)(Duration) / 1e6 AS latency_p95_ms,
    quantileExact(0.99)(Duration) / 1e6 AS latency_p99_ms,
    quantileExactIf(0.5)(TimeToFirstChunk, TimeToFirstChunk IS NOT NULL) * 1000 AS ttft_p50_ms,
    quantileExactIf(0.95)(TimeToFirstChunk, TimeToFirstChunk IS NOT NULL) * 1000 AS ttft_p95_ms,
    countIf(TimeToFirstChunk IS NOT NULL) AS streams,
    sum(InputTokens) AS prompt_tokens,
    sum(OutputTokens) AS completion_tokens,
    sum(InputTokens + OutputTokens) AS total_tokens,
    sum(Cost) AS cost
FROM {{db}}.llm_calls
WHERE {{window(Timestamp)}} AND {{filters}}
GROUP BY time
ORDER BY time
