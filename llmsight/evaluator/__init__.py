"""The evaluator: samples stored LLM calls, scores them with a judge model and writes scores back.

Entry point for a scheduler (``llmsight serve`` calls it every ``evaluate_interval_s`` in the
process that owns the embedded store)::

    run_evaluator_once(settings_or_config: Settings | EvaluatorConfig, store_url: str | None = None) -> RunSummary

With a ``Settings`` the store URL defaults to ``settings.clickhouse_url``. It raises
``EvaluatorConfigError`` when no judge is configured and ``JudgeFatalError`` when the judge
rejects the key or model (401/403/404); finished work is saved before either. See
docs/evaluator.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EvaluatorConfig", "EvaluatorConfigError", "JudgeFatalError", "RunSummary", "run_evaluator_once"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing the package (e.g. to check it is installed) does not pull in the store client.
    if name in ("run_evaluator_once", "RunSummary"):
        from llmsight.evaluator import worker

        return getattr(worker, name)
    if name in ("EvaluatorConfig", "EvaluatorConfigError"):
        from llmsight.evaluator import config

        return getattr(config, name)
    if name == "JudgeFatalError":
        from llmsight.evaluator.judge import JudgeFatalError

        return JudgeFatalError
    raise AttributeError(f"module 'llmsight.evaluator' has no attribute {name!r}")
