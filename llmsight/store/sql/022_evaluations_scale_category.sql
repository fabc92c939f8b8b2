-- v9: binary (pass/fail) metrics beside 1-5 ones, and the category a safety judge names for a failing answer
ALTER TABLE ${db}.evaluations ADD COLUMN IF NOT EXISTS Scale LowCardinality(String) DEFAULT '1-5' AFTER Metric, ADD COLUMN IF NOT EXISTS Category LowCardinality(String) DEFAULT '' AFTER Reason
