-- Derive llm_calls from spans. Reads the current GenAI semantic conventions and maps the older
-- names (gen_ai.system, gen_ai.usage.prompt_tokens / completion_tokens) and OpenLLMetry's and
-- OpenLIT's content styles (indexed gen_ai.prompt.N.* / gen_ai.completion.N.*, plain
-- gen_ai.prompt / gen_ai.completion attributes or span events) onto the same columns.
-- Retrieval and tool-execution spans are not model calls and are left out.
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.llm_calls_mv TO ${db}.llm_calls AS
WITH
    SpanAttributes AS a,
    if(a['gen_ai.operation.name'] != '', a['gen_ai.operation.name'],
       multiIf(a['llm.request.type'] = 'completion', 'text_completion',
               a['llm.request.type'] = 'embedding', 'embeddings',
               'chat')) AS op,
    arraySort(arrayDistinct(arrayMap(k -> toUInt32OrZero(extract(k, '^gen_ai\\.prompt\\.(\\d+)\\.')),
        arrayFilter(k -> startsWith(k, 'gen_ai.prompt.'), mapKeys(a))))) AS prompt_idx,
    arraySort(arrayDistinct(arrayMap(k -> toUInt32OrZero(extract(k, '^gen_ai\\.completion\\.(\\d+)\\.')),
        arrayFilter(k -> startsWith(k, 'gen_ai.completion.'), mapKeys(a))))) AS completion_idx,
    if(a['gen_ai.prompt'] != '', a['gen_ai.prompt'],
       arrayFirst((attrs, name) -> name = 'gen_ai.content.prompt', Events.Attributes, Events.Name)['gen_ai.prompt']) AS plain_prompt,
    if(a['gen_ai.completion'] != '', a['gen_ai.completion'],
       arrayFirst((attrs, name) -> name = 'gen_ai.content.completion', Events.Attributes, Events.Name)['gen_ai.completion']) AS plain_completion,
    multiIf(
        a['gen_ai.input.messages'] != '', a['gen_ai.input.messages'],
        length(prompt_idx) > 0, concat('[', arrayStringConcat(arrayMap(i -> concat(
            '{"role":', toJSONString(if(a[concat('gen_ai.prompt.', toString(i), '.role')] = '', 'user', a[concat('gen_ai.prompt.', toString(i), '.role')])),
            ',"parts":[{"type":"text","content":', toJSONString(a[concat('gen_ai.prompt.', toString(i), '.content')]), '}]}'), prompt_idx), ','), ']'),
        plain_prompt != '', concat('[{"role":"user","parts":[{"type":"text","content":', toJSONString(plain_prompt), '}]}]'),
        '') AS input_messages,
    multiIf(
        a['gen_ai.output.messages'] != '', a['gen_ai.output.messages'],
        length(completion_idx) > 0, concat('[', arrayStringConcat(arrayMap(i -> concat(
            '{"role":', toJSONString(if(a[concat('gen_ai.completion.', toString(i), '.role')] = '', 'assistant', a[concat('gen_ai.completion.', toString(i), '.role')])),
            ',"parts":[{"type":"text","content":', toJSONString(a[concat('gen_ai.completion.', toString(i), '.content')]),
            '}],"finish_reason":', toJSONString(a[concat('gen_ai.completion.', toString(i), '.finish_reason')]), '}'), completion_idx), ','), ']'),
        plain_completion != '', concat('[{"role":"assistant","parts":[{"type":"text","content":', toJSONString(plain_completion), '}]}]'),
        '') AS output_messages,
    a['gen_ai.response.finish_reasons'] AS finish_raw
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
    if(a['gen_ai.provider.name'] != '', a['gen_ai.provider.name'], a['gen_ai.system']) AS Provider,
    a['gen_ai.request.model'] AS RequestModel,
    a['gen_ai.response.model'] AS ResponseModel,
    if(ResponseModel != '', ResponseModel, RequestModel) AS Model,
    toUInt64OrZero(if(a['gen_ai.usage.input_tokens'] != '', a['gen_ai.usage.input_tokens'], a['gen_ai.usage.prompt_tokens'])) AS InputTokens,
    toUInt64OrZero(if(a['gen_ai.usage.output_tokens'] != '', a['gen_ai.usage.output_tokens'], a['gen_ai.usage.completion_tokens'])) AS OutputTokens,
    toUInt64OrZero(if(a['gen_ai.usage.cache_read.input_tokens'] != '', a['gen_ai.usage.cache_read.input_tokens'],
                      a['gen_ai.usage.cache_read_input_tokens'])) AS CacheReadTokens,
    toUInt64OrZero(a['gen_ai.usage.reasoning.output_tokens']) AS ReasoningTokens,
    a['llmsight.usage.partial'] = 'true' AS UsagePartial,
    (a['gen_ai.request.stream'] = 'true' OR a['llm.is_streaming'] = 'true') AS Stream,
    Duration,
    toFloat64OrNull(a['gen_ai.response.time_to_first_chunk']) AS TimeToFirstChunk,
    StatusCode,
    StatusMessage,
    if(a['error.type'] != '', a['error.type'], if(StatusCode = 'Error', 'error', '')) AS ErrorType,
    StatusCode = 'Error' AS IsError,
    multiIf(startsWith(finish_raw, '['), JSONExtract(finish_raw, 'Array(String)'),
            finish_raw != '', [finish_raw],
            a['gen_ai.completion.0.finish_reason'] != '', [a['gen_ai.completion.0.finish_reason']],
            []) AS FinishReasons,
    a['gen_ai.system_instructions'] AS SystemInstructions,
    input_messages AS InputMessages,
    output_messages AS OutputMessages,
    a['llmsight.context.documents'] AS ContextDocuments,
    a['llmsight.ground_truth'] AS GroundTruth,
    a['session.id'] AS SessionId,
    if(a['user.id'] != '', a['user.id'], a['enduser.id']) AS UserId
FROM ${db}.otel_traces
WHERE (a['gen_ai.operation.name'] != '' OR a['gen_ai.provider.name'] != '' OR a['gen_ai.system'] != '')
  AND op NOT IN ('retrieval', 'execute_tool')
