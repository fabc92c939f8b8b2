"""Monitor notifications against real servers: aiosmtpd for mail, ThreadingHTTPServer for webhooks.

Nothing of ours is mocked. Backoff is tested with an injected clock and sleep, so no test waits
for real time; tests wait on conditions (events, ``flush``) only.
"""

from __future__ import annotations

import logging
import math
import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import ValidationError

from llmsight.monitors.notify import (
    Alert,
    DeliveryError,
    Dispatcher,
    EmailChannel,
    History,
    WebhookChannel,
    WorstSample,
    decide,
    next_history,
    parse_channels,
    send_email,
    send_webhook,
    subject,
)

UTC = timezone.utc
T0 = datetime(2025, 1, 8, tzinfo=UTC)
TRACE_A, TRACE_B = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"
LOGGER = "llmsight.monitors.notify"

VIOLATION = Alert(
    kind="violation",
    monitor="rag-groundedness",
    signal="quality",
    metric="groundedness",
    statistic="pass_rate",
    value=0.82,
    target=0.9,
    comparison=">=",
    window_start=T0 - timedelta(days=7),
    window_end=T0,
    sample_count=120,
    run_at=T0,
    filters={"service": "chat", "environment": "prod"},
    worst=(
        WorstSample(TRACE_A, "00f067aa0ba902b7", 0.1, "Claims a refund window that the context does not state."),
        WorstSample(TRACE_B, "b7ad6b7169203331", None, "not scored"),
    ),
    first_violation_at=T0,
)
RESOLVED = replace(VIOLATION, kind="resolved", value=0.95, run_at=T0 + timedelta(hours=5), worst=())


# --- real servers ---------------------------------------------------------------------------


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"alerts", b"s3cret-pw")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the venv has no `cryptography`, so the openssl CLI makes it)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    command += ["-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost"]
    command += ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"openssl could not make a certificate: {done.stderr.strip()[:200]}")
    return cert, key


