-- v15: llmsight.experiment.run spans -> experiment_runs; only from a sender allowed to send experiment
-- data (llmsight.experiments, see 038), never from a tenant-bound token.
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.experiment_runs_mv TO ${db}.experiment_runs AS
SELECT
    Timestamp,
    SpanAttributes['llmsight.experiment.name'] AS Experiment,
    TraceId,
    ServiceName,
    SpanAttributes['llmsight.dataset.path'] AS DatasetPath,
    SpanAttributes['llmsight.dataset.hash'] AS DatasetHash,
    toUInt32OrZero(SpanAttributes['llmsight.dataset.rows']) AS DatasetRows,
    SpanAttributes['llmsight.experiment.target'] AS Target,
    SpanAttributes['llmsight.experiment.git_commit'] AS GitCommit,
    SpanAttributes['llmsight.experiment.judge_model'] AS JudgeModel,
    arrayFilter(m -> m != '', splitByChar(',', SpanAttributes['llmsight.experiment.metrics'])) AS Metrics,
    SpanAttributes['llmsight.experiment.rubric_versions'] AS RubricVersions
FROM ${db}.otel_traces
WHERE SpanName = 'llmsight.experiment.run' AND Experiment != '' AND ResourceAttributes['llmsight.tenant'] = ''
    AND ResourceAttributes['llmsight.experiments'] = '1'
