"""What the ``llmsight eval`` commands share: the monitor-file options, readable errors, the store's database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.markup import escape

from llmsight.cli.common import ConfigOption, default_note, fail, user_errors

__all__ = ["ConfigOption", "MonitorOption", "errors", "quality", "settings_database"]

MonitorOption = Annotated[
    str, typer.Option("--monitor", help="Which monitor's quality signal." + default_note("the first that has one"))
]


@contextmanager
def errors() -> Iterator[None]:
    """The experiments' own errors a user can fix: one red line, exit 2."""
    from llmsight.evaluator.config import EvaluatorConfigError
    from llmsight.evaluator.metrics import UnknownMetricError
    from llmsight.evaluator.rubric import RubricError
    from llmsight.experiments.dataset import DatasetError
    from llmsight.experiments.gate import GateError
    from llmsight.experiments.results import UnknownRunError
    from llmsight.experiments.runner import ExperimentError
    from llmsight.experiments.target import TargetError
    from llmsight.monitors.loader import MonitorFileError

    with user_errors():
        try:
            yield
        except (DatasetError, TargetError, ExperimentError, UnknownRunError, GateError, EvaluatorConfigError,
                UnknownMetricError, RubricError, MonitorFileError) as exc:  # fmt: skip
            raise fail(escape(str(exc))) from None


def quality(settings: Any, config: str | None, monitor: str) -> Any:
    """The monitor file's quality signal (metrics, thresholds, rubrics), or None."""
    from llmsight.monitors.loader import load_for_settings

    loaded = load_for_settings(settings, config)
    for m in loaded.file.monitors:
        if (not monitor or m.name == monitor) and m.signals.quality is not None:
            return m.signals.quality
    return None


def settings_database(settings: Any) -> str:
    from llmsight.store.url import parse_store_url

    return parse_store_url(settings.clickhouse_url).database
