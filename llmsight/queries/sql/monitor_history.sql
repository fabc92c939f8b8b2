-- Per (monitor, signal, metric, statistic): the latest state, when the current violation episode
-- began and when it was last notified. An episode is the runs since the latest `ok`; states that
-- are neither ok nor violation (insufficient_data, error) neither open nor close one.
SELECT
    signal,
    metric,
    statistic,
    argMax(state, RunAt) AS last_state,
    minIf(RunAt, state = 'violation' AND RunAt > last_ok_at) AS violation_since,
    maxIf(RunAt, Notified = 'violation' AND RunAt > last_ok_at) AS last_notified_at,
    countIf(state = 'violation' AND RunAt > last_ok_at) AS episode_violations
FROM (
    SELECT
        toString(Signal) AS signal,
        toString(Metric) AS metric,
        toString(Statistic) AS statistic,
        toString(State) AS state,
        RunAt,
        Notified,
        max(if(State = 'ok', RunAt, toDateTime64(0, 3))) OVER (PARTITION BY Signal, Metric, Statistic) AS last_ok_at
    FROM {{db}}.monitor_results
    WHERE {{window(RunAt)}} AND Monitor = {monitor:String}
)
GROUP BY signal, metric, statistic, last_ok_at
ORDER BY signal, metric, statistic
