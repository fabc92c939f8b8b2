"""What serve leaves on disk holds every prompt and answer: it is readable by its own user only."""

from __future__ import annotations

import stat

import httpx2 as httpx

from tests.collector.otlp_bodies import chat_span_request
from tests.collector.serve_process import start_serve


def test_store_spool_and_serve_file_are_private(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "spool").mkdir(mode=0o755)  # an older, world-readable spool is tightened too
    serve = start_serve(data)
    try:
        body = chat_span_request(3).SerializeToString()
        headers = {"Content-Type": "application/x-protobuf"}
        assert httpx.post(f"{serve.http}/v1/traces", content=body, headers=headers).status_code == 200
        for directory in (data / "clickhouse", data / "spool"):
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
        assert stat.S_IMODE((data / "serve.json").stat().st_mode) == 0o600
        written = [p for p in (data / "spool").iterdir() if p.is_file()]
        assert written and all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in written), written
        loose = [p for p in (data / "clickhouse").rglob("*") if p.stat().st_mode & 0o007]
        assert not loose, loose[:5]  # nothing in the store is readable by other users
    finally:
        serve.stop()
