"""The ``llmsight`` command: one typer app; each command group lives in its own module.

Errors a person can fix (a bad URL, a store in use, a port taken) are printed as one
red line and exit 2, never as a traceback.
"""

from __future__ import annotations

import typer

from llmsight.cli import dataset as dataset_commands
from llmsight.cli import db as db_commands
from llmsight.cli import eval as eval_commands
from llmsight.cli import monitor as monitor_commands
from llmsight.cli import serve as serve_commands
from llmsight.cli import views as view_commands

app = typer.Typer(
    name="llmsight",
    help="Self-hosted monitoring for LLM apps: collect OpenTelemetry traces into ClickHouse, "
    "score answer quality with a judge model, explore in the terminal or Grafana.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
app.command("serve")(serve_commands.serve)
app.add_typer(db_commands.app, name="db")
app.add_typer(monitor_commands.app, name="monitor")
app.add_typer(eval_commands.app, name="eval")
app.add_typer(dataset_commands.app, name="dataset")
app.command("monitors")(monitor_commands.monitors)
app.command("calls")(view_commands.calls)
app.command("trace")(view_commands.trace)


def _register_optional() -> None:
    """Commands added by later components register here if their module is present."""
    import importlib

    for module_name, names in (
        ("llmsight.cli.evaluate", ("evaluate", "report")),
        ("llmsight.cli.demo", ("demo",)),
        ("llmsight.cli.drift", ("drift",)),
    ):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        for name in names:
            if hasattr(module, name):
                app.command(name)(getattr(module, name))


_register_optional()

if __name__ == "__main__":
    app()
