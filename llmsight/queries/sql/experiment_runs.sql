-- Experiment runs (`llmsight eval run`), newest first, or the one named: what each was made from
-- (dataset hash, target, git commit) and judged with (judge model, each metric's prompt version).
SELECT
    Experiment AS name,
    Timestamp AS started,
    DatasetPath AS dataset_path,
    DatasetHash AS dataset_hash,
    DatasetRows AS dataset_rows,
    Target AS target,
    GitCommit AS git_commit,
    toString(JudgeModel) AS judge_model,
    arrayMap(m -> toString(m), Metrics) AS metrics,
    RubricVersions AS rubric_versions,
    toString(ServiceName) AS service
FROM {{db}}.experiment_runs FINAL
WHERE {experiment:String} = '' OR Experiment = {experiment:String}
ORDER BY Timestamp DESC, Experiment
LIMIT {limit:UInt32}
