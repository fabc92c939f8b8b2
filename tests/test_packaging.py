"""The light base install: the instrumentation imports without the collector's dependencies,
and the `llmsight` command says which extra to install instead of crashing."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_instrumentation_does_not_import_collector_dependencies():
    # (pydantic itself may load: openai, installed here and patched by instrument(), uses it)
    code = (
        "import sys, llmsight; llmsight.instrument(service_name='x', endpoint='http://127.0.0.1:9');"
        "llmsight.uninstrument();"
        "heavy = [m for m in ('chdb', 'clickhouse_connect', 'starlette', 'uvicorn', 'typer', 'rich',"
        " 'pydantic_settings', 'grpc', 'genai_prices') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_command_without_cli_dependencies_names_the_extra(monkeypatch, capsys):
    from llmsight import cli

    for name in [m for m in sys.modules if m.startswith("llmsight.cli.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "typer", None)  # as if typer were not installed
    with pytest.raises(SystemExit) as info:
        cli.run()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "pip install 'llmsight[all]'" in err and "typer" in err
