-- Drift of category mixes between a baseline window [window start, baseline_end) and a current
-- window [current_start, window end): per item and category, the calls in each window. The caller
-- turns the counts into a population stability index and a chi-squared test (llmsight.evaluator.drift).
-- Items: model, finish_reason (each reason of answered calls), outcome (ok / error), and for pass/fail
-- metrics verdict:<metric> (pass / fail).
WITH
    fromUnixTimestamp64Milli({baseline_end_ms:Int64}) AS baseline_end,
    fromUnixTimestamp64Milli({current_start_ms:Int64}) AS current_start
SELECT item, category, countIf(g = 0) AS baseline, countIf(g = 1) AS current
FROM (
    SELECT pairs.1 AS item, pairs.2 AS category, g FROM (
        SELECT
            arrayConcat([('model', toString(Model)), ('outcome', if(IsError, 'error', 'ok'))],
                arrayMap(r -> ('finish_reason', toString(r)), if(IsError, [], FinishReasons))) AS all_pairs,
            multiIf(Timestamp < baseline_end, 0, Timestamp >= current_start, 1, -1) AS g
        FROM {{db}}.llm_calls
        WHERE {{window(Timestamp)}} AND {{filters}}
    )
    ARRAY JOIN all_pairs AS pairs
    WHERE g >= 0
    UNION ALL
    SELECT concat('verdict:', toString(Metric)) AS item, if(Score >= 1, 'pass', 'fail') AS category,
        multiIf(SpanTimestamp < baseline_end, 0, SpanTimestamp >= current_start, 1, -1) AS g
    FROM {{db}}.evaluations FINAL
    WHERE {{window(SpanTimestamp)}} AND {{filters}} AND Status = 'ok' AND Scale = 'binary' AND g >= 0
)
GROUP BY item, category
ORDER BY item, category
