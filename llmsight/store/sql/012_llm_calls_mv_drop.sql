-- v3: the view that derives llm_calls is replaced (013); a materialized view's query cannot be
-- altered in place. Calls already in llm_calls keep the columns they were derived with.
DROP VIEW IF EXISTS ${db}.llm_calls_mv
