"""`llmsight calls` at 80, 120 and 200 columns: the prompt gives way first; model and status names are never cut."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from typer.testing import CliRunner

from llmsight.cli.common import console
from llmsight.cli.main import app
from tests.evaluator.spans import COLUMNS, Call, insert_calls

runner = CliRunner()
MODELS = ("gpt-4o-2024-08-06", "gpt-4o-mini")
SERVICE = "checkout-assistant"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("LLMSIGHT_"):
            monkeypatch.delenv(name)
    # rich fixes a console's width for good when COLUMNS is set at its creation (module import, when pytest runs
    # from a shell that exports COLUMNS); unfixed, it reads the COLUMNS each invoke below passes.
    monkeypatch.setattr(console, "_width", None)


@pytest.fixture
def calls_url(store_url, store_client) -> str:
    calls = [
        Call(question=f"question {i} " + "about the refund policy " * 8, model=MODELS[i % 2], service=SERVICE,
             input_tokens=1234 + i, output_tokens=56, duration_ms=1500.0, age_s=60.0 + i)
        for i in range(4)
    ]  # fmt: skip
    failed = Call(question="why so slow", model=MODELS[0], service=SERVICE, status="Error", age_s=30.0)
    row = failed.row(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    row[COLUMNS.index("SpanAttributes")]["error.type"] = "RateLimitError"
    insert_calls(store_client, calls, extra_rows=[row])
    return store_url


def render(url: str, columns: int) -> list[str]:
    result = runner.invoke(app, ["calls", "--last", "1h", "--clickhouse-url", url], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= columns, result.output
    return lines


@pytest.mark.parametrize("columns", [80, 120, 200])
def test_needed_columns_are_whole_at_every_width(calls_url, columns):
    lines = render(calls_url, columns)
    text = "\n".join(lines)
    header = next(line for line in lines if "tokens" in line)
    for name in ("time", "model", "tokens", "cost $", "ms", "status", "prompt"):
        assert name in header, text
    body = [line for line in lines if any(model in line for model in MODELS)]
    assert len(body) == 5, text
    for model in MODELS:
        assert sum(f" {model} " in line for line in body) >= 2, text  # whole name, never "gpt-4o-20…"
    assert sum("RateLimitError" in line for line in body) == 1, text
    assert sum(" ok " in line for line in body) == 4, text
    assert sum("1,500" in line for line in body) == 4, text  # latency kept
    assert "…" in text  # the long prompts were what got cut


def test_wider_terminals_add_service_trace_and_date(calls_url):
    narrow = "\n".join(render(calls_url, 80))
    assert SERVICE not in narrow and "trace" not in narrow
    middle = "\n".join(render(calls_url, 120))
    assert f"{SERVICE} / {MODELS[0]}" in middle and "trace" in middle and "time (UTC)" in middle
    wide = "\n".join(render(calls_url, 200))
    assert f"{SERVICE} / {MODELS[1]}" in wide
    assert "about the refund policy about the refund policy about the refund policy" in wide
