-- v8: content log events -> llm_call_events, each layout converted to the messages llm_calls holds:
-- - gen_ai.client.inference.operation.details (the current GenAI conventions; the official
--   instrumentation with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=EVENT_ONLY or
--   SPAN_AND_EVENT): gen_ai.input.messages / gen_ai.output.messages / gen_ai.system_instructions
--   attributes, already semconv messages (an array attribute is stored as its JSON);
-- - per-message events (the older conventions; OpenLLMetry with use_attributes=False, the official
--   instrumentation before util-genai 1.0): gen_ai.{system,user,assistant,tool}.message with a body
--   {content, tool_calls, id} and gen_ai.choice with {index, finish_reason, message: {role, content,
--   tool_calls}} (OpenLLMetry puts a choice's tool_calls beside message). Older SDKs name the event
--   in an event.name attribute instead of EventName.
-- Records without a span id cannot be joined to their call and are left out, as are events that
-- carry no content (capture off, or an embeddings "choice" holding the vector).
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.llm_call_events_mv TO ${db}.llm_call_events AS
WITH
    if(EventName != '', EventName, LogAttributes['event.name']) AS name,
    name = 'gen_ai.client.inference.operation.details' AS details,
    if(name = 'gen_ai.choice', JSONExtractRaw(Body, 'message'), Body) AS msg,
    multiIf(name = 'gen_ai.choice', if(JSONExtractString(msg, 'role') != '', JSONExtractString(msg, 'role'), 'assistant'),
            JSONExtractString(msg, 'role') != '', JSONExtractString(msg, 'role'),
            extract(name, '^gen_ai\\.([a-z_]+)\\.message$$')) AS role,
    -- content is a string, or a list of parts ({"type": "text", "text": ...}) for multimodal messages
    multiIf(JSONType(msg, 'content') = 'String', [JSONExtractString(msg, 'content')],
            JSONType(msg, 'content') = 'Array',
                arrayMap(p -> JSONExtractString(p, 'text'), JSONExtractArrayRaw(msg, 'content')),
            []) AS texts_all,
    arrayFilter(t -> t != '', texts_all) AS texts,
    if(JSONType(msg, 'tool_calls') = 'Array', JSONExtractArrayRaw(msg, 'tool_calls'),
       JSONExtractArrayRaw(Body, 'tool_calls')) AS tool_calls,
    arrayConcat(
        if(role = 'tool',
           arrayMap(t -> concat('{"type":"tool_call_response","id":', toJSONString(JSONExtractString(msg, 'id')),
                                ',"response":', toJSONString(t), '}'), texts),
           arrayMap(t -> concat('{"type":"text","content":', toJSONString(t), '}'), texts)),
        arrayMap(t -> concat('{"type":"tool_call","id":', toJSONString(JSONExtractString(t, 'id')),
                             ',"name":', toJSONString(JSONExtractString(t, 'function', 'name')),
                             ',"arguments":', if(isValidJSON(JSONExtractString(t, 'function', 'arguments')),
                                                 JSONExtractString(t, 'function', 'arguments'),
                                                 toJSONString(JSONExtractString(t, 'function', 'arguments'))), '}'),
            tool_calls)) AS parts,
    if(details OR empty(parts), '',
       concat('[{"role":', toJSONString(role), ',"parts":[', arrayStringConcat(parts, ','), ']',
              if(name = 'gen_ai.choice', concat(',"finish_reason":', toJSONString(JSONExtractString(Body, 'finish_reason'))), ''),
              '}]')) AS one_message
SELECT
    Timestamp,
    TraceId,
    SpanId,
    name AS EventName,
    if(details, LogAttributes['gen_ai.system_instructions'], '') AS SystemInstructions,
    multiIf(details, LogAttributes['gen_ai.input.messages'], name != 'gen_ai.choice', one_message, '') AS InputMessages,
    multiIf(details, LogAttributes['gen_ai.output.messages'], name = 'gen_ai.choice', one_message, '') AS OutputMessages
FROM ${db}.otel_logs
WHERE SpanId != ''
  AND (details OR name = 'gen_ai.choice' OR match(name, '^gen_ai\\.(system|user|assistant|tool)\\.message$$'))
  AND (SystemInstructions != '' OR InputMessages != '' OR OutputMessages != '')
