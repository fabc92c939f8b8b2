"""CORS on the OTLP/HTTP receiver (LLMSIGHT_CORS_ALLOWED_ORIGINS): a listed web origin may post OTLP/JSON,
any other origin gets no CORS header at all, and without the setting nothing changes. Over real HTTP."""

from __future__ import annotations

import json
import os
import time

import httpx2 as httpx
import pytest
from typer.testing import CliRunner

from llmsight.cli.main import app

APP = "https://app.example.com"
OTHER = "https://evil.example.net"
TOKEN = "fb-token"  # bound to tenant acme
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}


def feedback_body(response_id: str, score: float, thumbs: str) -> bytes:
    """What a web page posts: one llmsight.feedback span, hex ids, times as strings (as docs/evaluator.md shows)."""
    now = str(time.time_ns())
    attributes = {"llmsight.feedback.response_id": response_id, "llmsight.feedback.thumbs": thumbs,
                  "llmsight.feedback.label": "wrong-answer"}  # fmt: skip
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web-frontend"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": os.urandom(16).hex(), "spanId": os.urandom(8).hex(), "name": "llmsight.feedback", "kind": 1,
            "startTimeUnixNano": now, "endTimeUnixNano": now,
            "attributes": [{"key": "llmsight.feedback.score", "value": {"doubleValue": score}}]
            + [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
        }]}],
    }]}).encode()  # fmt: skip


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


@pytest.fixture
def cors_collector(collector_factory):
    return collector_factory(cors_allowed_origins=f"{APP}/, http://LOCALHOST:3000", ingest_tokens=f"{TOKEN}=acme,op")


def test_preflight_from_a_listed_origin_gets_the_allow_headers(cors_collector):
    for origin in (APP, "http://localhost:3000"):  # listed with a trailing slash / in capitals: normalised
        response = httpx.options(f"{cors_collector.endpoints.http}/v1/traces", headers={"Origin": origin, **PREFLIGHT})
        assert response.status_code == 200, response.text
        allow = cors_headers(response)
        assert allow["access-control-allow-origin"] == origin
        assert allow["access-control-allow-methods"] == "POST"
        assert {"authorization", "content-type", "content-encoding"} <= set(
            allow["access-control-allow-headers"].lower().split(", ")
        )
        assert allow["access-control-max-age"] == "600"
        assert "access-control-allow-credentials" not in allow  # no cookies: a page sends its token itself
    for path in ("/v1/logs", "/v1/metrics"):
        response = httpx.options(f"{cors_collector.endpoints.http}{path}", headers={"Origin": APP, **PREFLIGHT})
        assert cors_headers(response)["access-control-allow-origin"] == APP


def test_preflight_asking_for_more_than_post_and_the_three_headers_is_refused(cors_collector):
    url = f"{cors_collector.endpoints.http}/v1/traces"
    put = httpx.options(url, headers={"Origin": APP, **PREFLIGHT, "Access-Control-Request-Method": "PUT"})
    custom = httpx.options(url, headers={"Origin": APP, **PREFLIGHT, "Access-Control-Request-Headers": "x-token"})
    assert (put.status_code, custom.status_code) == (400, 400)
    assert "PUT" not in cors_headers(put)["access-control-allow-methods"]


