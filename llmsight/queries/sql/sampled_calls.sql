-- Calls in the window the evaluator's sample picks (the same predicate as sampling.py: a hash of the
-- span id, so every process agrees) and could judge (not failed, not embeddings/tools/retrieval):
-- the denominator of judge coverage.
SELECT uniqExact(SpanId) AS sampled_calls
FROM {{db}}.llm_calls
WHERE {{window(Timestamp)}} AND {{filters}}
    AND cityHash64(SpanId) % 10000 < {sample_basis_points:UInt32}
    AND StatusCode != 'Error'
    AND toString(Operation) NOT IN ('embeddings', 'create_embeddings', 'execute_tool', 'retrieval')
