-- As 017, for the logs table.
ALTER TABLE ${db}.otel_logs
    ADD COLUMN IF NOT EXISTS ResourceAttributeItems Array(String)
        ALIAS arrayMap(kv -> concat(kv.1, '=', kv.2), CAST(ResourceAttributes, 'Array(Tuple(String, String))')),
    ADD COLUMN IF NOT EXISTS ScopeAttributeItems Array(String)
        ALIAS arrayMap(kv -> concat(kv.1, '=', kv.2), CAST(ScopeAttributes, 'Array(Tuple(String, String))')),
    ADD COLUMN IF NOT EXISTS LogAttributeItems Array(String)
        ALIAS arrayMap(kv -> concat(kv.1, '=', kv.2), CAST(LogAttributes, 'Array(Tuple(String, String))'))
