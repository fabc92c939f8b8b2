"""An experiment run as stored: its setup, its rows and their scores, read through the query layer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from llmsight.queries.questions import lookup


class UnknownRunError(ValueError):
    """No run has the name; the message lists the recent ones."""


@dataclass(frozen=True)
class RunResults:
    info: dict[str, Any]  # an experiment_runs row
    rows: dict[str, dict[str, Any]]  # row id -> experiment_rows row
    scores: list[dict[str, Any]]  # experiment_scores rows of the run's judge and prompt versions

    @property
    def name(self) -> str:
        return str(self.info["name"])

    @property
    def metrics(self) -> list[str]:
        return list(self.info["metrics"])

    def ok_scores(self, metric: str) -> dict[str, dict[str, Any]]:
        """Row id -> score row, for the rows the judge scored on ``metric``."""
        return {s["row_id"]: s for s in self.scores if s["metric"] == metric and s["status"] == "ok"}

    def missing(self) -> list[tuple[str, str, str]]:
        """(row id, metric, why) for every pair without a judgement: a failed target, a judge error, no score yet."""
        have = {(s["row_id"], s["metric"]): s for s in self.scores}
        out = []
        for row_id, row in sorted(self.rows.items()):
            for metric in self.metrics:
                if row["error"]:
                    out.append((row_id, metric, f"the target failed: {row['error']}"))
                    continue
                score = have.get((row_id, metric))
                if score is None:
                    out.append((row_id, metric, "not judged yet"))
                elif score["status"] in ("judge_error", "parse_error"):
                    out.append((row_id, metric, f"{score['status']}: {score['reason'][:200]}"))
        return out

    def unanswered(self) -> int:
        """Dataset rows with no stored attempt at all (a run interrupted before it reached them)."""
        return max(0, int(self.info["dataset_rows"]) - len(self.rows))


def recent_runs(client: Any, database: str, limit: int = 20) -> list[dict[str, Any]]:
    return lookup(client, database, "experiment_runs", experiment="", limit=limit)


def load_run(client: Any, database: str, name: str) -> RunResults:
    found = lookup(client, database, "experiment_runs", experiment=name, limit=1)
    if not found:
        names = [r["name"] for r in recent_runs(client, database, 10)]
        known = f"; recent runs: {', '.join(names)}" if names else "; there are no runs yet (llmsight eval run)"
        raise UnknownRunError(f"no experiment run named {name!r}{known}")
    info = found[0]
    versions = json.loads(info["rubric_versions"] or "{}")
    metrics = [m for m in info["metrics"] if m in versions]
    rows = {r["row_id"]: r for r in lookup(client, database, "experiment_rows", experiment=name)}
    scores = lookup(
        client, database, "experiment_scores", experiment=name, judge_model=info["judge_model"],
        metrics=metrics, versions=[versions[m] for m in metrics],
    )  # fmt: skip
    return RunResults(info, rows, scores)
