-- v15: replaced by 041 (see 038).
DROP VIEW IF EXISTS ${db}.experiment_rows_mv
