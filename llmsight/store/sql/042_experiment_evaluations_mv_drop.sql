-- v15: replaced by 043 (see 038).
DROP VIEW IF EXISTS ${db}.experiment_evaluations_mv