def _tls_contexts(certificate: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(*certificate)
    return server, ssl.create_default_context(cafile=str(certificate[0]))


class FakeTime:
    """Clock and sleep for the dispatcher: sleeping advances the clock at once, or when ``gate`` opens."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.gate = gate
        self.sleeping = threading.Event()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.sleeping.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        self.now += seconds


class LogWatch(logging.Handler):
    """Sets ``seen`` when a record containing ``text`` is logged, so a test can wait for it."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text, self.seen = text, threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


def _email(port: int, **fields: Any) -> EmailChannel:
    data = {"type": "email", "host": "127.0.0.1", "port": port, "security": "none", "from": "llmsight@example.com"}
    return EmailChannel.model_validate({**data, "to": ["oncall@example.com", "lead@example.com"], **fields})


def _hook(url: str, **fields: Any) -> WebhookChannel:
    return WebhookChannel(type="webhook", url=url, **fields)


# --- email ----------------------------------------------------------------------------------


def test_violation_and_resolved_emails_arrive(smtp_server: Any) -> None:
    box, controller = smtp_server()
    with Dispatcher({"ops": _email(controller.port)}, env={}) as dispatcher:
        dispatcher.submit(VIOLATION, ["ops"])
        dispatcher.submit(RESOLVED, ["ops"])
        assert dispatcher.flush(10)
        assert (dispatcher.sent, dispatcher.failed, dispatcher.retried) == (2, 0, 0)

    assert [e.rcpt_tos for e in box.envelopes] == [["oncall@example.com", "lead@example.com"]] * 2
    assert box.envelopes[0].mail_from == "llmsight@example.com"
    violation, resolved = box.message(0), box.message(1)
    assert violation["Subject"] == subject(VIOLATION)
    assert violation["Subject"].startswith("[llmsight] Violation: rag-groundedness: groundedness pass_rate 0.82")
    assert violation["From"] == "llmsight@example.com"
    assert violation["To"] == "oncall@example.com, lead@example.com"
    assert violation["Auto-Submitted"] == "auto-generated"
    body = violation.get_content().replace("\r\n", "\n")
    for expected in (
        "Monitor:            rag-groundedness",
        "Signal:             quality",
        "Metric:             groundedness",
        "Statistic:          pass_rate",
        "Value:              0.82 (target >= 0.9)",
        "Window:             2025-01-01T00:00:00Z to 2025-01-08T00:00:00Z (UTC)",
        "Samples:            120",
        "Filters:            environment=prod, service=chat",
        f"llmsight trace {TRACE_A}",
        f"llmsight trace {TRACE_B}",
        "score 0.1: Claims a refund window",
    ):
        assert expected in body
    assert "a single call scoring below the per-call threshold is a failing answer, not a violation" in " ".join(
        body.split()
    )

    assert resolved["Subject"].startswith("[llmsight] Resolved: rag-groundedness: groundedness pass_rate 0.95")
    body = resolved.get_content().replace("\r\n", "\n")
    prose = " ".join(body.split())
    assert "pass_rate of groundedness is 0.95, meeting the target >= 0.9. The violation has cleared." in prose
    assert "It had been in violation since 2025-01-08T00:00:00Z (for 5h 0m)." in body
    assert "llmsight trace" not in body


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_email_login(smtp_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    box, controller = smtp_server(auth_required=True, auth_require_tls=False, authenticator=_authenticator)
    channel = _email(controller.port, user="alerts", password_env="SMTP_PASSWORD")

    send_email(channel, VIOLATION, {"SMTP_PASSWORD": "s3cret-pw"})
    assert len(box.envelopes) == 1

    with pytest.raises(DeliveryError, match="rejected the login for user alerts") as wrong:
        send_email(channel, VIOLATION, {"SMTP_PASSWORD": "wrong-pw"})
    assert not wrong.value.retry  # retrying a bad password only risks locking the account

    caplog.set_level(logging.WARNING, logger=LOGGER)
    with Dispatcher({"ops": channel}, env={}) as dispatcher:  # the variable is missing: logged, not raised
        dispatcher.submit(VIOLATION, ["ops"])
        assert dispatcher.flush(10)
        assert (dispatcher.sent, dispatcher.failed, dispatcher.retried) == (0, 1, 0)
    assert "SMTP_PASSWORD (password_env) is not set" in caplog.text
    assert "'ops'" in caplog.text and "rag-groundedness" in caplog.text
    assert len(box.envelopes) == 1


def test_email_starttls_and_implicit_tls(smtp_server: Any, certificate: tuple[Path, Path]) -> None:
    server_context, client_context = _tls_contexts(certificate)
    box, controller = smtp_server(tls_context=server_context, require_starttls=True)
    channel = _email(controller.port, security="starttls")
    send_email(channel, VIOLATION, {}, ssl_context=client_context)
    assert box.message(0)["Subject"] == subject(VIOLATION)

    with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):  # the system CAs do not trust it
        send_email(channel, VIOLATION, {})
    with pytest.raises(DeliveryError, match="530 Must issue a STARTTLS command first"):  # security: none
        send_email(replace_channel(channel, security="none"), VIOLATION, {})

    tls_box, tls_controller = smtp_server(ssl_context=server_context)
    send_email(_email(tls_controller.port, security="tls"), RESOLVED, {}, ssl_context=client_context)
    assert tls_box.message(0)["Subject"] == subject(RESOLVED)


def replace_channel(channel: EmailChannel, **changes: Any) -> EmailChannel:
    return EmailChannel.model_validate({**channel.model_dump(by_alias=True), **changes})


# --- webhooks -------------------------------------------------------------------------------


def test_webhook_url_from_env(receiver: Any) -> None:
    hook = receiver()
    channel = WebhookChannel(type="webhook", url_env="HOOK_URL", format="slack")
    send_webhook(channel, VIOLATION, {"HOOK_URL": hook.url})
    assert hook.requests[0][0] == "/hook" and hook.json(0)["blocks"]
    with pytest.raises(DeliveryError, match="HOOK_URL \\(url_env\\) is not set") as unset:
        send_webhook(channel, VIOLATION, {})
    assert unset.value.retry is False
    with pytest.raises(DeliveryError, match="http:// or https://"):
        send_webhook(channel, VIOLATION, {"HOOK_URL": "file:///etc/passwd"})
    with pytest.raises(ValidationError, match="exactly one of url or url_env"):
        WebhookChannel(type="webhook", url=hook.url, url_env="HOOK_URL")


def test_json_webhook_body_and_header_from_env(receiver: Any) -> None:
    hook = receiver()
    channel = _hook(hook.url, headers_env={"Authorization": "HOOK_TOKEN"})
    send_webhook(channel, VIOLATION, {"HOOK_TOKEN": "Bearer t0ken"})

    path, headers, _ = hook.requests[0]
    assert path == "/hook"
    assert headers["Authorization"] == "Bearer t0ken"
    assert headers["Content-Type"] == "application/json"
    body = hook.json(0)
    assert body["source"] == "llmsight"
    assert body["text"] == subject(VIOLATION)
    assert {k: body[k] for k in ("kind", "monitor", "signal", "metric", "statistic", "comparison")} == {
        "kind": "violation",
        "monitor": "rag-groundedness",
        "signal": "quality",
        "metric": "groundedness",
        "statistic": "pass_rate",
        "comparison": ">=",
    }
    assert (body["value"], body["target"], body["sample_count"]) == (0.82, 0.9, 120)
    assert (body["window_start"], body["window_end"]) == ("2025-01-01T00:00:00Z", "2025-01-08T00:00:00Z")
    assert (body["run_at"], body["first_violation_at"]) == ("2025-01-08T00:00:00Z", "2025-01-08T00:00:00Z")
    assert body["filters"] == {"service": "chat", "environment": "prod"}
    assert body["worst"][0] == {
        "trace_id": TRACE_A,
        "span_id": "00f067aa0ba902b7",
        "score": 0.1,
        "reason": "Claims a refund window that the context does not state.",
    }
    assert body["worst"][1]["score"] is None

    send_webhook(channel, replace(VIOLATION, value=math.nan), {"HOOK_TOKEN": "x"})
    assert hook.json(1)["value"] is None  # NaN is not JSON

    with pytest.raises(DeliveryError, match="HOOK_TOKEN") as missing:
        send_webhook(channel, VIOLATION, {})
    assert not missing.value.retry


def test_slack_body_shape_and_escaping(receiver: Any) -> None:
    hook = receiver()
    alert = replace(
        VIOLATION,
        monitor="<!channel> & friends",
        worst=(WorstSample(TRACE_A, "00f067aa0ba902b7", 0.0, "see <https://evil.example|here> " + "x" * 500),),
    )
    send_webhook(_hook(hook.url, format="slack"), alert, {})

    body = hook.json(0)
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith("[llmsight] Violation: &lt;!channel&gt; &amp; friends")
    assert all(block["type"] == "section" for block in body["blocks"])
    texts = [b["text"] for b in body["blocks"] if "text" in b]
    texts += [field for b in body["blocks"] for field in b.get("fields", [])]
    assert all(t["type"] == "mrkdwn" for t in texts)
    everything = "\n".join(t["text"] for t in texts)
    assert "<" not in everything and ">" not in everything.replace("&gt;", "")
    assert "*Window*\n2025-01-01T00:00:00Z to 2025-01-08T00:00:00Z (UTC)" in everything
    assert f"`llmsight trace {TRACE_A}`" in everything
    worst = body["blocks"][-1]["text"]["text"]
    assert "x" * 150 in worst and "x" * 200 not in worst and "…" in worst  # the reason was truncated


def test_retries_until_delivered(receiver: Any) -> None:
    hook = receiver(script=[(500, {}), (500, {})])
    fake = FakeTime()
    with Dispatcher({"hook": _hook(hook.url)}, env={}, sleep=fake.sleep, clock=fake.clock) as dispatcher:
        dispatcher.submit(VIOLATION, ["hook"])
        assert dispatcher.flush(10)
        assert (dispatcher.sent, dispatcher.retried, dispatcher.failed) == (1, 2, 0)
    assert len(hook.requests) == 3
    assert fake.sleeps == [2.0, 4.0]


def test_failing_channel_gives_up_while_another_delivers(receiver: Any, caplog: pytest.LogCaptureFixture) -> None:
    down, up = receiver(default=500), receiver()
    gate = threading.Event()
    fake = FakeTime(gate)
    channels = {
        "down": _hook(down.url + "/T000/XXXXSECRET", headers_env={"Authorization": "TOKEN"}),
        "up": _hook(up.url),
    }
    caplog.set_level(logging.WARNING, logger=LOGGER)
    dispatcher = Dispatcher(channels, {"TOKEN": "Bearer sekrit-token"}, max_backoff_s=10, **_fake(fake))
    try:
        dispatcher.submit(VIOLATION, ["down", "up"])
        assert fake.sleeping.wait(10)  # the worker waits for the retry of "down" only after "up" went out
        assert (len(down.requests), len(up.requests)) == (1, 1)
        assert (dispatcher.sent, dispatcher.failed) == (1, 0)
        assert not dispatcher.flush(0.05)
        gate.set()
        assert dispatcher.flush(10)
        assert (dispatcher.sent, dispatcher.retried, dispatcher.failed) == (1, 4, 1)
    finally:
        gate.set()
        dispatcher.close()
    assert len(down.requests) == 5
    assert fake.sleeps == [2.0, 4.0, 8.0, 10.0]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(warnings) == 4 and len(errors) == 1
    assert "'down'" in errors[0].getMessage() and "rag-groundedness" in errors[0].getMessage()
    assert "groundedness" in errors[0].getMessage() and "answered 500" in errors[0].getMessage()
    assert "sekrit" not in caplog.text and "XXXXSECRET" not in caplog.text


def _fake(fake: FakeTime) -> dict[str, Any]:
    return {"sleep": fake.sleep, "clock": fake.clock}


def test_redirect_is_a_failure(receiver: Any) -> None:
    hook = receiver(script=[(302, {"Location": "/moved"})] * 2)
    with pytest.raises(DeliveryError, match="302 redirecting to /moved: redirects are not followed") as redirect:
        send_webhook(_hook(hook.url), VIOLATION, {})
    assert not redirect.value.retry
    with Dispatcher({"hook": _hook(hook.url)}, env={}, **_fake(FakeTime())) as dispatcher:
        dispatcher.submit(VIOLATION, ["hook"])
        assert dispatcher.flush(10)
        assert (dispatcher.sent, dispatcher.retried, dispatcher.failed) == (0, 0, 1)
    assert [path for path, _, _ in hook.requests] == ["/hook", "/hook"]


def test_client_errors_are_not_retried_but_429_is(receiver: Any) -> None:
    hook = receiver(script=[(429, {}), (404, {})])
    with Dispatcher({"hook": _hook(hook.url)}, env={}, **_fake(FakeTime())) as dispatcher:
        dispatcher.submit(VIOLATION, ["hook"])
        assert dispatcher.flush(10)
        assert (dispatcher.sent, dispatcher.retried, dispatcher.failed) == (0, 1, 1)
    with pytest.raises(DeliveryError, match="answered 500: 'receiver says no") as failure:
        send_webhook(_hook(receiver(default=500).url), VIOLATION, {})
    assert len(str(failure.value).split(": ", 1)[1]) <= 200 + 2  # at most 200 bytes of the body, quoted


def test_unreachable_receiver(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    caplog.set_level(logging.WARNING, logger=LOGGER)
    channels = {"hook": _hook(f"http://127.0.0.1:{port}/")}
    with Dispatcher(channels, env={}, max_attempts=3, **_fake(FakeTime())) as dispatcher:
        assert dispatcher.submit(VIOLATION, ["hook", "nowhere"]) is None
        assert dispatcher.flush(10)
        assert (dispatcher.sent, dispatcher.retried, dispatcher.failed) == (0, 2, 2)
    assert "no channel named 'nowhere' (channels: hook)" in caplog.text
    assert "cannot reach webhook at 127.0.0.1" in caplog.text


def test_default_sleep_wakes_for_new_work_and_close_gives_up(receiver: Any) -> None:
    down, up = receiver(default=500), receiver()
    watch = LogWatch("retrying in 3600s")
    logging.getLogger(LOGGER).addHandler(watch)
    try:
        channels = {"down": _hook(down.url), "up": _hook(up.url)}
        dispatcher = Dispatcher(channels, env={}, backoff_s=3600, max_backoff_s=3600)
        dispatcher.submit(VIOLATION, ["down"])
        assert watch.seen.wait(10)  # the worker now waits an hour for the retry...
        dispatcher.submit(RESOLVED, ["up"])
        assert up.wait_for(1)  # ...but a new delivery does not wait behind it
        assert up.json(0)["kind"] == "resolved"
        dispatcher.close()
        assert (dispatcher.sent, dispatcher.retried, dispatcher.failed) == (1, 1, 1)
        dispatcher.submit(VIOLATION, ["up"])  # after close: counted and logged, not raised
        assert dispatcher.failed == 2 and len(up.requests) == 1
    finally:
        logging.getLogger(LOGGER).removeHandler(watch)


# --- policy ---------------------------------------------------------------------------------

H = History
HOUR = 3600.0
NOTIFIED = H("violation", T0, T0)  # an open episode whose violation was sent at T0

POLICY_CASES = [
    # id, state, history, minutes after T0, repeat_interval_s, send_resolved, expected
    ("first run violates", "violation", H(None, None, None), 0, HOUR, True, "violation"),
    ("violation starts after ok", "violation", H("ok", None, None), 0, HOUR, True, "violation"),
    ("start ignores a stale notification", "violation", H("ok", None, T0), 1, HOUR, True, "violation"),
    ("not yet notified in episode", "violation", H("violation", T0, None), 1, HOUR, True, "violation"),
    ("no repeat within interval", "violation", NOTIFIED, 30, HOUR, True, None),
    ("repeat at interval", "violation", NOTIFIED, 60, HOUR, True, "violation"),
    ("repeat after interval", "violation", NOTIFIED, 150, HOUR, True, "violation"),
    ("repeat 0 repeats every run", "violation", NOTIFIED, 1, 0.0, True, "violation"),
    ("repeat inf never repeats", "violation", NOTIFIED, 10**6, math.inf, True, None),
    ("gap then violation within interval", "violation", H("insufficient_data", T0, T0), 30, HOUR, True, None),
    ("error gap then violation after interval", "violation", H("error", T0, T0), 90, HOUR, True, "violation"),
    ("resolved", "ok", NOTIFIED, 10, HOUR, True, "resolved"),
    ("resolved across insufficient_data", "ok", H("insufficient_data", T0, T0), 10, HOUR, True, "resolved"),
    ("resolved across error", "ok", H("error", T0, T0), 10, HOUR, True, "resolved"),
    ("resolved only once", "ok", H("ok", None, None), 20, HOUR, True, None),
    ("repeated ok with a stale notification", "ok", H("ok", None, T0), 20, HOUR, True, None),
    ("never notified: no resolved", "ok", H("violation", T0, None), 10, HOUR, True, None),
    ("send_resolved false", "ok", NOTIFIED, 10, HOUR, False, None),
    ("first run ok", "ok", H(None, None, None), 0, HOUR, True, None),
    ("insufficient_data does not fire", "insufficient_data", H(None, None, None), 0, HOUR, True, None),
    ("insufficient_data does not resolve", "insufficient_data", NOTIFIED, 120, HOUR, True, None),
    ("error does not fire", "error", H("ok", None, None), 0, HOUR, True, None),
    ("error does not resolve or repeat", "error", NOTIFIED, 120, HOUR, True, None),
]


@pytest.mark.parametrize(
    ("state", "history", "minutes", "repeat", "send_resolved", "expected"),
    [case[1:] for case in POLICY_CASES],
    ids=[case[0] for case in POLICY_CASES],
)
def test_decide(state: str, history: History, minutes: int, repeat: float, send_resolved: bool, expected: Any) -> None:
    assert decide(state, history, T0 + timedelta(minutes=minutes), repeat, send_resolved) == expected


def test_decide_over_a_sequence_of_runs() -> None:
    runs = ["violation", "violation", "insufficient_data", "violation", "error", "ok", "ok", "violation", "violation"]
    history, decisions = H(None, None, None), []
    for minute, state in zip([0, 10, 20, 30, 40, 50, 60, 70, 140], runs, strict=True):
        now = T0 + timedelta(minutes=minute)
        decision = decide(state, history, now, HOUR, True)
        decisions.append(decision)
        history = next_history(history, state, now, decision)
    assert decisions == ["violation", None, None, None, None, "resolved", None, "violation", "violation"]
    assert history == H("violation", T0 + timedelta(minutes=70), T0 + timedelta(minutes=140))


def test_decide_rejects_unknown_state() -> None:
    with pytest.raises(ValueError, match="unknown monitor state 'violated'"):
        decide("violated", H(None, None, None), T0, HOUR, True)


# --- channel validation ---------------------------------------------------------------------

EMAIL = {"type": "email", "host": "smtp.example.com", "from": "llmsight@example.com", "to": ["oncall@example.com"]}


def _error(model: type, data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return str(info.value)


def test_channel_validation() -> None:
    channel = EmailChannel.model_validate(EMAIL)
    assert (channel.port, channel.security, channel.from_) == (587, "starttls", "llmsight@example.com")

    assert "pasword_env\n  Extra inputs are not permitted" in _error(EmailChannel, {**EMAIL, "pasword_env": "X"})
    assert "from\n  Field required" in _error(EmailChannel, {k: v for k, v in EMAIL.items() if k != "from"})
    injected = _error(EmailChannel, {**EMAIL, "to": ["oncall@example.com\nBcc: all@example.com"]})
    assert "not a bare email address" in injected
    assert "not a bare email address" in _error(EmailChannel, {**EMAIL, "from": "a@b.c\r\nX: y"})
    assert "to\n  List should have at least 1 item" in _error(EmailChannel, {**EMAIL, "to": []})
    assert "port" in _error(EmailChannel, {**EMAIL, "port": 0})
    assert "user is set but password_env is not" in _error(EmailChannel, {**EMAIL, "user": "alerts"})
    pasted = _error(EmailChannel, {**EMAIL, "user": "alerts", "password_env": "hunter2 hunter2"})
    assert "NAME of an environment variable" in pasted and "hunter2" not in pasted.split("input_value")[0]

    hook = {"type": "webhook", "url": "https://hooks.example.com/x"}
    assert WebhookChannel.model_validate(hook).format == "json"
    for url in ("ftp://example.com/x", "file:///etc/passwd", "hooks.example.com/x", "https://"):
        assert "url must be an http:// or https:// URL" in _error(WebhookChannel, {**hook, "url": url})
    assert "format" in _error(WebhookChannel, {**hook, "format": "teams"})
    assert "not a valid HTTP header name" in _error(WebhookChannel, {**hook, "headers_env": {"Bad Header": "TOKEN"}})

    channels = parse_channels({"ops": EMAIL, "slack": {**hook, "format": "slack"}})
    assert isinstance(channels["ops"], EmailChannel) and isinstance(channels["slack"], WebhookChannel)
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        parse_channels({"pager": {"type": "sms"}})
