-- Drift of numeric distributions between a baseline window [baseline_start, baseline_end) and a
-- current window [current_start, current_end): per item, the population stability index over the
-- baseline's deciles (0.0001 floor on empty buckets) and the two-sample Kolmogorov-Smirnov test.
-- Items: input and output tokens, answer size (bytes of the stored output messages: read from the
-- column's sizes, not its text) and latency of answered calls, and each metric's judge scores
-- (score:<metric>, ok rows only).
-- Counts are exact; deciles, PSI, medians and the test use a sample of about 10,000 values per item and
-- window: the calls whose cityHash64(SpanId) falls under 10,000 / (the window's count) of the hash
-- range, so the sample is the same on every run and a window of up to 10,000 is read whole. A month of
-- calls is not sorted several times over, and 10,000 a side still tells a shift of a few percent.
WITH
    fromUnixTimestamp64Milli({baseline_start_ms:Int64}) AS baseline_start,
    fromUnixTimestamp64Milli({baseline_end_ms:Int64}) AS baseline_end,
    fromUnixTimestamp64Milli({current_start_ms:Int64}) AS current_start,
    fromUnixTimestamp64Milli({current_end_ms:Int64}) AS current_end,
    10000 AS per_window,
    18446744073709551615 AS hash_range,
    (SELECT (countIf(Timestamp < baseline_end), countIf(Timestamp >= current_start))
     FROM {{db}}.llm_calls
     WHERE Timestamp >= baseline_start AND Timestamp < current_end AND {{filters}} AND NOT IsError) AS calls_n,
    (SELECT (countIf(SpanTimestamp < baseline_end) / greatest(uniqExactIf(Metric, SpanTimestamp < baseline_end), 1),
             countIf(SpanTimestamp >= current_start) / greatest(uniqExactIf(Metric, SpanTimestamp >= current_start), 1))
     FROM {{db}}.evaluations FINAL
     WHERE SpanTimestamp >= baseline_start AND SpanTimestamp < current_end AND {{filters}} AND Status = 'ok'
         AND Scale = '1-5') AS scores_per_metric
SELECT item, baseline_n, current_n,
    if(length(bs) > 0, arrayReduce('quantileExact(0.5)', bs), nan) AS baseline_median,
    if(length(cs) > 0, arrayReduce('quantileExact(0.5)', cs), nan) AS current_median,
    if(length(bs) > 0 AND length(cs) > 0, arraySum(arrayMap((b, c) ->
        (greatest(c / length(cs), 0.0001) - greatest(b / length(bs), 0.0001))
        * ln(greatest(c / length(cs), 0.0001) / greatest(b / length(bs), 0.0001)),
        arrayMap(k -> countEqual(arrayMap(v -> arrayCount(x -> v > x, edges), bs), k), range(length(edges) + 1)),
        arrayMap(k -> countEqual(arrayMap(v -> arrayCount(x -> v > x, edges), cs), k), range(length(edges) + 1)))),
        nan) AS psi,
    -- the test refuses an empty sample, so it runs only on items seen in both windows; its exact
    -- p-value costs about n x m, so samples of 2,000 or more take the asymptotic one (as close as
    -- makes no difference there: 200x faster at 10,000 a side)
    multiIf(length(bs) = 0 OR length(cs) = 0, (nan, nan),
            greatest(length(bs), length(cs)) < 2000,
            arrayReduce('kolmogorovSmirnovTest(\'two-sided\', \'exact\')', arrayConcat(bs, cs),
                        arrayConcat(arrayWithConstant(length(bs), 0), arrayWithConstant(length(cs), 1))),
            arrayReduce('kolmogorovSmirnovTest(\'two-sided\', \'asymp\')', arrayConcat(bs, cs),
                        arrayConcat(arrayWithConstant(length(bs), 0), arrayWithConstant(length(cs), 1)))) AS ks,
    ks.1 AS ks_statistic,
    ks.2 AS ks_pvalue
FROM (
    SELECT item, bs, cs,
        if(startsWith(item, 'score:'), sampled_b, calls_n.1) AS baseline_n,
        if(startsWith(item, 'score:'), sampled_c, calls_n.2) AS current_n,
        if(length(bs) > 0, arrayDistinct(arrayReduce('quantilesExact(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)', bs)),
           []) AS edges
    FROM (
        SELECT item, countIf(g = 0) AS sampled_b, countIf(g = 1) AS sampled_c,
            groupArrayIf(value, g = 0 AND keep) AS bs, groupArrayIf(value, g = 1 AND keep) AS cs
        FROM (
            -- calls: sampled as they are read (the counts come from calls_n)
            SELECT pairs.1 AS item, pairs.2 AS value, g, 1 AS keep FROM (
                SELECT
                    [('input_tokens', toFloat64(InputTokens)), ('output_tokens', toFloat64(OutputTokens)),
                     ('answer_bytes', toFloat64(length(OutputMessages))), ('latency_ms', Duration / 1e6)] AS all_pairs,
                    multiIf(Timestamp < baseline_end, 0, Timestamp >= current_start, 1, -1) AS g
                FROM {{db}}.llm_calls
                WHERE Timestamp >= baseline_start AND Timestamp < current_end AND {{filters}} AND NOT IsError
                    AND cityHash64(SpanId) < hash_range * least(1, per_window / greatest(
                        if(Timestamp < baseline_end, calls_n.1, calls_n.2), 1))
            )
            ARRAY JOIN all_pairs AS pairs
            WHERE g >= 0
            UNION ALL
            -- scores: every row counted, a sample kept
            SELECT concat('score:', toString(Metric)) AS item, toFloat64(Score) AS value,
                multiIf(SpanTimestamp < baseline_end, 0, SpanTimestamp >= current_start, 1, -1) AS g,
                cityHash64(SpanId) < hash_range * least(1, per_window / greatest(
                    if(g = 0, scores_per_metric.1, scores_per_metric.2), 1)) AS keep
            FROM {{db}}.evaluations FINAL
            WHERE SpanTimestamp >= baseline_start AND SpanTimestamp < current_end AND {{filters}} AND Status = 'ok'
                AND Scale = '1-5' AND g >= 0
        )
        GROUP BY item
    )
)
ORDER BY item
