"""Sampling is decided in SQL from the span id: same picks every run, close to the rate, filters apply."""

from __future__ import annotations

from llmsight.evaluator.sampling import select_candidates

from .spans import Call, insert_calls

PLANS = [("coherence", "v1-test")]


def picks(client, database, rate, **kw) -> set[str]:
    rows = select_candidates(client, database, judge_model="j", plans=PLANS, sample_rate=rate,
                             since_s=kw.pop("since_s", 3600), limit=100_000, **kw)
    return {r["SpanId"] for r in rows}


def test_sampling_is_deterministic_nested_and_close_to_the_rate(store_client, database):
    calls = [Call() for _ in range(2000)]
    insert_calls(store_client, calls)
    first = picks(store_client, database, 0.1)
    assert picks(store_client, database, 0.1) == first  # a re-run picks the same calls
    # ~200 expected; binomial sd ~13, so +-50 fails only on a broken predicate.
    assert 150 <= len(first) <= 250
    smaller = picks(store_client, database, 0.05)
    assert smaller < first and 60 <= len(smaller) <= 140  # lower rate is a subset: raising it only adds
    assert picks(store_client, database, 0.0) == set()
    assert len(picks(store_client, database, 1.0)) == 2000


def test_filters_window_and_errors(store_client, database):
    keep = Call(service="checkout", model="gpt-4o")
    others = [Call(service="search", model="gpt-4o"), Call(service="checkout", model="gpt-4o-mini"),
              Call(service="checkout", model="gpt-4o", age_s=7200),
              Call(service="checkout", model="gpt-4o", status="Error")]
    insert_calls(store_client, [keep, *others])
    assert picks(store_client, database, 1.0, service="checkout", model="gpt-4o") == {keep.span_id}
    assert len(picks(store_client, database, 1.0)) == 3  # the errored call and the 2h-old one are out
    assert len(picks(store_client, database, 1.0, since_s=3 * 3600)) == 4


def test_final_statuses_are_skipped_and_judge_errors_retried(store_client, database):
    calls = [Call() for _ in range(4)]
    insert_calls(store_client, calls)
    statuses = ["ok", "not_applicable", "parse_error", "judge_error"]
    ts = dict(store_client.query("SELECT SpanId, Timestamp FROM llm_calls").result_rows)
    rows = [(ts[c.span_id], c.trace_id, c.span_id, "shop", "gpt-4o-mini", "coherence", s, "j", "v1-test")
            for c, s in zip(calls, statuses, strict=True)]
    store_client.insert("evaluations", rows, column_names=["SpanTimestamp", "TraceId", "SpanId", "ServiceName",
                                                           "Model", "Metric", "Status", "JudgeModel",
                                                           "PromptVersion"])
    assert picks(store_client, database, 1.0) == {calls[3].span_id}
    # Another judge model or a new prompt version is new work for every call.
    other = select_candidates(store_client, database, judge_model="j2", plans=PLANS, sample_rate=1.0,
                              since_s=3600)
    assert len(other) == 4
    new_version = select_candidates(store_client, database, judge_model="j", plans=[("coherence", "v2")],
                                    sample_rate=1.0, since_s=3600)
    assert len(new_version) == 4


def test_shards_split_the_sample_without_overlap(store_client, database):
    import pytest

    from llmsight.evaluator.config import EvaluatorConfig, EvaluatorConfigError

    insert_calls(store_client, [Call() for _ in range(600)])
    whole = picks(store_client, database, 0.5)
    shards = [picks(store_client, database, 0.5, shard=(i, 3)) for i in range(3)]
    assert set().union(*shards) == whole
    assert sum(len(s) for s in shards) == len(whole)  # disjoint: no call judged by two workers
    assert all(len(s) > len(whole) // 6 for s in shards)  # and each worker gets a real share
    assert EvaluatorConfig(shard="2/3").shard_tuple() == (2, 3)
    with pytest.raises(EvaluatorConfigError, match="shard"):
        EvaluatorConfig(shard="3/3").validated()
