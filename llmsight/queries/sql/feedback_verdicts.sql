-- Each call in the window that people gave feedback on: the latest score (0 bad .. 1 good) per call,
-- how many times it was rated, and how many ratings were negative (score below 0.5). Feedback names
-- its call by span id, or by the provider's response id matched to the call's gen_ai.response.id
-- (call_response_ids, keyed by it).
-- Feedback comes after its call, so only feedback from the window's start on is read. The feedback
-- is read first (it is small) and the calls are looked up by its span ids (llm_calls' SpanId bloom
-- filter), so a month's window does not build a set of every call's id.
WITH rated AS (
    SELECT if(f.CallSpanId != '', f.CallSpanId, r.SpanId) AS call_span, f.Score AS Score, f.Timestamp AS Timestamp
    FROM {{db}}.feedback AS f FINAL
    LEFT JOIN (
        SELECT ResponseId AS response_id, any(SpanId) AS SpanId
        FROM {{db}}.call_response_ids
        WHERE {{window(Timestamp)}} AND ResponseId IN (
            SELECT ResponseId FROM {{db}}.feedback WHERE ResponseId != '' AND Timestamp >= fromUnixTimestamp64Milli({window_start_ms:Int64}))
        GROUP BY response_id
    ) AS r ON f.ResponseId = r.response_id AND f.ResponseId != ''
    WHERE f.Timestamp >= fromUnixTimestamp64Milli({window_start_ms:Int64})
)
SELECT
    call_span AS span_id,
    argMax(Score, Timestamp) AS person_score,
    count() AS ratings,
    countIf(Score < 0.5) AS negative
FROM rated
WHERE call_span != ''
    AND call_span IN (
        SELECT SpanId FROM {{db}}.llm_calls
        WHERE {{window(Timestamp)}} AND {{filters}} AND SpanId IN (SELECT call_span FROM rated WHERE call_span != ''))
GROUP BY call_span
