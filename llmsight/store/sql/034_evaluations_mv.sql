-- v13: judge scores sent as OpenTelemetry data: a llmsight.evaluation span, child of the span it
-- judges, carrying the GenAI conventions' gen_ai.evaluation.* attributes (name, score.value,
-- score.label, explanation) and llmsight's own (judge, prompt version, tokens, cost). `llmsight eval
-- run` scores this way, so it works through a running collector. The span sits at the end of the judged
-- span (a trace's length is the app's, not the judge's); when it was judged is an attribute, the version
-- that keeps a newer judgement of the same key. Only scores of experiment rows
-- (llmsight.experiment.name set) and not from a tenant-bound token: a sender must not be able to
-- overwrite the production scores monitors read.
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.evaluations_mv TO ${db}.evaluations AS
SELECT
    fromUnixTimestamp64Nano(toInt64OrZero(SpanAttributes['llmsight.evaluation.span_time_unix_nano'])) AS SpanTimestamp,
    TraceId,
    ParentSpanId AS SpanId,
    ServiceName,
    if(ResourceAttributes['deployment.environment.name'] != '', ResourceAttributes['deployment.environment.name'],
       ResourceAttributes['deployment.environment']) AS Environment,
    SpanAttributes['llmsight.evaluation.model'] AS Model,
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
    toDateTime64(fromUnixTimestamp64Nano(toInt64OrZero(SpanAttributes['llmsight.evaluation.evaluated_at_unix_nano'])), 3)
        AS EvaluatedAt
FROM ${db}.otel_traces
WHERE SpanName = 'llmsight.evaluation' AND SpanAttributes['llmsight.experiment.name'] != ''
    AND ResourceAttributes['llmsight.tenant'] = '' AND Metric != '' AND JudgeModel != '' AND ParentSpanId != ''
    AND toInt64OrZero(SpanAttributes['llmsight.evaluation.evaluated_at_unix_nano']) > 0
    AND Status IN ('ok', 'not_applicable', 'parse_error', 'judge_error')
