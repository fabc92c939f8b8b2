-- Violations per time bucket, monitor, signal, metric and statistic: runs whose value missed the
-- target (the same counts as monitor_violations, split over time).
SELECT
    {{bucket(RunAt)}} AS time,
    toString(Monitor) AS monitor,
    toString(Signal) AS signal,
    toString(Metric) AS metric,
    toString(Statistic) AS statistic,
    count() AS runs,
    countIf(State = 'violation') AS violations
FROM {{db}}.monitor_results
WHERE {{window(RunAt)}} AND {{metrics}} AND Target IS NOT NULL
GROUP BY time, monitor, signal, metric, statistic
ORDER BY time, monitor, signal, metric, statistic
