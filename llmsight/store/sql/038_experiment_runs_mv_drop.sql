-- v15: experiment data is filed only from a resource with llmsight.experiments = '1', which the
-- collector keeps only from a token allowed to send experiment data (LLMSIGHT_EXPERIMENT_TOKENS, a
-- gateway's, or any sender when no tokens are set) and empties for every other token. So an app's
-- leaked token cannot forge the runs, rows or scores a release is gated on. The three views are
-- replaced (039, 041, 043); a materialized view's query cannot be altered in place. Filed rows stay.
DROP VIEW IF EXISTS ${db}.experiment_runs_mv
