"""People's feedback on the Generation quality dashboard: how much of the traffic people rated, how
much of it they disliked, and how the judge's failing answers line up with theirs.

The panels read the query layer's ``feedback_verdicts`` (a call's latest rating; feedback names its
call by span id or the provider's response id) and ``feedback_agreement`` (the confusion matrix),
the questions ``llmsight report`` asks. Feedback comes after its call, so both read feedback from
the range's start on (``$__from``).
"""

from __future__ import annotations

from llmsight.queries.questions import Grafana
from panels.blocks import CALLS_FILTER, Layout, from_question, stat, table

SINCE_RANGE_START = {"window_start_ms": Grafana("$__from")}
PERCENT = [{"id": "unit", "value": "percentunit"}, {"id": "decimals", "value": 0}]


def feedback_stats(lay: Layout) -> list[dict]:
    verdicts = "feedback_verdicts"
    return [
        stat(
            lay,
            "Rated calls",
            "How many of the range's calls did people rate (thumbs or a score, llmsight.feedback())?",
            from_question(verdicts, "count() AS rated_calls", values=SINCE_RANGE_START),
            "short",
        ),
        stat(
            lay,
            "Share of calls rated",
            "What share of the range's LLM calls got a person's rating?",
            from_question(
                verdicts,
                f"count() / greatest((SELECT count() FROM otel.llm_calls WHERE {CALLS_FILTER}), 1) AS rated_share",
                values=SINCE_RANGE_START,
            ),
            "percentunit",
            decimals=1,
        ),
        stat(
            lay,
            "Negative feedback",
            "Of the rated calls, what share did people rate negatively (latest rating below 0.5: thumbs down)?",
            from_question(verdicts, "countIf(person_score < 0.5) / greatest(count(), 1) AS negative_share",
                          values=SINCE_RANGE_START),  # fmt: skip
            "percentunit",
            decimals=1,
        ),
    ]


def feedback_agreement(lay: Layout) -> dict:
    return table(
        lay,
        "People vs the judge",
        "On calls with both a judge score and a person's rating, per metric: how often both failed the answer, "
        "only the judge, only people, or neither. Precision: of the judge's failing answers, the share people "
        "failed too. Recall: of people's failing answers, the share the judge caught.",
        from_question(
            "feedback_agreement",
            "metric AS Metric, judge_fail_person_fail AS `both fail`, judge_fail_person_pass AS `judge only`, "
            "judge_pass_person_fail AS `people only`, judge_pass_person_pass AS `both pass`, "
            "judge_fail_person_fail / nullIf(judge_fail_person_fail + judge_fail_person_pass, 0) AS precision, "
            "judge_fail_person_fail / nullIf(judge_fail_person_fail + judge_pass_person_fail, 0) AS recall",
            order_by="Metric",
            values=SINCE_RANGE_START,
        ),
        w=12,
        h=8,
        overrides=[{"matcher": {"id": "byName", "options": name}, "properties": PERCENT}
                   for name in ("precision", "recall")],  # fmt: skip
    )
