-- Violations per monitor and metric over runs in the window. A violation is one run whose value
-- missed its target; the violation rate is violations / possible violations, where a possible
-- violation is a run with a target and a verdict (ok or violation; insufficient data is neither).
SELECT
    toString(Monitor) AS monitor,
    toString(Signal) AS signal,
    toString(Metric) AS metric,
    toString(Statistic) AS statistic,
    any(Target) AS target,
    count() AS runs,
    countIf(State = 'violation') AS violations,
    countIf(State IN ('ok', 'violation') AND Target IS NOT NULL) AS possible_violations,
    countIf(State = 'insufficient_data') AS insufficient_data,
    countIf(State = 'error') AS errors,
    violations / nullIf(possible_violations, 0) AS violation_rate
FROM {{db}}.monitor_results
WHERE {{window(RunAt)}} AND {{filters}} AND Target IS NOT NULL
GROUP BY monitor, signal, metric, statistic
ORDER BY monitor, signal, metric, statistic
