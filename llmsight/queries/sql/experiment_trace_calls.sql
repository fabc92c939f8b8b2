-- The LLM calls in the traces of an experiment's rows, oldest first: where the judge finds the context
-- a target used when it returned none (the app's llmsight.context documents or its retrieval spans).
SELECT
    Timestamp, TraceId, SpanId, ServiceName, Environment, Model, Provider, Operation, Prompt, Completion,
    InputMessages, OutputMessages, SystemInstructions, ContextDocuments, GroundTruth
FROM {{db}}.llm_calls
WHERE Timestamp >= fromUnixTimestamp64Nano({since_ns:Int64}) AND TraceId IN {traces:Array(String)}
ORDER BY TraceId, Timestamp, SpanId
