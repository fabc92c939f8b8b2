"""Drift: is the current window's traffic and quality distributed like a baseline window's?

The counting is SQL in the query layer (``drift_numeric``: population stability index over the
baseline's deciles and ClickHouse's two-sample Kolmogorov-Smirnov test; ``drift_categories``:
counts per category). Here the category counts become a PSI and a chi-squared test, and every item
gets a plain verdict. The verdict needs both: PSI says how large the shift is, the test says it is
not noise. A huge sample makes a trivial shift "significant", so significance alone is not drift.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from llmsight.queries import Filters, ask

PSI_SHIFTED = 0.25  # the usual reading of PSI: < 0.1 stable, 0.1-0.25 moderate, > 0.25 significant
PSI_MODERATE = 0.1
ALPHA = 0.01  # the test's p-value below which a difference is not put down to chance
FLOOR = 0.0001  # share given to an empty bucket, so ln() stays finite


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


def verdict(psi: float | None, pvalue: float | None, baseline_n: int, current_n: int, min_samples: int) -> str:
    if min(baseline_n, current_n) < min_samples or psi is None or pvalue is None:
        return "insufficient data"
    if pvalue < ALPHA and psi >= PSI_SHIFTED:
        return "shifted"
    if pvalue < ALPHA and psi >= PSI_MODERATE:
        return "moderate shift"
    return "stable"


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X >= statistic) for chi-squared with ``dof`` degrees of freedom (Wilson-Hilferty: good to
    about two digits, enough to tell p < 0.01 from p > 0.05, which is all a verdict needs)."""
    if dof <= 0:
        return 1.0
    z = ((statistic / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    return 0.5 * math.erfc(z / math.sqrt(2))


def _category_item(item: str, counts: dict[str, tuple[int, int]], min_samples: int) -> DriftItem:
    b_total = sum(b for b, _ in counts.values())
    c_total = sum(c for _, c in counts.values())
    psi = statistic = pvalue = None
    if b_total and c_total:
        psi = sum(
            (max(c / c_total, FLOOR) - max(b / b_total, FLOOR))
            * math.log(max(c / c_total, FLOOR) / max(b / b_total, FLOOR))
            for b, c in counts.values()
        )
        n = b_total + c_total
        statistic = 0.0
        for b, c in counts.values():
            for observed, total in ((b, b_total), (c, c_total)):
                expected = total * (b + c) / n
                statistic += (observed - expected) ** 2 / expected
        pvalue = chi2_sf(statistic, len(counts) - 1)

    def top(index: int, total: int) -> str:
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1][index], kv[0]))[:3]
        return ", ".join(f"{name} {pair[index] / total:.0%}" for name, pair in ranked) if total else "-"

    return DriftItem(
        item, "category", b_total, c_total, top(0, b_total), top(1, c_total), psi, statistic, pvalue,
        verdict(psi, pvalue, b_total, c_total, min_samples),
    )  # fmt: skip


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
        "baseline_end_ms": int(baseline[1].timestamp() * 1000),
        "current_start_ms": int(current[0].timestamp() * 1000),
    }
    items = []
    for row in ask(client, database, "drift_numeric", baseline[0], current[1], filters, **params):
        psi, pvalue = _num(row["psi"]), _num(row["ks_pvalue"])
        b_n, c_n = int(row["baseline_n"]), int(row["current_n"])
        b_med, c_med = _num(row["baseline_median"]), _num(row["current_median"])
        items.append(DriftItem(
            row["item"], "numeric", b_n, c_n, f"median {b_med:,.4g}" if b_n and b_med is not None else "-",
            f"median {c_med:,.4g}" if c_n and c_med is not None else "-", psi, _num(row["ks_statistic"]), pvalue,
            verdict(psi, pvalue, b_n, c_n, min_samples),
        ))  # fmt: skip
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    for row in ask(client, database, "drift_categories", baseline[0], current[1], filters, **params):
        counts.setdefault(row["item"], {})[row["category"]] = (int(row["baseline"]), int(row["current"]))
    items += [_category_item(item, by_category, min_samples) for item, by_category in counts.items()]
    return sorted(items, key=lambda i: i.item)
