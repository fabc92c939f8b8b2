"""Rubric files: one markdown file per metric, its definition in front matter, its judge prompt below.

A metric is a file ``<name>.md``: front matter (YAML between ``---`` lines) says what it is, what
it needs from a call and how it is scored; the body is the rubric text the judge reads. Ours are
in ``rubrics/``; a directory of the user's (``--rubrics-dir`` / ``LLMSIGHT_RUBRICS_DIR``) adds
metrics and overrides ours by name. Every mistake is a ``RubricError`` naming the file and the
field, because a metric that silently judged the wrong thing would look like a quality change.

The prompt version stored beside every score is the rubric version plus a short hash of the
rubric text, the prompt template and what the metric declares, so editing a rubric (even
without bumping its version) re-scores instead of mixing scores made under different
instructions. The five metrics that predate front matter hash exactly as they did, so their
existing scores stay current.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from llmsight.evaluator.inputs import INPUT_TITLES

RUBRICS_DIR_ENV = "LLMSIGHT_RUBRICS_DIR"
SCALES = ("1-5", "binary")
FIELDS = ("name", "metric", "version", "inputs", "optional_inputs", "scale", "threshold", "categories", "description")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")  # part of the stored PromptVersion
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# What the five original metrics showed and needed before rubrics declared it. A rubric that still
# declares exactly this hashes as before (text and template only), so its stored scores stay current.
_LEGACY: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "groundedness": (frozenset({"answer", "context"}), frozenset({"question"})),
    "relevance": (frozenset({"question", "answer"}), frozenset({"conversation"})),
    "coherence": (frozenset({"answer"}), frozenset()),
    "fluency": (frozenset({"answer"}), frozenset()),
    "similarity": (frozenset({"question", "answer", "ground_truth"}), frozenset()),
}


class RubricError(ValueError):
    """A rubric file is missing or malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Rubric:
    metric: str
    version: str
    text: str
    source: str  # where it was read from, for messages
    inputs: tuple[str, ...] = ("answer",)  # required: without them the call is not_applicable
    optional_inputs: tuple[str, ...] = ()  # shown to the judge when the call has them
    scale: str = "1-5"
    threshold: float | None = None  # 1-5 only; None means the default (4)
    categories: tuple[str, ...] = ()  # the judge names one when the answer fails
    description: str = ""

    @property
    def shown(self) -> tuple[str, ...]:
        """The inputs the judge may see, in the fixed section order."""
        wanted = set(self.inputs) | set(self.optional_inputs)
        return tuple(name for name in INPUT_TITLES if name in wanted)

    def _declaration(self) -> str:
        legacy = _LEGACY.get(self.metric)
        if (
            legacy == (frozenset(self.inputs), frozenset(self.optional_inputs))
            and self.scale == "1-5"
            and not self.categories
        ):
            return ""
        declared = {
            "inputs": sorted(self.inputs),
            "optional_inputs": sorted(self.optional_inputs),
            "scale": self.scale,
            "categories": list(self.categories),
        }
        return "\n" + json.dumps(declared, sort_keys=True)

    def prompt_version(self, template_version: str) -> str:
        text = f"{template_version}\n{self.text}{self._declaration()}"
        return f"v{self.version}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _split(raw: str, source: str) -> tuple[dict[str, Any], str]:
    raw = raw.replace("\r\n", "\n")
    if not raw.startswith("---"):
        return {}, raw
    parts = raw.split("\n")
    try:
        end = parts.index("---", 1)
    except ValueError:
        raise RubricError(f"{source}: front matter opened with --- but never closed") from None
    try:
        meta = yaml.safe_load("\n".join(parts[1:end])) or {}
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 2})" if where is not None else ""
        raise RubricError(f"{source}: front matter is not valid YAML{line}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(meta, dict):
        raise RubricError(f"{source}: front matter must be 'key: value' lines, e.g. 'version: 1'")
    return meta, "\n".join(parts[end + 1 :])


def _names(value: Any, source: str, field: str, allowed: tuple[str, ...] | None) -> tuple[str, ...]:
    """A list field given as a YAML list or a comma-separated string, checked name by name."""
    if value is None:
        return ()
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise RubricError(f"{source}: {field} must be a list of names, e.g. [question, answer]")
    names = tuple(dict.fromkeys(v.strip().lower() for v in items if v.strip()))
    for name in names:
        if allowed is not None and name not in allowed:
            raise RubricError(f"{source}: {field}: unknown input {name!r}; choose from {', '.join(allowed)}")
        if allowed is None and (not _NAME.match(name) or name == "none"):
            raise RubricError(f"{source}: {field}: {name!r} must be a lowercase name (letters, digits, _), not none")
    return names


def parse_rubric(metric: str, raw: str, source: str, base: Rubric | None = None) -> Rubric:
    """One rubric file. ``base`` is the built-in of the same name: what an override leaves out is kept."""
    if not _NAME.match(metric):
        raise RubricError(f"{source}: the file name must be a lowercase metric name (letters, digits, _) + .md")
    meta, body = _split(raw, source)
    unknown = sorted(str(k) for k in meta if str(k).lower() not in FIELDS)
    if unknown:
        raise RubricError(
            f"{source}: unknown field(s) {', '.join(unknown)}; known: {', '.join(FIELDS[:1] + FIELDS[2:])}"
        )
    meta = {str(k).lower(): v for k, v in meta.items()}
    name = meta.get("name", meta.get("metric"))
    if name is None and base is None:
        raise RubricError(f"{source}: name: missing; a new metric needs 'name: {metric}' (the file name)")
    if name is not None and str(name).strip() != metric:
        raise RubricError(f"{source}: name: {name!r} must be the file name without .md ({metric!r})")
    version = str(meta.get("version") or "").strip()
    if not version:
        raise RubricError(f"{source}: version: missing; add it to the front matter, e.g. '---\\nversion: 1\\n---'")
    if not _VERSION.match(version):
        raise RubricError(f"{source}: version: {version!r} is not a short label such as 1, 2 or 2026-06")
    allowed = tuple(INPUT_TITLES)
    inputs = _names(meta.get("inputs"), source, "inputs", allowed) or (base.inputs if base else ())
    if not inputs:
        raise RubricError(f"{source}: inputs: missing; name what the metric needs, e.g. inputs: [question, answer]")
    if "optional_inputs" in meta or base is None:
        optional = _names(meta.get("optional_inputs"), source, "optional_inputs", allowed)
    else:
        optional = base.optional_inputs
    optional = tuple(n for n in optional if n not in inputs)
    scale = str(meta.get("scale", base.scale if base else "1-5")).strip().lower()
    if scale not in SCALES:
        raise RubricError(f"{source}: scale: {scale!r} is not a scale; use 1-5 or binary")
    threshold = _threshold(meta, scale, source, base)
    categories = base.categories if base and "categories" not in meta else ()
    if "categories" in meta:
        categories = _names(meta["categories"], source, "categories", None)
    if categories and scale != "binary":
        raise RubricError(f"{source}: categories: only a binary metric names a category for its fails")
    description = str(meta.get("description") or (base.description if base else "")).strip()
    body = body.strip()
    if not body:
        raise RubricError(f"{source}: rubric text is empty (it goes below the front matter)")
    return Rubric(metric, version, body, source, inputs, optional, scale, threshold, categories, description)


def _threshold(meta: dict[str, Any], scale: str, source: str, base: Rubric | None) -> float | None:
    if "threshold" not in meta:
        return base.threshold if base and base.scale == scale else None
    if scale == "binary":
        raise RubricError(f"{source}: threshold: a binary metric has none (a pass is a pass); remove it")
    value = meta["threshold"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 5:
        raise RubricError(f"{source}: threshold: {value!r} must be a number from 1 to 5")
    return float(value)


@cache
def builtin_rubrics() -> dict[str, Rubric]:
    """Our rubric files, by name (read once: they ship with the package)."""
    out: dict[str, Rubric] = {}
    for ref in sorted(resources.files("llmsight.evaluator").joinpath("rubrics").iterdir(), key=lambda r: r.name):
        if ref.name.endswith(".md"):
            name = ref.name.removesuffix(".md")
            out[name] = parse_rubric(name, ref.read_text(encoding="utf-8"), f"built-in {ref.name}")
    return out


def rubrics_directory(rubrics_dir: str | Path | None = None) -> Path | None:
    """The user's directory (argument, else LLMSIGHT_RUBRICS_DIR), or None; a missing one is an error."""
    directory = rubrics_dir or os.environ.get(RUBRICS_DIR_ENV) or None
    if not directory:
        return None
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise RubricError(f"rubrics directory {directory} does not exist")
    return path


def _read(path: Path) -> Rubric:
    name = path.name.removesuffix(".md")
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError(f"{path}: cannot be read ({exc})") from None
    return parse_rubric(name, raw, str(path), builtin_rubrics().get(name))


def load_all(rubrics_dir: str | Path | None = None) -> dict[str, Rubric]:
    """Every metric: ours, then the directory's ``*.md`` (README.md aside) overriding or adding by name."""
    rubrics = dict(builtin_rubrics())
    directory = rubrics_directory(rubrics_dir)
    if directory is not None:
        for path in sorted(directory.glob("*.md")):
            if path.name.lower() != "readme.md":
                rubric = _read(path)
                rubrics[rubric.metric] = rubric
    return rubrics


def load_rubric(metric: str, rubrics_dir: str | Path | None = None) -> Rubric:
    """The user's ``<dir>/<metric>.md`` when it exists, otherwise the built-in rubric."""
    directory = rubrics_directory(rubrics_dir)
    if directory is not None and (directory / f"{metric}.md").is_file():
        return _read(directory / f"{metric}.md")
    builtin = builtin_rubrics().get(metric)
    if builtin is None:
        raise RubricError(f"no rubric for metric {metric!r}")
    return builtin
