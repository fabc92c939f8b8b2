-- v10: the pre-screen: cheap, deterministic rules run in SQL on every row written to llm_calls (a view
-- on llm_calls_mv's target, so every ingest path is screened alike). What each rule catches is in
-- docs/evaluator.md; a hit is a reason to judge, not a verdict.
--   injection_phrase   the user's messages hold a known instruction-override or jailbreak phrasing
--   indirect_injection a retrieved document (ContextDocuments) holds one
--   system_prompt_leak the answer repeats the start of the system instructions (40+ characters), or
--                      announces them ("my system prompt is ...", a "<|im_start|>system" token)
--   secret_in_answer   the answer holds a credential: OpenAI/Anthropic, AWS, GitHub, Slack, Google or
--                      Stripe keys, a private-key block, a JWT
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.call_screens_mv TO ${db}.call_screens AS
WITH
    '(?i)\\b(ignore|disregard|forget|override)\\s+(all\\s+|any\\s+)?(of\\s+)?(the\\s+|your\\s+|my\\s+)?(previous|prior|above|earlier|preceding|system)\\s+(instructions|rules|prompts?|directions|guidelines)|\\b(reveal|print|show|repeat|output)\\s+(me\\s+)?(your|the)\\s+(system\\s+prompt|initial\\s+instructions|hidden\\s+instructions)|\\byou\\s+are\\s+now\\s+(DAN|in\\s+developer\\s+mode)\\b|\\bdeveloper\\s+mode\\s+(enabled|on)\\b|\\bdo\\s+anything\\s+now\\b|\\bjailbreak(ed)?\\b|</?(system|im_start)\\|?>' AS injection,
    -- only the user's side: a system prompt saying "never reveal your system prompt" is not an attack
    arrayStringConcat(arrayFilter(m -> JSONExtractString(m, 'role') NOT IN ('system', 'developer'),
        JSONExtractArrayRaw(InputMessages)), '\n') AS user_input,
    -- the first 40-60 characters of the system instructions' text, as the answer's JSON would quote them
    if(SystemInstructions != '',
        extract(SystemInstructions, '"content"\\s*:\\s*"((?:[^"\\\\]|\\\\.){40,60})'),
        extract(InputMessages, '"role"\\s*:\\s*"system"[^}]*?"content"\\s*:\\s*"((?:[^"\\\\]|\\\\.){40,60})')) AS sys_text,
    arrayFilter(x -> x != '', [
        if(match(InputMessages, injection) AND match(user_input, injection), 'injection_phrase', ''),
        if(match(ContextDocuments, injection), 'indirect_injection', ''),
        if((OutputMessages != '' AND length(sys_text) >= 40 AND position(OutputMessages, sys_text) > 0)
           OR match(OutputMessages, '(?i)\\b(my|the)\\s+(system\\s+prompt|initial\\s+instructions|hidden\\s+instructions)\\s+(is|are|says|reads)\\b|<\\|im_start\\|>system'),
           'system_prompt_leak', ''),
        if(match(OutputMessages, '\\bsk-(proj-|ant-)?[A-Za-z0-9_-]{20,}|\\b(AKIA|ASIA)[0-9A-Z]{16}\\b|\\bgh[pousr]_[A-Za-z0-9]{36,}|\\bxox[abprs]-[A-Za-z0-9-]{10,}|\\bAIza[0-9A-Za-z_-]{35}|\\b[rs]k_live_[0-9A-Za-z]{20,}|-----BEGIN ([A-Z]+ )?PRIVATE KEY-----|\\beyJ[A-Za-z0-9_-]{10,}\\.eyJ[A-Za-z0-9_-]{10,}\\.[A-Za-z0-9_-]{10,}'),
           'secret_in_answer', '')
    ]) AS hits
SELECT Timestamp, TraceId, SpanId, ServiceName, hits AS Hits
FROM ${db}.llm_calls
WHERE notEmpty(hits)
