-- Each monitor's latest result per signal, metric and statistic: what `llmsight monitors` shows.
SELECT
    toString(Monitor) AS monitor,
    toString(Signal) AS signal,
    toString(Metric) AS metric,
    toString(Statistic) AS statistic,
    argMax(RunAt, RunAt) AS run_at,
    argMax(Value, RunAt) AS value,
    argMax(Target, RunAt) AS target,
    argMax(toString(Comparison), RunAt) AS comparison,
    argMax(SampleCount, RunAt) AS sample_count,
    argMax(toString(State), RunAt) AS state,
    argMax(Detail, RunAt) AS detail,
    argMax(WindowStart, RunAt) AS window_start,
    argMax(WindowEnd, RunAt) AS window_end
FROM {{db}}.monitor_results
WHERE {{window(RunAt)}}
GROUP BY monitor, signal, metric, statistic
ORDER BY monitor, signal, metric, statistic
