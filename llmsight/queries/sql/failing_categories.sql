-- Failing answers of each metric by the category the judge named (harmful_content: hate, violence, ...;
-- prompt_injection: direct, indirect, ...). A failing answer whose judge named none counts under ''.
SELECT
    toString(Metric) AS metric,
    toString(Category) AS category,
    count() AS failing
FROM {{db}}.evaluations FINAL
WHERE {{window(SpanTimestamp)}} AND {{filters}} AND {{metrics}} AND Status = 'ok' AND Score < {{threshold}}
GROUP BY metric, category
ORDER BY metric, failing DESC, category
