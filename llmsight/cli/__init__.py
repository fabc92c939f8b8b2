"""The ``llmsight`` command line (typer + rich)."""
