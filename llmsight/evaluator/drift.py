"""Drift: is the current window's traffic and quality distributed like a baseline window's?

The whole comparison is the query layer's ``drift`` question, so the CLI, monitors and the quality
dashboard read the same figures: per item a population stability index (how large the shift is),
a two-sample test (Kolmogorov-Smirnov for numbers, chi-squared for categories: whether it is more
than noise) and a verdict that needs both, since a huge sample makes a trivial shift "significant".
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from llmsight.queries import Filters, ask
from llmsight.queries.questions import epoch_ms

ALPHA = 0.01  # the test's p-value below which a difference is not put down to chance
# The items drift.sql compares: these, and score:<metric> (1-5) / verdict:<metric> (pass/fail) per metric.
ITEMS = ("input_tokens", "output_tokens", "answer_bytes", "latency_ms", "model", "finish_reason", "outcome")
METRIC_ITEM_PREFIXES = ("score:", "verdict:")


def is_item(name: str) -> bool:
    """Whether ``name`` is something drift compares (what a monitor's drift ``items`` may list)."""
    return name in ITEMS or (name.startswith(METRIC_ITEM_PREFIXES) and name.partition(":")[2] != "")


@dataclass
class DriftItem:
    item: str
    kind: str  # "numeric" (PSI + Kolmogorov-Smirnov) or "category" (PSI + chi-squared)
    baseline_n: int
    current_n: int
    baseline: str  # a short summary of each window: the median, or the top categories
    current: str
    psi: float | None
    statistic: float | None
    pvalue: float | None
    verdict: str


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def compare(
    client: Any,
    database: str,
    baseline: tuple[dt.datetime, dt.datetime],
    current: tuple[dt.datetime, dt.datetime],
    filters: Filters | None = None,
    min_samples: int = 30,
) -> list[DriftItem]:
    """Every item's drift from ``baseline`` to ``current`` (each ``[start, end)``; baseline first)."""
    if not baseline[0] < baseline[1] <= current[0] < current[1]:
        raise ValueError("the baseline must end before (or when) the current window starts")
    params = {
        "baseline_start_ms": epoch_ms(baseline[0]),
        "baseline_end_ms": epoch_ms(baseline[1]),
        "current_start_ms": epoch_ms(current[0]),
        "current_end_ms": epoch_ms(current[1]),
        "min_samples": min_samples,
        "alpha": ALPHA,
    }
    items = []
    for row in ask(client, database, "drift", baseline[0], current[1], filters, **params):
        b_n, c_n = int(row["baseline_n"]), int(row["current_n"])
        if row["kind"] == "numeric":
            b_med, c_med = _num(row["baseline_median"]), _num(row["current_median"])
            base = f"median {b_med:,.4g}" if b_n and b_med is not None else "-"
            cur = f"median {c_med:,.4g}" if c_n and c_med is not None else "-"
        else:
            base, cur = row["baseline_top"], row["current_top"]
        items.append(DriftItem(
            row["item"], row["kind"], b_n, c_n, base, cur, _num(row["psi"]), _num(row["statistic"]),
            _num(row["pvalue"]), row["verdict"],
        ))  # fmt: skip
    return items
