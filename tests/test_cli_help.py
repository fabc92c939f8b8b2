"""Every command's --help shows each option's default (the effective one for Settings-backed flags) and an example."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from llmsight.cli.main import app

runner = CliRunner()
COMMANDS = [
    ["serve"], ["db", "init"], ["db", "status"], ["calls"], ["trace"], ["evaluate"], ["report"], ["demo"],
    ["dataset", "export"], ["eval", "run"], ["eval", "compare"], ["eval", "gate"], ["eval", "runs"],
]  # fmt: skip


pytestmark = pytest.mark.usefixtures("cli_env")


def option_help(output: str) -> dict[str, str]:
    """{'--host': 'Address the receivers listen on. [default: ...] ...'} from the rich Options panel."""
    options: dict[str, str] = {}
    current = ""
    for line in output.splitlines():
        row = line.strip().strip("│").strip()
        match = re.match(r"(--[a-z-]+)(?:\s+-\w)?\s+<[^>]+>(?: \[[^\]]*\])?\s+(.*)", row)
        if match:
            current = match.group(1)
            options[current] = match.group(2)
        elif current and row and not line.lstrip().startswith(("╰", "╭")):
            options[current] += " " + row
        else:
            current = ""
    return options


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_option_shows_its_default_and_the_command_an_example(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    options = option_help(result.output)
    assert "--clickhouse-url" in options, result.output
    missing = {name: text for name, text in options.items() if name != "--help" and "[default:" not in text}
    assert not missing, missing
    eaten = {name: text for name, text in options.items() if " ." in text}  # "listen on ." : rich ate a [default]
    assert not eaten, eaten


def test_serve_names_settings_defaults_and_their_env_vars():
    options = option_help(runner.invoke(app, ["serve", "--help"]).output)
    assert "[default: 127.0.0.1] [env var: LLMSIGHT_HOST]" in options["--host"]
    assert "[default: 4318] [env var: LLMSIGHT_HTTP_PORT]" in options["--http-port"]
    assert "[default: 4317]" in options["--grpc-port"] and "[default: 8124]" in options["--query-port"]
    assert "[default: 30] [env var: LLMSIGHT_RETENTION_DAYS]" in options["--retention-days"]
    assert "[default: chdb://./.llmsight/clickhouse]" in options["--clickhouse-url"]
    evaluate = option_help(runner.invoke(app, ["evaluate", "--help"]).output)
    assert "[default: 0.1] [env var: LLMSIGHT_SAMPLE_RATE]" in evaluate["--sample-rate"]
    assert "a pass every 60s" in evaluate["--once"]


def test_help_shows_the_env_value_in_force_but_never_a_secret():
    """Help texts are built at import, so this runs the real command in a fresh process."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LLMSIGHT_")},
        "COLUMNS": "200",
        "LLMSIGHT_HOST": "0.0.0.0",
        "LLMSIGHT_INGEST_TOKENS": "s3cret-token",
        "LLMSIGHT_CLICKHOUSE_URL": "http://default:hunter2@db:8123/otel",
    }
    out = subprocess.run(
        [sys.executable, "-m", "llmsight.cli.main", "serve", "--help"], capture_output=True, text=True, env=env,
        timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    options = option_help(out.stdout)
    assert "[default: 0.0.0.0, from LLMSIGHT_HOST]" in options["--host"]
    assert "[default: set, from LLMSIGHT_INGEST_TOKENS]" in options["--ingest-token"]
    assert "[default: http://default:***@db:8123/otel, from LLMSIGHT_CLICKHOUSE_URL]" in options["--clickhouse-url"]
    assert "s3cret-token" not in out.stdout and "hunter2" not in out.stdout
