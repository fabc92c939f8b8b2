"""bench/judge_agreement.py mechanics: correlation maths and per-article grouping, with the fake judge."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from llmsight.evaluator.correlation import average_ranks, kendall_tau_b, spearman

from .fake_judge import error, reply_json, user_text

BENCH = Path(__file__).resolve().parents[2] / "bench" / "judge_agreement.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("judge_agreement", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_correlations_match_scipy_reference_values():
    # scipy.stats.spearmanr / kendalltau on this pair (ties in y): 0.8207826816681233, 0.7378647873726218
    x, y = [1, 2, 3, 4, 5], [5, 6, 7, 8, 7]
    assert spearman(x, y) == pytest.approx(0.8207826816681233)
    assert kendall_tau_b(x, y) == pytest.approx(0.7378647873726218)
    assert average_ranks([10, 20, 20, 5]) == [2.0, 3.5, 3.5, 1.0]
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([3, 3, 3], [1, 2, 3]) is None and kendall_tau_b([1, 2], [4, 4]) is None


def write_summeval(path: Path) -> None:
    """3 articles x 4 summaries. The judge (below) scores the [S<k>] tag found in each summary."""
    articles = {
        "docA": ([1, 2, 3, 4], [1.0, 2.0, 3.0, 4.0]),  # judge tags, human scores: perfect agreement
        "docB": ([3, 3, 3, 3], [1.0, 2.0, 4.0, 5.0]),  # judge all equal: skipped
        "docC": ([1, 2, 3, 4], [4.0, 3.0, 2.0, 1.0]),  # reversed: -1
        "docD": ([5, 5, 5, 5], [1.0, 1.0, 1.0, 1.0]),  # beyond --limit-articles
    }
    with path.open("w") as fh:
        for doc, (tags, human) in articles.items():
            for i, (tag, h) in enumerate(zip(tags, human, strict=True)):
                fh.write(json.dumps({
                    "doc_id": doc, "system": f"M{i}", "source": f"Article {doc} text.", "reference": "ref",
                    "summary": f"[S{tag}] summary {i} of {doc}",
                    "human": {"coherence": h, "consistency": h, "fluency": h, "relevance": h},
                }) + "\n")


def tag_judge(request):
    match = re.search(r"\[S(\d)\]", user_text(request))
    return reply_json(int(match.group(1)))(request)


def test_bench_groups_per_article_and_averages(bench, judge_server, tmp_path, capsys, monkeypatch):
    data = tmp_path / "summeval.jsonl"
    write_summeval(data)
    judge_server.default = tag_judge
    monkeypatch.setenv("LLMSIGHT_JUDGE_API_KEY", "k")
    out_json = tmp_path / "out.json"
    code = bench.main(["--data", str(data), "--limit-articles", "3", "--judge-model", "judge-x",
                       "--base-url", judge_server.base_url, "--dimensions", "coherence,consistency",
                       "--concurrency", "2", "--json", str(out_json)])
    assert code == 0
    assert len(judge_server.requests) == 3 * 4 * 2  # docD left out by --limit-articles
    results = {r["dimension"]: r for r in json.loads(out_json.read_text())["results"]}
    for dim in ("coherence", "consistency"):
        r = results[dim]
        assert r["articles"] == 2 and r["skipped_articles"] == 1 and r["failed_scores"] == 0
        assert r["spearman"] == pytest.approx(0.0) and r["kendall"] == pytest.approx(0.0)  # mean of 1 and -1
    assert results["consistency"]["metric"] == "groundedness"
    printed = capsys.readouterr().out
    assert "0.507" in printed and "groundedness" in printed
    # consistency -> groundedness gets the article as context
    grounded = [r for r in judge_server.requests if "GROUNDEDNESS" in user_text(r)]
    assert grounded and all("Article doc" in user_text(r) for r in grounded)


def test_bench_agreement_excludes_failed_scores(bench, judge_server, tmp_path, monkeypatch):
    data = tmp_path / "summeval.jsonl"
    write_summeval(data)
    judge_server.default = tag_judge
    judge_server.when("summary 3 of docA", error(400, "context too long"))
    monkeypatch.setenv("LLMSIGHT_JUDGE_API_KEY", "k")
    from llmsight.evaluator.judge import Judge

    articles = bench.load_articles(data, 1)
    assert list(articles) == ["docA"] and len(articles["docA"]) == 4
    judge = Judge("judge-x", judge_server.base_url, "k", timeout_s=2, max_retries=0)
    results = bench.score_all(articles, judge, ["fluency"], concurrency=1)
    r = bench.agreement(articles, results, "fluency")
    assert r["failed_scores"] == 1 and r["articles"] == 1 and r["spearman"] == pytest.approx(1.0)


def test_bench_without_judge_exits_with_a_message(bench, monkeypatch, capsys):
    monkeypatch.delenv("LLMSIGHT_JUDGE_MODEL", raising=False)
    assert bench.main(["--limit-articles", "1"]) == 2
    assert "LLMSIGHT_JUDGE_MODEL" in capsys.readouterr().err
