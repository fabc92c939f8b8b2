-- People against the judge, per metric, on the window's calls that have both a judge score and a
-- person's verdict: the confusion matrix of "fails" (judge: score below the per-call threshold;
-- person: latest score below 0.5). The judge's precision is judge_fail_person_fail over all
-- judge_fail; its recall is judge_fail_person_fail over all person_fail.
SELECT
    toString(e.Metric) AS metric,
    countIf(e.Score < {{threshold}} AND p.person_score < 0.5) AS judge_fail_person_fail,
    countIf(e.Score < {{threshold}} AND p.person_score >= 0.5) AS judge_fail_person_pass,
    countIf(e.Score >= {{threshold}} AND p.person_score < 0.5) AS judge_pass_person_fail,
    countIf(e.Score >= {{threshold}} AND p.person_score >= 0.5) AS judge_pass_person_pass
FROM {{db}}.evaluations AS e FINAL
INNER JOIN ({{include(feedback_verdicts)}}) AS p ON e.SpanId = p.span_id
WHERE {{window(SpanTimestamp)}} AND {{filters}} AND {{metrics}} AND e.Status = 'ok'
GROUP BY metric
ORDER BY metric
