-- Newer ClickHouse exporter / ClickStack layouts search attributes as key=value items; as ALIAS
-- columns they cost nothing on insert and let those queries run unchanged on llmsight's tables.
ALTER TABLE ${db}.otel_traces
    ADD COLUMN IF NOT EXISTS ResourceAttributeItems Array(String)
        ALIAS arrayMap(kv -> concat(kv.1, '=', kv.2), CAST(ResourceAttributes, 'Array(Tuple(String, String))')),
    ADD COLUMN IF NOT EXISTS SpanAttributeItems Array(String)
        ALIAS arrayMap(kv -> concat(kv.1, '=', kv.2), CAST(SpanAttributes, 'Array(Tuple(String, String))'))
