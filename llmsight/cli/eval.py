"""``llmsight eval``: run an app on a dataset and judge it (``run``), compare two runs, gate a release.

Registered by ``llmsight.cli.main`` as a command group. The work is in ``llmsight.experiments``;
``eval_run`` and ``eval_results`` turn flags into calls, show progress and tables, and map outcomes to exit codes.
"""

from __future__ import annotations

import typer

from llmsight.cli.eval_results import compare, gate, runs
from llmsight.cli.eval_run import run

app = typer.Typer(
    help="Evaluate before release: run an app on a dataset and judge every row (run), compare two runs "
    "(compare), fail a CI job on missed targets or regressions (gate). Guide: docs/experiments.md.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

app.command("run")(run)
app.command("compare")(compare)
app.command("gate")(gate)
app.command("runs")(runs)
