"""The ``llmsight`` command line (typer + rich).

``run`` is the console script. It is importable from the light base install, which has no CLI
dependencies, so it can say which extra to install instead of failing with an import error.
"""

from __future__ import annotations

import sys


def run() -> None:
    try:
        from llmsight.cli.main import app
    except ModuleNotFoundError as exc:
        sys.stderr.write(
            f"error: the llmsight command needs the collector extra ({exc.name} is missing):\n"
            "    pip install 'llmsight[all]'      # or llmsight[collector] without the evaluator\n"
            "An app that only calls llmsight.instrument() needs nothing more than `pip install llmsight`.\n"
        )
        raise SystemExit(2) from None
    app()
