-- v14: call_screens_mv is replaced by a cheaper version of the same rules (037); a materialized view's
-- query cannot be altered in place. Calls screened before keep their rows.
DROP VIEW IF EXISTS ${db}.call_screens_mv
