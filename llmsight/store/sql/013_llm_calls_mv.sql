-- v3, replaces 009: derive llm_calls from spans. Reads the current GenAI semantic conventions and
-- maps the older names (gen_ai.system, gen_ai.usage.prompt_tokens / completion_tokens),
-- OpenLLMetry's and OpenLIT's content styles (indexed gen_ai.prompt.N.* / gen_ai.completion.N.*,
-- plain gen_ai.prompt / gen_ai.completion attributes or span events), and Arize OpenInference
-- spans (openinference.span.kind LLM / EMBEDDING, llm.* and embedding.* attributes, no gen_ai.*)
-- onto the same columns; docs/attributes.md has the table. Retrieval and tool-execution spans are
-- not model calls and are left out.
-- What the compat suite (tests/compat/test_peers.py, each peer against the fake OpenAI server) found:
-- - the official instrumentation (opentelemetry-instrumentation-openai-v2 2.4b0) writes error.type as
--   the class's repr, "<class 'openai.RateLimitError'>": stored as RateLimitError like everyone's;
-- - it writes no gen_ai.response.finish_reasons on streams, but its output messages carry each
--   finish_reason: FinishReasons falls back to them;
-- - OpenLLMetry marks every stream chunk with a gen_ai.content.completion.chunk span event: the first
--   one gives TimeToFirstChunk, as OpenInference's First Token Stream Event does;
-- - OpenLLMetry records an embeddings call's inputs as one user message each, so Prompt (the last
--   user message) held only the last input: an embeddings call's user messages are merged into one.
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.llm_calls_mv TO ${db}.llm_calls AS
WITH
    SpanAttributes AS a,
    a['openinference.span.kind'] AS oi_kind,
    if(a['llm.invocation_parameters'] != '', a['llm.invocation_parameters'], a['embedding.invocation_parameters']) AS oi_params,
    if(a['gen_ai.operation.name'] != '', a['gen_ai.operation.name'],
       multiIf(a['llm.request.type'] = 'completion', 'text_completion',
               a['llm.request.type'] = 'embedding', 'embeddings',
               oi_kind = 'EMBEDDING', 'embeddings',
               'chat')) AS op,
    arraySort(arrayDistinct(arrayMap(k -> toUInt32OrZero(extract(k, '^gen_ai\\.prompt\\.(\\d+)\\.')),
        arrayFilter(k -> startsWith(k, 'gen_ai.prompt.'), mapKeys(a))))) AS prompt_idx,
    arraySort(arrayDistinct(arrayMap(k -> toUInt32OrZero(extract(k, '^gen_ai\\.completion\\.(\\d+)\\.')),
        arrayFilter(k -> startsWith(k, 'gen_ai.completion.'), mapKeys(a))))) AS completion_idx,
    if(a['gen_ai.prompt'] != '', a['gen_ai.prompt'],
       arrayFirst((attrs, name) -> name = 'gen_ai.content.prompt', Events.Attributes, Events.Name)['gen_ai.prompt']) AS plain_prompt,
    if(a['gen_ai.completion'] != '', a['gen_ai.completion'],
       arrayFirst((attrs, name) -> name = 'gen_ai.content.completion', Events.Attributes, Events.Name)['gen_ai.completion']) AS plain_completion,
    -- OpenInference messages, [input JSON, output JSON]: llm.{input,output}_messages.N.message.{role,
    -- content, contents.M.message_content.text, tool_calls.K.tool_call.{id,function.name,
    -- function.arguments}, tool_call_id} become semconv messages with text, tool_call and
    -- tool_call_response parts, as llmsight's own instrumentation writes them.
    if(oi_kind = '', ['', ''], arrayMap(base -> arrayMap(prefixes -> if(empty(prefixes), '',
        concat('[', arrayStringConcat(arrayMap(p -> concat(
            '{"role":', toJSONString(if(a[concat(p, 'role')] != '', a[concat(p, 'role')],
                                        if(base = 'llm.output_messages.', 'assistant', 'user'))),
            ',"parts":[', arrayStringConcat(arrayConcat(
                arrayMap(text -> if(a[concat(p, 'role')] = 'tool',
                        concat('{"type":"tool_call_response","id":', toJSONString(a[concat(p, 'tool_call_id')]),
                               ',"response":', toJSONString(text), '}'),
                        concat('{"type":"text","content":', toJSONString(text), '}')),
                    arrayFilter(text -> text != '', [if(a[concat(p, 'content')] != '', a[concat(p, 'content')],
                        arrayStringConcat(arrayMap(q -> a[concat(q, 'message_content.text')],
                            arrayMap(j -> concat(p, 'contents.', toString(j), '.'),
                                arraySort(arrayDistinct(arrayMap(k -> toUInt32OrZero(splitByChar('.', substring(k, length(p) + 10))[1]),
                                    arrayFilter(k -> startsWith(k, concat(p, 'contents.')) AND endsWith(k, '.message_content.text'), mapKeys(a))))))),
                            '\n'))])),
                arrayMap(t -> concat('{"type":"tool_call","id":', toJSONString(a[concat(t, 'id')]),
                        ',"name":', toJSONString(a[concat(t, 'function.name')]),
                        ',"arguments":', if(isValidJSON(a[concat(t, 'function.arguments')]), a[concat(t, 'function.arguments')],
                                            toJSONString(a[concat(t, 'function.arguments')])), '}'),
                    arrayMap(j -> concat(p, 'tool_calls.', toString(j), '.tool_call.'),
                        arraySort(arrayDistinct(arrayMap(k -> toUInt32OrZero(splitByChar('.', substring(k, length(p) + 12))[1]),
                            arrayFilter(k -> startsWith(k, concat(p, 'tool_calls.')), mapKeys(a)))))))), ','),
            ']', if(base = 'llm.output_messages.' AND a['llm.finish_reason'] != '',
                    concat(',"finish_reason":', toJSONString(a['llm.finish_reason'])), ''), '}'), prefixes), ','), ']')),
        [arrayMap(i -> concat(base, toString(i), '.message.'),
            arraySort(arrayDistinct(arrayMap(k -> toUInt32OrZero(splitByChar('.', substring(k, length(base) + 1))[1]),
                arrayFilter(k -> startsWith(k, base), mapKeys(a))))))])[1],
        ['llm.input_messages.', 'llm.output_messages.'])) AS oi_messages,
    -- OpenInference embedding inputs (embedding.embeddings.N.embedding.text): one user message, a text part each.
    arrayMap(i -> a[concat('embedding.embeddings.', toString(i), '.embedding.text')],
        arraySort(arrayDistinct(arrayMap(k -> toUInt32OrZero(extract(k, '^embedding\\.embeddings\\.(\\d+)\\.embedding\\.text$$')),
            arrayFilter(k -> startsWith(k, 'embedding.embeddings.') AND endsWith(k, '.embedding.text'), mapKeys(a)))))) AS oi_embedding_texts,
    multiIf(
        a['gen_ai.input.messages'] != '' AND op = 'embeddings' AND length(JSONExtractArrayRaw(a['gen_ai.input.messages'])) > 1,
            concat('[{"role":"user","parts":[', arrayStringConcat(arrayFlatten(arrayMap(m -> JSONExtractArrayRaw(m, 'parts'),
                JSONExtractArrayRaw(a['gen_ai.input.messages']))), ','), ']}]'),
        a['gen_ai.input.messages'] != '', a['gen_ai.input.messages'],
        length(prompt_idx) > 0, concat('[', arrayStringConcat(arrayMap(i -> concat(
            '{"role":', toJSONString(if(a[concat('gen_ai.prompt.', toString(i), '.role')] = '', 'user', a[concat('gen_ai.prompt.', toString(i), '.role')])),
            ',"parts":[{"type":"text","content":', toJSONString(a[concat('gen_ai.prompt.', toString(i), '.content')]), '}]}'), prompt_idx), ','), ']'),
        plain_prompt != '', concat('[{"role":"user","parts":[{"type":"text","content":', toJSONString(plain_prompt), '}]}]'),
        oi_messages[1] != '', oi_messages[1],
        notEmpty(oi_embedding_texts), concat('[{"role":"user","parts":[', arrayStringConcat(
            arrayMap(t -> concat('{"type":"text","content":', toJSONString(t), '}'), oi_embedding_texts), ','), ']}]'),
        -- input.value is the raw request (JSON) unless its mime type says it is text
        oi_kind != '' AND a['input.value'] != '' AND a['input.mime_type'] != 'application/json',
            concat('[{"role":"user","parts":[{"type":"text","content":', toJSONString(a['input.value']), '}]}]'),
        '') AS input_messages,
    multiIf(
        a['gen_ai.output.messages'] != '', a['gen_ai.output.messages'],
        length(completion_idx) > 0, concat('[', arrayStringConcat(arrayMap(i -> concat(
            '{"role":', toJSONString(if(a[concat('gen_ai.completion.', toString(i), '.role')] = '', 'assistant', a[concat('gen_ai.completion.', toString(i), '.role')])),
            ',"parts":[{"type":"text","content":', toJSONString(a[concat('gen_ai.completion.', toString(i), '.content')]),
            '}],"finish_reason":', toJSONString(a[concat('gen_ai.completion.', toString(i), '.finish_reason')]), '}'), completion_idx), ','), ']'),
        plain_completion != '', concat('[{"role":"assistant","parts":[{"type":"text","content":', toJSONString(plain_completion), '}]}]'),
        oi_messages[2] != '', oi_messages[2],
        oi_kind = 'LLM' AND a['output.value'] != '' AND a['output.mime_type'] != 'application/json',
            concat('[{"role":"assistant","parts":[{"type":"text","content":', toJSONString(a['output.value']), '}]}]'),
        '') AS output_messages,
    arrayFirst(v -> v != '', [a['gen_ai.response.finish_reasons'], a['gen_ai.response.finish_reason'],
                              a['llm.response.finish_reason']]) AS finish_raw,
    multiIf(a['error.type'] != '', a['error.type'],
            StatusCode = 'Error' AND arrayFirst((attrs, name) -> name = 'exception', Events.Attributes, Events.Name)['exception.type'] != '',
                arrayFirst((attrs, name) -> name = 'exception', Events.Attributes, Events.Name)['exception.type'],
            StatusCode = 'Error', 'error', '') AS error_any,
    if(match(error_any, '^<class \'[^\']+\'>$$'), extract(error_any, '^<class \'([^\']+)\'>$$'), error_any) AS error_raw,
    -- OpenInference marks a stream's first chunk with this span event, OpenLLMetry each chunk with one
    arrayFirst((ts, name) -> name IN ('First Token Stream Event', 'gen_ai.content.completion.chunk'),
        Events.Timestamp, Events.Name) AS oi_first_token
