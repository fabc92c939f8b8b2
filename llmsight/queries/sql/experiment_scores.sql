-- The scores of one experiment run: per row and metric, the latest judgement of the row's current
-- answer by the run's judge and prompt versions. Scores of an earlier attempt at a row (one whose
-- target failed and was run again) are not the row's and drop out with the join.
WITH run_rows AS (
    SELECT RowId, SpanId FROM {{db}}.experiment_rows FINAL WHERE Experiment = {experiment:String}
)
SELECT
    r.RowId AS row_id,
    toString(e.Metric) AS metric,
    toString(e.Scale) AS scale,
    toString(e.Status) AS status,
    e.Score AS score,
    e.Passed AS passed,
    e.Threshold AS threshold,
    e.Reason AS reason,
    e.TraceId AS trace_id,
    e.JudgeCost AS judge_cost
FROM {{db}}.experiment_evaluations AS e FINAL
INNER JOIN run_rows AS r ON e.SpanId = r.SpanId
WHERE e.SpanTimestamp >= (SELECT min(Timestamp) FROM {{db}}.experiment_rows WHERE Experiment = {experiment:String})
    AND e.SpanId IN (SELECT SpanId FROM run_rows)
    AND e.JudgeModel = {judge_model:String}
    AND has(arrayZip({metrics:Array(String)}, {versions:Array(String)}), (toString(e.Metric), toString(e.PromptVersion)))
ORDER BY row_id, metric
