-- Judge coverage: the calls in the window the evaluator's sample picks (the same predicate as
-- sampling.py: a hash of the span id, so every process agrees) and could judge (not failed, not
-- embeddings/tools/retrieval), and how many of those have a verdict (a score, not applicable or a
-- parse error; not a judge error) for every one of the monitor's metrics.
SELECT
    uniqExact(SpanId) AS sampled_calls,
    uniqExactIf(SpanId, SpanId IN (
        SELECT SpanId
        FROM {{db}}.evaluations FINAL
        WHERE {{window(SpanTimestamp)}} AND {{filters}} AND {{metrics}} AND Status != 'judge_error'
        GROUP BY SpanId
        HAVING uniqExact(Metric) >= {metric_count:UInt32}
    )) AS judged_calls
FROM {{db}}.llm_calls
WHERE {{window(Timestamp)}} AND {{filters}}
    AND cityHash64(SpanId) % 10000 < {sample_basis_points:UInt32}
    AND StatusCode != 'Error'
    AND toString(Operation) NOT IN ('embeddings', 'create_embeddings', 'execute_tool', 'retrieval')