SELECT
    Timestamp,
    TraceId,
    SpanId,
    ParentSpanId,
    SpanName,
    ServiceName,
    if(ResourceAttributes['deployment.environment.name'] != '', ResourceAttributes['deployment.environment.name'],
       ResourceAttributes['deployment.environment']) AS Environment,
    op AS Operation,
    arrayFirst(v -> v != '', [a['gen_ai.provider.name'], a['gen_ai.system'], a['llm.provider'], a['llm.system']]) AS Provider,
    arrayFirst(v -> v != '', [a['gen_ai.request.model'], a['llm.request.model_name'],
                              if(oi_kind != '', JSONExtractString(oi_params, 'model'), '')]) AS RequestModel,
    arrayFirst(v -> v != '', [a['gen_ai.response.model'], a['llm.response.model_name'], a['llm.model_name'],
                              a['embedding.model_name']]) AS ResponseModel,
    if(ResponseModel != '', ResponseModel, RequestModel) AS Model,
    toUInt64OrZero(arrayFirst(v -> v != '', [a['gen_ai.usage.input_tokens'], a['gen_ai.usage.prompt_tokens'],
                                             a['llm.token_count.prompt']])) AS InputTokens,
    toUInt64OrZero(arrayFirst(v -> v != '', [a['gen_ai.usage.output_tokens'], a['gen_ai.usage.completion_tokens'],
                                             a['llm.token_count.completion']])) AS OutputTokens,
    toUInt64OrZero(arrayFirst(v -> v != '', [a['gen_ai.usage.cache_read.input_tokens'], a['gen_ai.usage.cache_read_input_tokens'],
                                             a['llm.token_count.prompt_details.cache_read']])) AS CacheReadTokens,
    toUInt64OrZero(arrayFirst(v -> v != '', [a['gen_ai.usage.reasoning.output_tokens'], a['gen_ai.usage.reasoning_tokens'],
                                             a['llm.usage.reasoning_tokens'],
                                             a['llm.token_count.completion_details.reasoning']])) AS ReasoningTokens,
    a['llmsight.usage.partial'] = 'true' AS UsagePartial,
    (a['gen_ai.request.stream'] = 'true' OR a['gen_ai.is_streaming'] = 'true' OR a['llm.is_streaming'] = 'true'
     OR (oi_kind != '' AND JSONExtractBool(oi_params, 'stream'))) AS Stream,
    Duration,
    multiIf(a['gen_ai.response.time_to_first_chunk'] != '', toFloat64OrNull(a['gen_ai.response.time_to_first_chunk']),
            a['gen_ai.server.time_to_first_token'] != '', toFloat64OrNull(a['gen_ai.server.time_to_first_token']),
            hasAny(Events.Name, ['First Token Stream Event', 'gen_ai.content.completion.chunk']),
                toFloat64((toUnixTimestamp64Nano(oi_first_token) - toUnixTimestamp64Nano(Timestamp)) / 1e9),
            NULL) AS TimeToFirstChunk,
    StatusCode,
    StatusMessage,
    -- One form of error type: the short class name (the official instrumentation and the exception
    -- event write openai.RateLimitError, llmsight, OpenLLMetry and OpenLIT RateLimitError).
    if(match(error_raw, '^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)+$$'),
       splitByChar('.', error_raw)[-1], error_raw) AS ErrorType,
    StatusCode = 'Error' AS IsError,
    -- OpenLLMetry writes tool_call where the API and everyone else say tool_calls
    arrayMap(r -> if(r = 'tool_call', 'tool_calls', r),
        multiIf(startsWith(finish_raw, '['), JSONExtract(finish_raw, 'Array(String)'),
                finish_raw != '', [finish_raw],
                a['gen_ai.completion.0.finish_reason'] != '', [a['gen_ai.completion.0.finish_reason']],
                a['llm.finish_reason'] != '', [a['llm.finish_reason']],
                arrayFilter(r -> r != '', arrayMap(m -> JSONExtractString(m, 'finish_reason'),
                    JSONExtractArrayRaw(output_messages))))) AS FinishReasons,
    a['gen_ai.system_instructions'] AS SystemInstructions,
    input_messages AS InputMessages,
    output_messages AS OutputMessages,
    a['llmsight.context.documents'] AS ContextDocuments,
    a['llmsight.ground_truth'] AS GroundTruth,
    a['session.id'] AS SessionId,
    if(a['user.id'] != '', a['user.id'], a['enduser.id']) AS UserId
FROM ${db}.otel_traces
WHERE (a['gen_ai.operation.name'] != '' OR a['gen_ai.provider.name'] != '' OR a['gen_ai.system'] != ''
       OR a['openinference.span.kind'] IN ('LLM', 'EMBEDDING'))
  AND op NOT IN ('retrieval', 'execute_tool')
