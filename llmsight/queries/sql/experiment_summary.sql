-- Per experiment run (last started in the window) and metric: rows scored, average score and pass
-- rate, over each row's current answer as judged by the run's judge and prompt versions: the figures
-- `llmsight eval gate` checks, for `llmsight eval runs` and the quality dashboard's Experiment runs table.
WITH
    runs AS (
        SELECT Experiment, Timestamp AS started, toString(JudgeModel) AS judge_model, RubricVersions
        FROM {{db}}.experiment_runs FINAL
        WHERE {{window(Timestamp)}}
    ),
    run_rows AS (
        SELECT Experiment, SpanId
        FROM {{db}}.experiment_rows FINAL
        WHERE Experiment IN (SELECT Experiment FROM runs)
    )
SELECT
    runs.Experiment AS run,
    any(runs.started) AS started,
    toString(e.Metric) AS metric,
    countIf(e.Status = 'ok') AS scored,
    avgIf(e.Score, e.Status = 'ok') AS average_score,
    countIf(e.Status = 'ok' AND e.Passed = 1) AS passed,
    if(scored = 0, NULL, passed / scored) AS pass_rate
FROM {{db}}.experiment_evaluations AS e FINAL
INNER JOIN run_rows ON e.SpanId = run_rows.SpanId
INNER JOIN runs ON run_rows.Experiment = runs.Experiment
WHERE e.SpanTimestamp >= (
        SELECT min(Timestamp) FROM {{db}}.experiment_rows WHERE Experiment IN (SELECT Experiment FROM runs))
    AND e.SpanId IN (SELECT SpanId FROM run_rows)
    AND toString(e.JudgeModel) = runs.judge_model
    AND JSONExtractString(runs.RubricVersions, toString(e.Metric)) = toString(e.PromptVersion)
GROUP BY run, metric
ORDER BY started DESC, run, metric
