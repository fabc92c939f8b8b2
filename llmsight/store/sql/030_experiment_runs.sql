-- v13: experiment runs (`llmsight eval run`), one row per run name, from the run's
-- llmsight.experiment.run span (experiment_runs_mv). A resumed run sends the span again; the
-- newest replaces the older. What a comparison must know to be fair: the dataset's hash, the
-- target, the judge and each metric's prompt version (RubricVersions: a JSON object).
CREATE TABLE IF NOT EXISTS ${db}.experiment_runs (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    Experiment String CODEC(ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String),
    DatasetPath String CODEC(ZSTD(1)),
    DatasetHash String CODEC(ZSTD(1)),
    DatasetRows UInt32,
    Target String CODEC(ZSTD(1)),
    GitCommit String CODEC(ZSTD(1)),
    JudgeModel LowCardinality(String),
    Metrics Array(LowCardinality(String)),
    RubricVersions String CODEC(ZSTD(1))
) ENGINE = ReplacingMergeTree(Timestamp)
ORDER BY Experiment
${ttl_experiment_runs}
