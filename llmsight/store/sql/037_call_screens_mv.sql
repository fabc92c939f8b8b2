-- v14, replaces 024 (dropped by 036): the same rules, the same hits on every call, cheaper. 024 ran
-- its regular expressions over every call's text at about 1.5 ns a byte each, 3.7 us a call on the
-- bench's spans (bench/views.py), the costliest per-row work of all the views. Here the two on the
-- answer are first asked of a multi-substring search for strings that every one of their matches
-- holds, and AND evaluates its right side only on rows where its left holds, so an answer without
-- any of them is never run through them:
-- - system_prompt_leak: prompt / initial / hidden, or <|im_ (case-insensitive, as the expression);
--   RE2's case-insensitive matching also takes "ſ" (U+017F) for s and "K" (U+212A) for k, which an
--   ASCII case-insensitive search does not, so no searched string holds an s or a k;
-- - secret_in_answer: each key's fixed prefix (sk-, AKIA, ASIA, ghp_ gho_ ghu_ ghs_ ghr_, xox, AIza,
--   k_live_, "-----BEGIN ", eyJ), case-sensitive as the expression;
-- - the system prompt's text (sys_text) is looked for in the input messages only when they hold
--   "system" in quotes, which its expression requires.
-- The injection expression gets no such search: the words its 7 alternatives need (15 strings) take
-- a case-insensitive search longer than RE2 takes to run the expression itself.
-- tests/collector/test_view_equivalence.py compares 024 and this view on hits and near misses.
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.call_screens_mv TO ${db}.call_screens AS
WITH
    '(?i)\\b(ignore|disregard|forget|override)\\s+(all\\s+|any\\s+)?(of\\s+)?(the\\s+|your\\s+|my\\s+)?(previous|prior|above|earlier|preceding|system)\\s+(instructions|rules|prompts?|directions|guidelines)|\\b(reveal|print|show|repeat|output)\\s+(me\\s+)?(your|the)\\s+(system\\s+prompt|initial\\s+instructions|hidden\\s+instructions)|\\byou\\s+are\\s+now\\s+(DAN|in\\s+developer\\s+mode)\\b|\\bdeveloper\\s+mode\\s+(enabled|on)\\b|\\bdo\\s+anything\\s+now\\b|\\bjailbreak(ed)?\\b|</?(system|im_start)\\|?>' AS injection,
    -- only the user's side: a system prompt saying "never reveal your system prompt" is not an attack
    arrayStringConcat(arrayFilter(m -> JSONExtractString(m, 'role') NOT IN ('system', 'developer'),
        JSONExtractArrayRaw(InputMessages)), '\n') AS user_input,
    -- the first 40-60 characters of the system instructions' text, as the answer's JSON would quote them
    if(SystemInstructions != '',
        extract(SystemInstructions, '"content"\\s*:\\s*"((?:[^"\\\\]|\\\\.){40,60})'),
        if(position(InputMessages, '"system"') > 0,
            extract(InputMessages, '"role"\\s*:\\s*"system"[^}]*?"content"\\s*:\\s*"((?:[^"\\\\]|\\\\.){40,60})'), '')) AS sys_text,
    arrayFilter(x -> x != '', [
        if(match(InputMessages, injection) AND match(user_input, injection), 'injection_phrase', ''),
        if(match(ContextDocuments, injection), 'indirect_injection', ''),
        if((OutputMessages != '' AND length(sys_text) >= 40 AND position(OutputMessages, sys_text) > 0)
           OR (multiSearchAnyCaseInsensitive(OutputMessages, ['prompt', 'initial', 'hidden', '<|im_'])
               AND match(OutputMessages, '(?i)\\b(my|the)\\s+(system\\s+prompt|initial\\s+instructions|hidden\\s+instructions)\\s+(is|are|says|reads)\\b|<\\|im_start\\|>system')),
           'system_prompt_leak', ''),
        if(multiSearchAny(OutputMessages, ['sk-', 'AKIA', 'ASIA', 'ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'xox', 'AIza',
                                           'k_live_', '-----BEGIN ', 'eyJ'])
           AND match(OutputMessages, '\\bsk-(proj-|ant-)?[A-Za-z0-9_-]{20,}|\\b(AKIA|ASIA)[0-9A-Z]{16}\\b|\\bgh[pousr]_[A-Za-z0-9]{36,}|\\bxox[abprs]-[A-Za-z0-9-]{10,}|\\bAIza[0-9A-Za-z_-]{35}|\\b[rs]k_live_[0-9A-Za-z]{20,}|-----BEGIN ([A-Z]+ )?PRIVATE KEY-----|\\beyJ[A-Za-z0-9_-]{10,}\\.eyJ[A-Za-z0-9_-]{10,}\\.[A-Za-z0-9_-]{10,}'),
           'secret_in_answer', '')
    ]) AS hits
SELECT Timestamp, TraceId, SpanId, ServiceName, hits AS Hits
FROM ${db}.llm_calls
WHERE notEmpty(hits)
