-- As 014, for the trace-id lookup table (a replay there only repeats a min/max, but the same rule
-- keeps both views exact).
ALTER TABLE ${db}.otel_traces_trace_id_ts MODIFY SETTING non_replicated_deduplication_window = 1000
