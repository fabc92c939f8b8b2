"""How well does llmsight's judge agree with human raters? SummEval meta-evaluation.

Scores the 1,600 SummEval summaries (100 CNN/DM articles x 16 systems) with the configured
judge on four dimensions, using our rubrics and prompt exactly as the evaluator does:
consistency -> groundedness (the article as context), coherence, fluency, relevance (question
"Summarize the article."). Agreement is computed per article across its 16 summaries
(Spearman and Kendall tau-b), articles whose judge or human scores are all equal are skipped
(correlation undefined), and the per-article values are averaged -- the summary-level protocol
of G-Eval, whose GPT-4 Spearman figures are printed alongside.

    LLMSIGHT_JUDGE_MODEL=gpt-4o-mini LLMSIGHT_JUDGE_API_KEY=sk-... \\
        python bench/judge_agreement.py --limit-articles 20

Needs a reachable judge endpoint; without one it exits with a message saying what to set.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from llmsight.evaluator.config import EvaluatorConfig, EvaluatorConfigError
from llmsight.evaluator.correlation import kendall_tau_b, spearman
from llmsight.evaluator.inputs import EvalInputs
from llmsight.evaluator.judge import Judge, JudgeFatalError, JudgeResult
from llmsight.evaluator.metrics import METRICS
from llmsight.evaluator.prompt import build_messages
from llmsight.evaluator.rubric import load_rubric

DIMENSIONS = {"coherence": "coherence", "consistency": "groundedness", "fluency": "fluency",
              "relevance": "relevance"}
# G-Eval (Liu et al., 2023), GPT-4 judge, summary-level Spearman on SummEval.
GEVAL_GPT4_SPEARMAN = {"coherence": 0.582, "consistency": 0.507, "fluency": 0.455, "relevance": 0.547}
QUESTION = "Summarize the article."
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "summeval.jsonl"


def load_articles(path: Path, limit_articles: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by article (doc_id), in file order, keeping the first ``limit_articles`` articles."""
    articles: dict[str, list[dict[str, Any]]] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            doc = row["doc_id"]
            if doc not in articles and limit_articles is not None and len(articles) >= limit_articles:
                continue
            articles.setdefault(doc, []).append(row)
    return articles


def inputs_for(row: dict[str, Any]) -> EvalInputs:
    return EvalInputs(question=QUESTION, answer=row["summary"], context=[row["source"]])


