-- A call's content from its log events (llm_call_events), one row per call: the events' messages
-- merged in the order they were sent, the last user message as Prompt (as on llm_calls), each
-- event's completion text joined. Asked only for the calls being read, by SpanId (the table's key).
SELECT
    TraceId,
    SpanId,
    if(empty(input_items), '', concat('[', arrayStringConcat(input_items, ','), ']')) AS InputMessages,
    if(empty(output_items), '', concat('[', arrayStringConcat(output_items, ','), ']')) AS OutputMessages,
    system AS SystemInstructions,
    prompt AS Prompt,
    arrayStringConcat(arrayFilter(c -> c != '', arrayMap(e -> e.5, events)), '\n') AS Completion
FROM (
    SELECT
        TraceId,
        SpanId,
        arraySort(groupArray((Timestamp, InputMessages, OutputMessages, SystemInstructions, Completion))) AS events,
        arrayFlatten(arrayMap(e -> JSONExtractArrayRaw(e.2), events)) AS input_items,
        arrayFlatten(arrayMap(e -> JSONExtractArrayRaw(e.3), events)) AS output_items,
        argMaxIf(SystemInstructions, Timestamp, SystemInstructions != '') AS system,
        argMaxIf(Prompt, Timestamp, Prompt != '') AS prompt
    FROM $db.llm_call_events
    WHERE SpanId IN {span_ids:Array(String)}
    GROUP BY TraceId, SpanId
)
