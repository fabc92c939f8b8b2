-- Each monitor's computed value and its target per time bucket (the bucket's latest run), per
-- signal, metric and statistic: the line a chart draws beside the target it was judged against.
SELECT
    {{bucket(RunAt)}} AS time,
    toString(Monitor) AS monitor,
    toString(Signal) AS signal,
    toString(Metric) AS metric,
    toString(Statistic) AS statistic,
    argMax(Value, RunAt) AS value,
    argMax(Target, RunAt) AS target,
    argMax(toString(State), RunAt) AS state
FROM {{db}}.monitor_results
WHERE {{window(RunAt)}} AND {{metrics}}
GROUP BY time, monitor, signal, metric, statistic
ORDER BY time, monitor, signal, metric, statistic
