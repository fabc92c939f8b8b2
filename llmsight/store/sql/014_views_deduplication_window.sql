-- The exporter replays a batch after a crash with the same insert_deduplication_token, and
-- otel_traces drops it if it had landed. Its views' target tables need a window of their own,
-- with deduplicate_blocks_in_dependent_materialized_views=1 on the insert, or every replay of a
-- batch that had landed adds its llm_calls rows a second time.
ALTER TABLE ${db}.llm_calls MODIFY SETTING non_replicated_deduplication_window = 1000