def score_all(
    articles: dict[str, list[dict[str, Any]]],
    judge: Judge,
    dimensions: Sequence[str],
    concurrency: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> dict[tuple[str, int, str], JudgeResult]:
    """Judge every (article, summary index, dimension); results keyed the same way."""
    rubrics = {d: load_rubric(DIMENSIONS[d]) for d in dimensions}
    jobs = []
    for doc, rows in articles.items():
        for i, row in enumerate(rows):
            inputs = inputs_for(row)
            for d in dimensions:
                metric = METRICS[DIMENSIONS[d]]
                jobs.append(((doc, i, d), build_messages(metric, rubrics[d], inputs)))
    results: dict[tuple[str, int, str], JudgeResult] = {}
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = {key: pool.submit(judge.score, messages) for key, messages in jobs}
        try:
            for n, (key, future) in enumerate(futures.items(), 1):
                results[key] = future.result()
                if progress:
                    progress(n, len(futures))
        except JudgeFatalError:  # bad key or model: no point scoring the rest
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return results


def agreement(
    articles: dict[str, list[dict[str, Any]]],
    results: dict[tuple[str, int, str], JudgeResult],
    dimension: str,
) -> dict[str, Any]:
    """Per-article Spearman/Kendall between judge and human, averaged over articles where defined."""
    rhos, taus, skipped, failed = [], [], 0, 0
    for doc, rows in articles.items():
        judge_scores, human_scores = [], []
        for i, row in enumerate(rows):
            result = results.get((doc, i, dimension))
            if result is None or result.status != "ok":
                failed += 1
                continue
            value = result.weighted if result.weighted is not None else result.score
            judge_scores.append(float(value))
            human_scores.append(float(row["human"][dimension]))
        rho, tau = spearman(judge_scores, human_scores), kendall_tau_b(judge_scores, human_scores)
        if rho is None or tau is None:  # all-equal scores (or too few): correlation undefined
            skipped += 1
            continue
        rhos.append(rho)
        taus.append(tau)
    return {
        "dimension": dimension,
        "metric": DIMENSIONS[dimension],
        "spearman": sum(rhos) / len(rhos) if rhos else None,
        "kendall": sum(taus) / len(taus) if taus else None,
        "articles": len(rhos),
        "skipped_articles": skipped,
        "failed_scores": failed,
        "geval_gpt4_spearman": GEVAL_GPT4_SPEARMAN[dimension],
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    def f(v: float | None) -> str:
        return "   —  " if v is None else f"{v:6.3f}"

    lines = [f"{'dimension':<12} {'llmsight metric':<15} {'spearman':>8} {'kendall':>8} {'G-Eval-4':>8} "
             f"{'articles':>8} {'skipped':>7} {'failed':>6}"]
    for r in rows:
        lines.append(f"{r['dimension']:<12} {r['metric']:<15} {f(r['spearman']):>8} {f(r['kendall']):>8} "
                     f"{r['geval_gpt4_spearman']:>8.3f} {r['articles']:>8} {r['skipped_articles']:>7} "
                     f"{r['failed_scores']:>6}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example: LLMSIGHT_JUDGE_MODEL=gpt-4o-mini python bench/judge_agreement.py "
                                     "--limit-articles 10")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SummEval jsonl (default: %(default)s)")
    parser.add_argument("--limit-articles", type=int, default=None, help="only the first N articles")
    parser.add_argument("--judge-model", default=None, help="default: LLMSIGHT_JUDGE_MODEL")
    parser.add_argument("--base-url", default=None, help="default: LLMSIGHT_JUDGE_BASE_URL (or api.openai.com)")
    parser.add_argument("--dimensions", default=",".join(DIMENSIONS), help="comma-separated subset")
    parser.add_argument("--score-mode", choices=("integer", "weighted"), default="integer")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per judge call")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)

    from llmsight.settings import Settings

    try:
        cfg = EvaluatorConfig.from_settings(Settings(), judge_model=args.judge_model,
                                            judge_base_url=args.base_url, score_mode=args.score_mode)
        cfg.require_judge()
    except EvaluatorConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    dimensions = [d.strip() for d in args.dimensions.split(",") if d.strip()]
    unknown = [d for d in dimensions if d not in DIMENSIONS]
    if unknown:
        print(f"error: unknown dimension(s) {unknown}; choose from {list(DIMENSIONS)}", file=sys.stderr)
        return 2
    if not args.data.is_file():
        print(f"error: no data at {args.data}; pass --data PATH", file=sys.stderr)
        return 2
    articles = load_articles(args.data, args.limit_articles)
    judge = Judge(cfg.judge_model, cfg.judge_base_url or None, cfg.judge_api_key or None,
                  timeout_s=args.timeout, score_mode=args.score_mode)
    total = sum(len(rows) for rows in articles.values()) * len(dimensions)
    print(f"judging {total} (summary, dimension) pairs from {len(articles)} articles with {cfg.judge_model} ...",
          file=sys.stderr)
    started = time.monotonic()

    def progress(done: int, all_: int) -> None:
        if done % 50 == 0 or done == all_:
            print(f"  {done}/{all_}", file=sys.stderr)

    try:
        results = score_all(articles, judge, dimensions, args.concurrency, progress)
    except JudgeFatalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = [agreement(articles, results, d) for d in dimensions]
    print(format_table(rows))
    tokens = sum(r.input_tokens + r.output_tokens for r in results.values())
    print(f"\njudge {cfg.judge_model}, score mode {args.score_mode}, {tokens:,} tokens, "
          f"{time.monotonic() - started:.0f}s")
    if args.json:
        args.json.write_text(json.dumps({"judge_model": cfg.judge_model, "score_mode": args.score_mode,
                                         "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