def test_an_origin_not_listed_gets_no_cors_header_on_the_preflight_or_the_post(cors_collector):
    url = f"{cors_collector.endpoints.http}/v1/traces"
    for origin in (OTHER, "null", "http://app.example.com", "https://app.example.com:8443"):
        preflight = httpx.options(url, headers={"Origin": origin, **PREFLIGHT})
        assert preflight.status_code == 400 and cors_headers(preflight) == {}, preflight.headers
        assert "LLMSIGHT_CORS_ALLOWED_ORIGINS" in preflight.text
    # a browser stops at the failed preflight; anything else may post, and the token is what it needs
    headers = {"Origin": OTHER, "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    post = httpx.post(url, content=feedback_body("resp-other", 1.0, "up"), headers=headers)
    assert post.status_code == 200 and cors_headers(post) == {}
    assert "Origin" in post.headers["vary"]


def test_a_simple_cross_site_post_without_preflight_stores_nothing(cors_collector, store_client):
    """What a hostile page can send with no preflight at all (a form or text/plain fetch): refused, not stored."""
    url = f"{cors_collector.endpoints.http}/v1/traces"
    body = feedback_body("resp-simple", 0.0, "down")
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        for origin in (OTHER, APP):  # listed or not: a simple request carries no bearer token
            post = httpx.post(url, content=body, headers={"Origin": origin, "Content-Type": content_type})
            assert post.status_code in (401, 415), (content_type, origin, post.status_code)
    stored = "SELECT count() FROM otel_traces WHERE SpanAttributes['llmsight.feedback.response_id'] = 'resp-simple'"
    assert int(store_client.command(stored)) == 0


def test_other_paths_are_not_cross_origin(cors_collector):
    for path in ("/healthz", "/metrics"):
        response = httpx.options(f"{cors_collector.endpoints.http}{path}", headers={"Origin": APP, **PREFLIGHT})
        assert response.status_code == 405 and cors_headers(response) == {}
        got = httpx.get(f"{cors_collector.endpoints.http}{path}", headers={"Origin": APP})
        assert cors_headers(got) == {}


def test_feedback_posted_from_a_listed_origin_with_a_tenant_token_lands_in_feedback(cors_collector, store_client):
    url = f"{cors_collector.endpoints.http}/v1/traces"
    headers = {"Origin": APP, "Content-Type": "application/json"}
    refused = httpx.post(url, content=feedback_body("resp-1", 0.0, "down"), headers=headers)
    assert refused.status_code == 401  # no token; the page can read why
    assert cors_headers(refused)["access-control-allow-origin"] == APP

    response = httpx.post(url, content=feedback_body("resp-1", 0.0, "down"),
                          headers={**headers, "Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert response.status_code == 200, response.text
    assert json.loads(response.content) == {}  # an ExportTraceServiceResponse with nothing rejected
    allow = cors_headers(response)
    assert allow["access-control-allow-origin"] == APP
    assert allow["access-control-expose-headers"] == "Retry-After"
    cors_collector.wait_until_stored()
    deadline = time.monotonic() + 30
    query = "SELECT ResponseId, Score, Thumbs, Label, ServiceName FROM feedback FINAL WHERE ResponseId = 'resp-1'"
    while not (rows := store_client.query(query).result_rows):
        assert time.monotonic() < deadline, "the feedback span never became a feedback row"
        time.sleep(0.05)
    assert rows == [("resp-1", 0.0, "down", "wrong-answer", "web-frontend")]
    tenant = store_client.command(
        "SELECT ResourceAttributes['llmsight.tenant'] FROM otel_traces WHERE SpanName = 'llmsight.feedback' "
        "AND SpanAttributes['llmsight.feedback.response_id'] = 'resp-1'"
    )
    assert tenant == "acme"  # the bound token's tenant, whatever the page wrote


def test_without_the_setting_nothing_changes(collector):
    url = f"{collector.endpoints.http}/v1/traces"
    preflight = httpx.options(url, headers={"Origin": APP, **PREFLIGHT})
    assert preflight.status_code == 405 and cors_headers(preflight) == {}
    post = httpx.post(url, content=feedback_body("resp-2", 1.0, "up"),
                      headers={"Origin": APP, "Content-Type": "application/json"})  # fmt: skip
    assert post.status_code == 200 and cors_headers(post) == {}
    assert "vary" not in post.headers


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("*", "'*' is not allowed: it would let any web page post"),
        ("https://app.example.com,null", "'null' is not allowed"),
        ("https://*.example.com", "wildcards are not supported"),
        ("app.example.com", "is not an origin"),
        ("https://app.example.com/feedback", "has more than an origin"),
        ("https://app.example.com:99999", "is not an origin"),
    ],
)
def test_setting_mistakes_are_one_line_errors_naming_the_setting(tmp_path, value, message):
    result = CliRunner().invoke(
        app, ["serve", "--clickhouse-url", f"chdb://{tmp_path}/ch", "--cors-allowed-origins", value],
        env={"COLUMNS": "300"},
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "LLMSIGHT_CORS_ALLOWED_ORIGINS (--cors-allowed-origins)" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "ch").exists()  # refused before anything starts


def test_origins_are_normalised_as_browsers_send_them():
    from llmsight.collector.receivers.cors import parse_origins

    spec = " HTTPS://App.Example.com:443/ , http://[::1]:8080,http://x.test:80, https://app.example.com"
    assert parse_origins(spec) == ["https://app.example.com", "http://[::1]:8080", "http://x.test"]
    assert parse_origins("") == [] and parse_origins(" , ") == []
