-- v12: the response ids of the last 7 days' calls stored before this version, so feedback on recent
-- answers finds them after an upgrade. Older calls are left out: the scan reads every span's
-- attributes, and feedback on answers more than a week old is rare.
INSERT INTO ${db}.call_response_ids (Timestamp, ResponseId, TraceId, SpanId)
SELECT Timestamp, SpanAttributes['gen_ai.response.id'] AS ResponseId, TraceId, SpanId
FROM ${db}.otel_traces
WHERE Timestamp >= now() - INTERVAL 7 DAY AND ResponseId != ''
