"""Run the real ``llmsight serve`` in a subprocess, for tests that probe it from outside.

A subprocess has its own chDB engine (this test process already holds another store), its own
files on disk and its own CPU time, which is what attacker-style and crash tests look at.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

from tests.conftest import free_port


@dataclass
class Serve:
    proc: subprocess.Popen
    data: Path
    http: str
    grpc: str
    query: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def token(self) -> str:
        """The query endpoint's token for this user, from the serve.json serve wrote (mode 0600)."""
        return _serve_json(self.data)["query_token"]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def cpu_seconds(self) -> float:
        """User + system CPU time the serve process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_serve(
    data: Path,
    env: dict[str, str] | None = None,
    timeout: float = 90,
    ports: dict[str, int] | None = None,
    stderr: int = subprocess.STDOUT,
) -> Serve:
    """Start serve with its store under ``data`` (or ``LLMSIGHT_CLICKHOUSE_URL`` from ``env``); wait for /healthz.

    ``ports`` (http, grpc, query) keeps the same ones across a restart; free ones by default. ``stderr``
    goes into stdout unless it is ``subprocess.PIPE`` (a test that checks what serve logs there; it must
    read both pipes while serve runs)."""
    ports = ports or {"http": free_port(), "grpc": free_port(), "query": free_port()}
    full_env = {
        **os.environ,
        "LLMSIGHT_CLICKHOUSE_URL": f"chdb://{data}/clickhouse",
        "COLUMNS": "120",
        **(env or {}),
    }
    args = ["--http-port", str(ports["http"]), "--grpc-port", str(ports["grpc"]), "--query-port", str(ports["query"])]
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmsight.cli.main", "serve", *args],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        cwd=data,
    )
    serve = Serve(proc, data, f"http://127.0.0.1:{ports['http']}", f"127.0.0.1:{ports['grpc']}",
                  f"http://127.0.0.1:{ports['query']}")  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = b"".join(pipe.read() for pipe in (proc.stdout, proc.stderr) if pipe)
            raise RuntimeError(output.decode() or "serve exited")
        try:
            healthy = httpx.get(f"{serve.http}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            healthy = False
        # serve.json is written once every listener is up, a moment after /healthz answers; a killed serve's
        # file (with its old token) may still be there, so it must be this process's
        info = _serve_json(data)
        if healthy and info.get("query_token") and info.get("pid") == proc.pid:
            return serve
        time.sleep(0.2)
    serve.stop()
    raise TimeoutError("serve did not start")


def _serve_json(data: Path) -> dict:
    """serve.json: beside an embedded store under ``data``, or in ``.llmsight`` of the working directory."""
    for path in (data / "serve.json", data / ".llmsight" / "serve.json"):
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return {}
