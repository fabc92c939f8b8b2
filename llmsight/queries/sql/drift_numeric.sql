-- Drift of numeric distributions between a baseline window [window start, baseline_end) and a
-- current window [current_start, window end): per item, the population stability index over the
-- baseline's deciles (0.0001 floor on empty buckets) and the two-sample Kolmogorov-Smirnov test.
-- Items: input and output tokens, answer length (characters) and latency of answered calls, and
-- each metric's judge scores (score:<metric>, ok rows only).
WITH
    fromUnixTimestamp64Milli({baseline_end_ms:Int64}) AS baseline_end,
    fromUnixTimestamp64Milli({current_start_ms:Int64}) AS current_start,
    observed AS (
        SELECT item, value, g FROM (
            SELECT
                [('input_tokens', toFloat64(InputTokens)), ('output_tokens', toFloat64(OutputTokens)),
                 ('answer_length', toFloat64(lengthUTF8(Completion))), ('latency_ms', Duration / 1e6)] AS pairs,
                multiIf(Timestamp < baseline_end, 0, Timestamp >= current_start, 1, -1) AS g
            FROM {{db}}.llm_calls
            WHERE {{window(Timestamp)}} AND {{filters}} AND NOT IsError
        )
        ARRAY JOIN pairs.1 AS item, pairs.2 AS value
        WHERE g >= 0
        UNION ALL
        SELECT concat('score:', toString(Metric)) AS item, toFloat64(Score) AS value,
            multiIf(SpanTimestamp < baseline_end, 0, SpanTimestamp >= current_start, 1, -1) AS g
        FROM {{db}}.evaluations FINAL
        WHERE {{window(SpanTimestamp)}} AND {{filters}} AND Status = 'ok' AND Scale = '1-5' AND g >= 0
    ),
    edges AS (
        SELECT item, arrayDistinct(quantilesExactIf(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)(value, g = 0)) AS e
        FROM observed GROUP BY item
    ),
    buckets AS (
        SELECT o.item AS item, arrayCount(x -> o.value > x, edges.e) AS bucket,
            countIf(o.g = 0) AS b, countIf(o.g = 1) AS c
        FROM observed AS o INNER JOIN edges ON o.item = edges.item
        GROUP BY item, bucket
    ),
    psi AS (
        SELECT item, sum((greatest(c / ct, 0.0001) - greatest(b / bt, 0.0001))
                         * ln(greatest(c / ct, 0.0001) / greatest(b / bt, 0.0001))) AS psi
        FROM (SELECT item, b, c, sum(b) OVER (PARTITION BY item) AS bt, sum(c) OVER (PARTITION BY item) AS ct
              FROM buckets)
        WHERE bt > 0 AND ct > 0
        GROUP BY item
    ),
    tests AS (
        SELECT item, countIf(g = 0) AS baseline_n, countIf(g = 1) AS current_n,
            avgIf(value, g = 0) AS baseline_mean, avgIf(value, g = 1) AS current_mean,
            quantileExactIf(0.5)(value, g = 0) AS baseline_median, quantileExactIf(0.5)(value, g = 1) AS current_median
        FROM observed GROUP BY item
    ),
    -- the test refuses an empty sample, so it runs only on items seen in both windows
    ks AS (
        SELECT item, kolmogorovSmirnovTest('two-sided')(value, toUInt8(g)) AS ks
        FROM observed
        WHERE item IN (SELECT item FROM observed GROUP BY item HAVING countIf(g = 0) > 0 AND countIf(g = 1) > 0)
        GROUP BY item
    )
SELECT t.item AS item, baseline_n, current_n, baseline_mean, current_mean, baseline_median, current_median,
    if(p.item = '', nan, p.psi) AS psi, if(k.item = '', nan, k.ks.1) AS ks_statistic,
    if(k.item = '', nan, k.ks.2) AS ks_pvalue
FROM tests AS t
LEFT JOIN psi AS p ON t.item = p.item
LEFT JOIN ks AS k ON t.item = k.item
ORDER BY item
