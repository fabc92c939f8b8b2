-- v15: judge scores sent as OpenTelemetry data (llmsight.evaluation spans, see 035) -> experiment_evaluations;
-- only from a sender allowed to send experiment data (llmsight.experiments, see 038), never from a
-- tenant-bound token. When it arrived is the version (a sender cannot date a score ahead of a rerun's).
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.experiment_evaluations_mv TO ${db}.experiment_evaluations AS
SELECT
    fromUnixTimestamp64Nano(toInt64OrZero(SpanAttributes['llmsight.evaluation.span_time_unix_nano'])) AS SpanTimestamp,
    SpanAttributes['llmsight.experiment.name'] AS Experiment,
    TraceId,
    ParentSpanId AS SpanId,
    ServiceName,
    SpanAttributes['gen_ai.evaluation.name'] AS Metric,
    if(SpanAttributes['llmsight.evaluation.scale'] = 'binary', 'binary', '1-5') AS Scale,
    toUInt8OrNull(SpanAttributes['gen_ai.evaluation.score.value']) AS Score,
    toFloat64OrNull(SpanAttributes['llmsight.evaluation.weighted_score']) AS WeightedScore,
    toFloat64OrZero(SpanAttributes['llmsight.evaluation.threshold']) AS Threshold,
    multiIf(SpanAttributes['gen_ai.evaluation.score.label'] = 'pass', toNullable(toUInt8(1)),
            SpanAttributes['gen_ai.evaluation.score.label'] = 'fail', toNullable(toUInt8(0)), NULL) AS Passed,
    SpanAttributes['llmsight.evaluation.status'] AS Status,
    SpanAttributes['gen_ai.evaluation.explanation'] AS Reason,
    SpanAttributes['llmsight.evaluation.category'] AS Category,
    SpanAttributes['llmsight.evaluation.judge_model'] AS JudgeModel,
    SpanAttributes['llmsight.evaluation.prompt_version'] AS PromptVersion,
    toUInt32OrZero(SpanAttributes['llmsight.evaluation.judge_input_tokens']) AS JudgeInputTokens,
    toUInt32OrZero(SpanAttributes['llmsight.evaluation.judge_output_tokens']) AS JudgeOutputTokens,
    toFloat64OrZero(SpanAttributes['llmsight.evaluation.judge_cost']) AS JudgeCost,
    toFloat64OrZero(SpanAttributes['llmsight.evaluation.judge_latency_ms']) AS JudgeLatencyMs,
    now64(3) AS EvaluatedAt
FROM ${db}.otel_traces
WHERE SpanName = 'llmsight.evaluation' AND Experiment != '' AND ResourceAttributes['llmsight.tenant'] = ''
    AND ResourceAttributes['llmsight.experiments'] = '1'
    AND Metric != '' AND JudgeModel != '' AND ParentSpanId != ''
    AND Status IN ('ok', 'not_applicable', 'parse_error', 'judge_error')
