-- Drift of category mixes between a baseline window [baseline_start, baseline_end) and a current
-- window [current_start, current_end): per item and category, the calls in each window (the
-- question ``drift`` turns them into a population stability index and a chi-squared test).
-- Items: model, finish_reason (each reason of answered calls), outcome (ok / error), and for pass/fail
-- metrics verdict:<metric> (pass / fail).
WITH
    fromUnixTimestamp64Milli({baseline_start_ms:Int64}) AS baseline_start,
    fromUnixTimestamp64Milli({baseline_end_ms:Int64}) AS baseline_end,
    fromUnixTimestamp64Milli({current_start_ms:Int64}) AS current_start,
    fromUnixTimestamp64Milli({current_end_ms:Int64}) AS current_end
SELECT item, category, sum(b) AS baseline, sum(c) AS current
FROM (
    -- calls are counted per (model, outcome, finish reasons) first, a few groups, then split into items
    SELECT pairs.1 AS item, pairs.2 AS category, b, c FROM (
        SELECT
            arrayConcat([('model', toString(Model)), ('outcome', if(IsError, 'error', 'ok'))],
                arrayMap(r -> ('finish_reason', toString(r)), if(IsError, [], FinishReasons))) AS all_pairs,
            b, c
        FROM (
            SELECT Model, IsError, FinishReasons,
                countIf(Timestamp < baseline_end) AS b, countIf(Timestamp >= current_start) AS c
            FROM {{db}}.llm_calls
            WHERE Timestamp >= baseline_start AND Timestamp < current_end AND {{filters}}
            GROUP BY Model, IsError, FinishReasons
        )
    )
    ARRAY JOIN all_pairs AS pairs
    UNION ALL
    SELECT concat('verdict:', toString(Metric)) AS item, if(Score >= 1, 'pass', 'fail') AS category,
        toUInt64(SpanTimestamp < baseline_end) AS b, toUInt64(SpanTimestamp >= current_start) AS c
    FROM {{db}}.evaluations FINAL
    WHERE SpanTimestamp >= baseline_start AND SpanTimestamp < current_end AND {{filters}} AND Status = 'ok'
        AND Scale = 'binary'
)
GROUP BY item, category
HAVING baseline + current > 0
ORDER BY item, category
