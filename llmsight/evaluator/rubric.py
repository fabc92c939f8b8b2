"""Load the rubric text for a metric: ours from ``rubrics/*.md``, or a user's override directory.

Each rubric is markdown with a small front-matter block (``version: N``). The prompt version
stored beside every score is the rubric version plus a short hash of the rubric and prompt
template, so editing a rubric (even without bumping its version) re-scores instead of mixing
scores produced under different instructions.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

RUBRICS_DIR_ENV = "LLMSIGHT_RUBRICS_DIR"


class RubricError(ValueError):
    """A rubric file is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class Rubric:
    metric: str
    version: str
    text: str
    source: str  # where it was read from, for messages

    def prompt_version(self, template_version: str) -> str:
        digest = hashlib.sha256(f"{template_version}\n{self.text}".encode()).hexdigest()[:8]
        return f"v{self.version}-{digest}"


def parse_rubric(metric: str, raw: str, source: str) -> Rubric:
    """Split front matter from body; a rubric without ``version`` is rejected so scores stay traceable."""
    meta: dict[str, str] = {}
    body = raw
    if raw.startswith("---"):
        parts = raw.split("\n")
        try:
            end = parts.index("---", 1)
        except ValueError:
            raise RubricError(f"{source}: front matter opened with --- but never closed") from None
        for line in parts[1:end]:
            if ":" in line:
                key, _, value = line.partition(":")
                meta[key.strip().lower()] = value.strip()
        body = "\n".join(parts[end + 1 :])
    if not meta.get("version"):
        raise RubricError(f"{source}: needs front matter with a version, e.g. '---\\nversion: 1\\n---'")
    body = body.strip()
    if not body:
        raise RubricError(f"{source}: rubric text is empty")
    return Rubric(metric=metric, version=meta["version"], text=body, source=source)


def load_rubric(metric: str, rubrics_dir: str | Path | None = None) -> Rubric:
    """The user's ``<dir>/<metric>.md`` when it exists, otherwise the built-in rubric."""
    directory = rubrics_dir or os.environ.get(RUBRICS_DIR_ENV) or None
    if directory:
        path = Path(directory).expanduser() / f"{metric}.md"
        if path.is_file():
            return parse_rubric(metric, path.read_text(encoding="utf-8"), str(path))
        if not Path(directory).expanduser().is_dir():
            raise RubricError(f"rubrics directory {directory} does not exist")
    ref = resources.files("llmsight.evaluator").joinpath("rubrics", f"{metric}.md")
    if not ref.is_file():
        raise RubricError(f"no rubric for metric {metric!r}")
    return parse_rubric(metric, ref.read_text(encoding="utf-8"), f"built-in {metric}.md")
