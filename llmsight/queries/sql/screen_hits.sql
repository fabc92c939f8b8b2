-- The pre-screen's hits per rule (call_screens, schema v10): calls flagged on ingest, before any
-- sampling, each of which the evaluator judges with the safety metrics. A call with two hits counts
-- under both. The flagged calls (few) are looked up in llm_calls by span id (its bloom filter), not
-- the other way round: a month's window would build a set of every call's id (1.15 s at 10M calls).
SELECT
    toString(hit) AS hit,
    count() AS calls
FROM {{db}}.call_screens FINAL
ARRAY JOIN Hits AS hit
WHERE {{window(Timestamp)}}
    AND SpanId IN (
        SELECT SpanId FROM {{db}}.llm_calls
        WHERE {{window(Timestamp)}} AND {{filters}}
            AND SpanId IN (SELECT SpanId FROM {{db}}.call_screens WHERE {{window(Timestamp)}}))
GROUP BY hit
ORDER BY calls DESC, hit
