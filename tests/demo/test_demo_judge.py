"""The demo judge and the demo model's mix, without a store: fast checks of what the demo's numbers rest on."""

from __future__ import annotations

import json

import openai

from llmsight.demo import judge, knowledge
from llmsight.demo.model import MIX, DemoModelServer, pick_outcome
from llmsight.evaluator.inputs import EvalInputs
from llmsight.evaluator.judge import Judge
from llmsight.evaluator.metrics import parse_metrics
from llmsight.evaluator.prompt import build_messages
from llmsight.evaluator.rubric import load_rubric


def _messages(metric_name: str, question: knowledge.Question, answer: str) -> list[dict]:
    """The evaluator's real prompt for one metric, so the demo judge is tested on what it will read."""
    (metric,) = parse_metrics([metric_name])
    context = [d.text for d in knowledge.search(question.text)]
    inputs = EvalInputs(question=question.text, answer=answer, context=context, ground_truth=question.ground_truth)
    return build_messages(metric, load_rubric(metric_name), inputs)


def _score(metric: str, question: knowledge.Question, answer: str) -> int:
    messages = _messages(metric, question, answer)
    assert judge.is_judge_request(messages)
    return judge.judge_reply(messages)[0]


def test_grounded_answers_pass_and_invented_or_off_topic_ones_fail():
    grounded = [_score("groundedness", q, q.answer) for q in knowledge.QUESTIONS]
    invented = [_score("groundedness", q, q.invented) for q in knowledge.QUESTIONS]
    off_topic = [_score("relevance", q, knowledge.OFF_TOPIC[0]) for q in knowledge.QUESTIONS]
    relevant = [_score("relevance", q, q.answer) for q in knowledge.QUESTIONS]
    assert min(grounded) >= 4
    assert max(invented) <= 3 and sum(invented) / len(invented) < 2.5
    assert max(off_topic) <= 2
    assert min(relevant) >= 4


def test_similarity_compares_with_the_reference_and_style_metrics_stay_high():
    q = next(q for q in knowledge.QUESTIONS if q.ground_truth)
    assert _score("similarity", q, q.answer) >= 4
    assert _score("similarity", q, knowledge.OFF_TOPIC[1]) <= 2
    assert {_score("fluency", q, q.answer), _score("coherence", q, q.invented)} <= {4, 5}


def test_the_evaluators_judge_reads_the_demo_models_replies():
    q = knowledge.QUESTIONS[0]
    with DemoModelServer() as server:
        good = Judge("demo-judge", server.base_url, "demo", max_retries=0).score(_messages("groundedness", q, q.answer))
        bad = Judge("demo-judge", server.base_url, "demo", max_retries=0).score(
            _messages("groundedness", q, q.invented)
        )
    assert (good.status, bad.status) == ("ok", "ok")
    assert good.score >= 4 and bad.score <= 3
    assert "not supported" in bad.reason and good.input_tokens > 100 and good.output_tokens > 5


def test_app_mode_streams_with_usage_and_fails_like_a_real_endpoint():
    assert abs(sum(share for _, share in MIX) - 1.0) < 1e-9
    assert pick_outcome(0.0) == "grounded" and pick_outcome(0.999) == "timeout"
    q = knowledge.QUESTIONS[2]
    messages = [{"role": "system", "content": knowledge.SYSTEM_PROMPT}, {"role": "user", "content": q.text}]
    with DemoModelServer(seed=3, latency_s=(0.0, 0.001)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="demo", max_retries=0, timeout=0.7)
        answers, failures = [], []
        for i in range(40):
            try:
                if i % 2:
                    stream = client.chat.completions.create(
                        model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
                    )
                    chunks = list(stream)
                    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
                    answers.append("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))
                else:
                    reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
                    assert reply.usage.prompt_tokens > 10 and reply.model.startswith("gpt-4o-mini")
                    answers.append(reply.choices[0].message.content)
            except (openai.APIStatusError, openai.APITimeoutError) as exc:
                failures.append(type(exc).__name__)
    assert sum(server.outcomes.values()) == 40
    assert len(failures) == sum(server.outcomes[k] for k in ("rate_limited", "server_error", "timeout"))
    assert q.answer in answers and q.invented in answers
    assert set(json.loads(json.dumps(server.outcomes))) >= {"grounded", "ungrounded"}
