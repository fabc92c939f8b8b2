-- The contrib ClickHouse exporter's current logs layout ends with the record's event name, and
-- GenAI instrumentations send their content as named events (gen_ai.client.inference.operation.details,
-- gen_ai.user.message, ...). Without this column its INSERT fails ("Unrecognized column 'EventName'")
-- and llmsight's collector dropped the name.
ALTER TABLE ${db}.otel_logs ADD COLUMN IF NOT EXISTS EventName String CODEC(ZSTD(1)) AFTER LogAttributes
