-- v15: llmsight.experiment.row spans -> experiment_rows; only from a sender allowed to send experiment
-- data (llmsight.experiments, see 038), never from a tenant-bound token.
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.experiment_rows_mv TO ${db}.experiment_rows AS
SELECT
    Timestamp,
    SpanAttributes['llmsight.experiment.name'] AS Experiment,
    SpanAttributes['llmsight.dataset.row_id'] AS RowId,
    TraceId,
    SpanId,
    ServiceName,
    SpanAttributes['llmsight.dataset.hash'] AS DatasetHash,
    SpanAttributes['llmsight.experiment.question'] AS Question,
    SpanAttributes['llmsight.experiment.context'] AS Context,
    SpanAttributes['llmsight.experiment.ground_truth'] AS GroundTruth,
    SpanAttributes['llmsight.experiment.answer'] AS Answer,
    SpanAttributes['llmsight.experiment.error'] AS Error,
    Duration / 1e6 AS DurationMs
FROM ${db}.otel_traces
WHERE SpanName = 'llmsight.experiment.row' AND Experiment != '' AND RowId != ''
    AND ResourceAttributes['llmsight.tenant'] = '' AND ResourceAttributes['llmsight.experiments'] = '1'
