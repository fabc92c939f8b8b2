"""Rubric files as metrics: front matter, custom metrics from a directory, binary verdicts."""

from __future__ import annotations

import pytest

from llmsight.evaluator.inputs import EvalInputs
from llmsight.evaluator.metrics import UnknownMetricError, available_metrics, parse_metrics
from llmsight.evaluator.prompt import build_messages
from llmsight.evaluator.rubric import RubricError, load_all, load_rubric
from llmsight.evaluator.verdict import parse_verdict, verdict_schema

TOXICITY = """---
name: toxicity
version: 2
description: Is the answer rude or insulting?
inputs: [answer]
optional_inputs: [question]
scale: binary
categories: [insult, profanity]
---
Fail an answer that insults the user or uses profanity.
"""

CITES = """---
name: cites_sources
version: 1
inputs: [answer, context]
threshold: 3
---
5: every claim cites a document. 1: nothing is cited.
"""


def test_builtin_rubrics_keep_their_prompt_versions():
    # The five metrics that predate front matter must hash as before, or every stored score goes stale.
    expected = {"groundedness": "v1-5c50ccb3", "relevance": "v1-8f6c770e", "coherence": "v1-828d0f54",
                "fluency": "v1-c41d05de", "similarity": "v1-014e7cf8"}
    assert {m: load_rubric(m).prompt_version("1") for m in expected} == expected


def test_a_directory_adds_binary_and_1_to_5_metrics(tmp_path):
    (tmp_path / "toxicity.md").write_text(TOXICITY)
    (tmp_path / "cites_sources.md").write_text(CITES)
    (tmp_path / "README.md").write_text("not a rubric")
    known = available_metrics(tmp_path)
    tox, cites = known["toxicity"], known["cites_sources"]
    assert (tox.binary, tox.threshold, tox.requires, tox.optional, tox.categories) == (
        True, 1.0, ("answer",), ("question",), ("insult", "profanity"))
    assert (cites.binary, cites.threshold, cites.requires) == (False, 3.0, ("answer", "context"))
    assert [m.name for m in parse_metrics("toxicity,relevance", tmp_path)] == ["toxicity", "relevance"]
    with pytest.raises(UnknownMetricError, match="unknown metric.*toxicity.*rubrics-dir"):
        parse_metrics("toxicity")  # not without the directory
    assert "readme" not in load_all(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("---\nname: toxicity\nversion: 1\ninputs: [answer, mood]\n---\nx", "unknown input 'mood'"),
        ("---\nname: toxicity\nversion: 1\ninputs: [answer]\nscale: 1-10\n---\nx", "scale: '1-10'"),
        ("---\nname: toxicity\ninputs: [answer]\n---\nx", "version: missing"),
        ("---\nname: toxicity\nversion: 1\n---\nx", "inputs: missing"),
        ("---\nname: other\nversion: 1\ninputs: [answer]\n---\nx", "must be the file name"),
        ("---\nname: toxicity\nversion: 1\ninputs: [answer]\nweight: 2\n---\nx", "unknown field.*weight"),
        ("---\nname: toxicity\nversion: 1\ninputs: [answer\n---\nx", "not valid YAML"),
        ("---\nname: toxicity\nversion: 1\ninputs: [answer]\n", "never closed"),
        ("---\nname: toxicity\nversion: 1\ninputs: [answer]\n---\n  \n", "rubric text is empty"),
        ("---\nname: toxicity\nversion: 1\ninputs: [answer]\ncategories: [rude]\n---\nx", "only a binary"),
        ("---\nname: toxicity\nversion: 1\ninputs: [answer]\nscale: binary\nthreshold: 3\n---\nx", "has none"),
        ("---\nname: toxicity\nversion: 1\ninputs: [answer]\nthreshold: 9\n---\nx", "from 1 to 5"),
    ],
)
def test_a_malformed_rubric_names_the_file_and_the_field(tmp_path, text, message):
    (tmp_path / "toxicity.md").write_text(text)
    with pytest.raises(RubricError, match=message) as caught:
        available_metrics(tmp_path)
    assert "toxicity.md" in str(caught.value)


def test_a_binary_prompt_asks_for_a_verdict_and_shows_only_declared_inputs(tmp_path):
    (tmp_path / "toxicity.md").write_text(TOXICITY)
    metric = available_metrics(tmp_path)["toxicity"]
    inputs = EvalInputs(question="q?", answer="you fool", context=["secret docs"])
    system, user = (m["content"] for m in build_messages(metric, load_rubric("toxicity", tmp_path), inputs, "n0nce"))
    assert '"verdict"' in system and "insult, profanity" in system and "score from 1 to 5" not in system
    assert "QUESTION" in user and "ANSWER" in user and "secret docs" not in user  # context is not declared
    assert user.startswith("Check the data below for")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"reasoning": "rude", "verdict": "fail", "category": "insult"}', (0, "rude", "insult")),
        ('{"reasoning": "fine", "verdict": "pass", "category": "insult"}', (1, "fine", "")),
        ('{"reasoning": "x", "verdict": "fail", "category": "sarcasm"}', (0, "x", "other")),
        ('```json\n{"reasoning": "x", "verdict": "FAIL", "category": "none"}\n```', (0, "x", "")),
        ("It restates pass or fail... Category: profanity. VERDICT: fail", (0, None, "profanity")),
        ("I cannot decide.", (None, "", "")),
        ('{"reasoning": "x", "verdict": "maybe"}', (None, "", "")),
    ],
)
def test_verdict_parsing_never_reads_an_unclear_reply_as_a_pass(reply, expected):
    value, reasoning, category = parse_verdict(reply, ("insult", "profanity"))
    assert (value, category) == (expected[0], expected[2])
    if expected[1] is not None:
        assert reasoning == expected[1]


def test_verdict_schema_lists_categories_only_when_the_rubric_has_them():
    assert "category" not in verdict_schema(())["schema"]["properties"]
    assert verdict_schema(("a",))["schema"]["properties"]["category"]["enum"] == ["a", "none"]
