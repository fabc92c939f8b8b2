-- The calls `llmsight dataset export` turns into dataset rows, newest first (then by span id, so a
-- re-run over the same data picks the same calls), with why each was picked:
-- failing:<metric> (a judge score below its per-call threshold, of the {{metrics}} if any),
-- negative_feedback (people's latest rating below 0.5: feedback_verdicts, so feedback that names
-- its call by response id counts too), or recent when neither {failing} nor {negative_feedback} is
-- set (every call in the window). Embeddings, tool and retrieval spans (sampling.SKIPPED_OPERATIONS,
-- as in sampled_calls) are no question-and-answer case. Only light columns are read here, for at most
-- {limit} calls; their content is read by span id afterwards (dataset_call_content).
WITH
    failing AS (
        SELECT SpanId AS span_id, groupUniqArray(concat('failing:', toString(Metric))) AS reasons
        FROM {{db}}.evaluations FINAL
        WHERE {failing:UInt8} = 1 AND {{window(SpanTimestamp)}} AND {{filters}}
            AND {{metrics}}
            AND Status = 'ok' AND Score < {{threshold}}
        GROUP BY span_id
    ),
    negative AS (
        SELECT span_id, ['negative_feedback'] AS reasons
        FROM ({{include(feedback_verdicts)}})
        WHERE {negative_feedback:UInt8} = 1 AND person_score < 0.5
    ),
    picked AS (
        SELECT span_id, arrayDistinct(arrayFlatten(groupArray(reasons))) AS reasons
        FROM (SELECT span_id, reasons FROM failing UNION ALL SELECT span_id, reasons FROM negative)
        GROUP BY span_id
    )
SELECT
    c.SpanId AS span_id,
    c.TraceId AS trace_id,
    toUnixTimestamp64Nano(c.Timestamp) AS timestamp_ns,
    toString(c.ServiceName) AS service,
    if(empty(p.reasons), ['recent'], p.reasons) AS reasons
FROM {{db}}.llm_calls AS c
LEFT ANY JOIN picked AS p ON c.SpanId = p.span_id
WHERE {{window(Timestamp)}} AND {{filters}}
    AND toString(Operation) NOT IN ('embeddings', 'create_embeddings', 'execute_tool', 'retrieval')
    AND (({failing:UInt8} = 0 AND {negative_feedback:UInt8} = 0) OR c.SpanId IN (SELECT span_id FROM picked))
ORDER BY c.Timestamp DESC, c.SpanId
LIMIT 1 BY c.SpanId
LIMIT {limit:UInt32}
