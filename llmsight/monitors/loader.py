"""Find and read the monitor file, turning every mistake into one message that names the file and field.

Where the file is: ``--config``, else ``LLMSIGHT_CONFIG``, else ``llmsight.yaml`` (or ``.yml``) in the
working directory. No file means the default monitor (``default_monitor_file``), so that nothing a
user had before the file existed changes silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmsight.monitors.config import MonitorFile, default_monitor_file

FILE_NAMES = ("llmsight.yaml", "llmsight.yml")


class MonitorFileError(ValueError):
    """The monitor file cannot be used; the message names the file, the field and what is allowed."""


@dataclass(frozen=True)
class LoadedMonitors:
    file: MonitorFile
    path: Path | None  # None: the built-in default monitor

    @property
    def source(self) -> str:
        return str(self.path) if self.path else "built-in default (no llmsight.yaml)"


def find_monitor_file(config: str | None = None, cwd: Path | None = None) -> Path | None:
    explicit = config or os.environ.get("LLMSIGHT_CONFIG", "")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise MonitorFileError(f"{path}: no such monitor file")
        return path
    for name in FILE_NAMES:
        path = (cwd or Path.cwd()) / name
        if path.is_file():
            return path
    return None


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith(("function-", "tagged-union")):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def parse_monitor_text(text: str, origin: str = "llmsight.yaml", base_dir: str | None = None) -> MonitorFile:
    """Validate a monitor file's text; a relative ``rubrics_dir`` resolves against ``base_dir`` (its folder)."""
    import yaml
    from pydantic import ValidationError

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise MonitorFileError(f"{origin}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MonitorFileError(f"{origin}: the top level must be a mapping with `monitors:` (and `channels:`)")
    try:
        return MonitorFile.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False):
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown field"
            lines.append(f"{origin}: {_location(error['loc'])}: {message}")
        raise MonitorFileError("\n".join(lines)) from None


def load_monitors(
    config: str | None = None, cwd: Path | None = None, defaults: dict[str, Any] | None = None
) -> LoadedMonitors:
    """The monitor file, or (without one) the default monitor, shaped by ``defaults`` (see default_monitor_file)."""
    path = find_monitor_file(config, cwd)
    if path is None:
        return LoadedMonitors(default_monitor_file(**(defaults or {})), None)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MonitorFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return LoadedMonitors(parse_monitor_text(text, str(path), str(path.parent)), path)


def load_for_settings(settings: Any, config: str | None = None) -> LoadedMonitors:
    """The monitor file (``config``, else ``settings.config``, else LLMSIGHT_CONFIG or ./llmsight.yaml), or the default
    monitor built from the evaluator settings serve used before monitor files existed (LLMSIGHT_SAMPLE_RATE,
    LLMSIGHT_EVALUATOR_METRICS, LLMSIGHT_EVALUATOR_SINCE), so nothing changes silently without a file. Every command
    (serve, monitor run/check/grafana-rules, monitors) loads through here, so they agree on the default monitor."""
    from llmsight.evaluator.config import EvaluatorConfig

    cfg = EvaluatorConfig.from_settings(settings)
    defaults = dict(sample_rate=cfg.sample_rate, metrics=cfg.metrics, lookback=cfg.since_s)
    return load_monitors(config or getattr(settings, "config", "") or None, defaults=defaults)
