-- Tokens and cost per deployment (model) and provider in the window, largest cost first.
SELECT
    toString(Model) AS model,
    toString(Provider) AS provider,
    count() AS requests,
    sum(InputTokens) AS prompt_tokens,
    sum(OutputTokens) AS completion_tokens,
    sum(InputTokens + OutputTokens) AS total_tokens,
    sum(Cost) AS cost
FROM {{db}}.llm_calls
WHERE {{window(Timestamp)}} AND {{filters}}
GROUP BY model, provider
ORDER BY cost DESC, total_tokens DESC, model, provider
