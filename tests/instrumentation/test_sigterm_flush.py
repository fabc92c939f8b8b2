"""An app under uvicorn stopped by SIGTERM (every deploy) still sends its last spans: uvicorn re-raises
SIGTERM after its graceful shutdown, which skips the SDK's exit flush; llmsight's handler flushes first."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import httpx2 as httpx

from llmsight.collector.server import free_port
from llmsight.instrumentation.shutdown import FLUSH_TIMEOUT_S

from .test_setup import _decode, collector  # noqa: F401 - the fixture is used by name

APP = textwrap.dedent("""
    import sys
    import openai, uvicorn
    import llmsight
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    llmsight.instrument(endpoint=sys.argv[2])  # at import, as apps do: before uvicorn takes the signals
    client = openai.OpenAI(base_url=sys.argv[1], api_key="k", max_retries=0)

    def ask(request):
        reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "last words"}])
        return PlainTextResponse(reply.choices[0].message.content)

    uvicorn.run(Starlette(routes=[Route("/ask", ask)]), host="127.0.0.1", port=int(sys.argv[3]), log_level="warning")
""")


def _serve(fake, collector_port: int, extra: dict[str, str]) -> tuple[subprocess.Popen, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMSIGHT_"))}
    environment["OTEL_BSP_SCHEDULE_DELAY"] = "600000"  # nothing leaves on the batch processor's own schedule
    environment.update(extra)
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "-c", APP, fake.base_url, f"http://127.0.0.1:{collector_port}", str(port)],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/ask"
    deadline = time.monotonic() + 60
    while True:  # until the app answers (and so has made its LLM call)
        try:
            answer = httpx.get(url, timeout=10)
            break
        except httpx.TransportError:
            assert app.poll() is None and time.monotonic() < deadline, app.communicate()[0]
            time.sleep(0.1)
    assert answer.status_code == 200 and answer.text == "echo: last words", answer.text
    return app, url


def _stop(app: subprocess.Popen) -> int:
    app.send_signal(signal.SIGTERM)
    try:
        app.wait(timeout=30)
    finally:
        app.kill()
    return app.returncode


def test_sigterm_under_uvicorn_flushes_the_last_spans_and_still_ends_by_sigterm(fake, collector):  # noqa: F811
    app, _ = _serve(fake, collector.server_port, {})
    assert collector.received == []  # the span waits in the batch processor
    assert _stop(app) == -signal.SIGTERM  # uvicorn's exit status, as without llmsight
    _, spans, _ = _decode(collector.received)
    assert [s.name for s in spans] == ["chat m"]


def test_the_flush_on_sigterm_can_be_turned_off(fake, collector):  # noqa: F811
    app, _ = _serve(fake, collector.server_port, {"LLMSIGHT_FLUSH_ON_SIGTERM": "false"})
    assert _stop(app) == -signal.SIGTERM
    assert collector.received == []  # lost, as before: what the first test guards against


def test_a_collector_that_hangs_delays_the_exit_by_at_most_the_flush_bound(fake):
    """The SDK's flush ignores its timeout and would wait out the exporter's own (5 s, then retries)."""
    with socket.socket() as hanging:  # accepts connections (the kernel does), never answers
        hanging.bind(("127.0.0.1", 0))
        hanging.listen(16)
        app, _ = _serve(fake, hanging.getsockname()[1], {})
        started = time.monotonic()
        assert _stop(app) == -signal.SIGTERM
        took = time.monotonic() - started
    assert took < FLUSH_TIMEOUT_S + 1.5, took
