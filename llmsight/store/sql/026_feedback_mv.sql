-- v11: feedback spans -> feedback. A span without a usable score or without a call to name is
-- left out (it would count nowhere); the score is clamped to 0..1 as llmsight.feedback() sends it.
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.feedback_mv TO ${db}.feedback AS
SELECT
    Timestamp,
    SpanId AS FeedbackSpanId,
    lower(SpanAttributes['llmsight.feedback.trace_id']) AS CallTraceId,
    lower(SpanAttributes['llmsight.feedback.span_id']) AS CallSpanId,
    SpanAttributes['llmsight.feedback.response_id'] AS ResponseId,
    ServiceName,
    least(greatest(toFloat64OrZero(SpanAttributes['llmsight.feedback.score']), 0.), 1.) AS Score,
    SpanAttributes['llmsight.feedback.thumbs'] AS Thumbs,
    SpanAttributes['llmsight.feedback.label'] AS Label,
    SpanAttributes['llmsight.feedback.comment'] AS Comment,
    if(SpanAttributes['user.id'] != '', SpanAttributes['user.id'], SpanAttributes['enduser.id']) AS UserId
FROM ${db}.otel_traces
WHERE SpanName = 'llmsight.feedback'
    AND toFloat64OrNull(SpanAttributes['llmsight.feedback.score']) IS NOT NULL
    AND ((CallTraceId != '' AND CallSpanId != '') OR ResponseId != '')
