-- What `llmsight dataset export` builds a row from: the evaluator's columns of each picked call
-- (sampling.CALL_COLUMNS; Prompt and Completion are llm_calls' ALIASes), read by span id (the
-- SpanId bloom filter) within the window the calls were picked from. A replayed export can store a
-- call twice: one row per span.
SELECT
    Timestamp, TraceId, SpanId, ServiceName, Environment, Model, Provider, Operation,
    Prompt, Completion, InputMessages, OutputMessages, SystemInstructions, ContextDocuments, GroundTruth
FROM {{db}}.llm_calls
WHERE {{window(Timestamp)}} AND SpanId IN {span_ids:Array(String)}
ORDER BY Timestamp DESC, SpanId
LIMIT 1 BY SpanId
