"""Run the collector: receivers, pipeline, exporter, query endpoint and background jobs in one process.

One process owns an embedded store, so everything that writes to it (ingest, price
resolution, the evaluator when a judge is configured) runs here. ``Collector`` can run in
the foreground (``llmsight serve``) or in a thread (tests, the demo).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from llmsight.collector.auth import TokenAuth
from llmsight.collector.exporters.clickhouse import ClickHouseExporter
from llmsight.collector.exporters.otlp_insert import SqlTraceInsert
from llmsight.collector.pipeline import TABLES, Pipeline, Processor
from llmsight.collector.processors.pricing import PriceOnIngest
from llmsight.collector.processors.redaction import redaction_processor
from llmsight.collector.query_api import QueryLimits, build_query_app
from llmsight.collector.receivers.cors import parse_origins
from llmsight.collector.receivers.http_timeouts import guarded_protocol
from llmsight.collector.receivers.otlp_grpc import build_grpc_server
from llmsight.collector.receivers.otlp_http import build_http_app
from llmsight.collector.spool import Spool
from llmsight.collector.telemetry import Telemetry
from llmsight.settings import Settings
from llmsight.store.client import StoreUnavailableError, open_client
from llmsight.store.prices import load_catalog
from llmsight.store.schema import init_schema, parse_retention_overrides
from llmsight.store.url import parse_store_url

log = logging.getLogger("llmsight.collector")

BackgroundJob = Callable[[], Any]
HealthCheck = Callable[[], dict[str, Any]]  # a component's state for /healthz: a dict with at least "status"
QUERY_CONNECTIONS = 64  # the query endpoint runs a few queries at once (query_max_concurrent); more sockets wait idle


@dataclass
class Endpoints:
    http: str
    grpc: str
    query: str | None


@dataclass
class Collector:
    settings: Settings
    processors: list[Processor] = field(default_factory=list)
    jobs: list[tuple[float, BackgroundJob]] = field(default_factory=list)  # (interval s, fn run in a thread)
    serve_file: Path | None = None
    owner: str = "serve"  # who runs it, in serve.json: "serve" outlives a command; "demo" / "eval" end with theirs
    # Components that run beside the collector (serve registers the judge), by the name /healthz shows
    # them under. Callables, so the collector never imports what it reports on (the evaluator is optional).
    extra_health: dict[str, HealthCheck] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = self.settings
        self.store = parse_store_url(s.clickhouse_url)
        self.telemetry = Telemetry()
        self.auth = TokenAuth(s.ingest_tokens, s.experiment_tokens)  # ValueError for the user
        # The query endpoint always asks for a token: the operator tokens configured, or this one,
        # which serve.json (mode 0600) hands to the CLI of the same user. So another user of the
        # machine cannot read what the store's 0700 directory keeps from them.
        self.query_token = secrets.token_urlsafe(24)
        self.query_auth = TokenAuth(",".join(t for t in (s.ingest_tokens, self.query_token) if t), s.experiment_tokens)
        self.retention_overrides = parse_retention_overrides(s.retention_per_table)  # ValueError for the user
        self.cors_allowed_origins = parse_origins(s.cors_allowed_origins)  # ValueError for the user too
        self.store_error = ""  # set while a ClickHouse server is unreachable since start
        self.query_limits = QueryLimits(
            max_seconds=s.query_max_seconds,
            max_memory_bytes=s.query_max_memory_bytes,
            max_result_rows=s.query_max_result_rows,
            max_concurrent=s.query_max_concurrent,
        )
        redact = redaction_processor(s.redact, s.redact_attributes, self.telemetry)
        # Redaction first, then pricing each new model before its calls are stored (cost right on first read).
        self.pricing = PriceOnIngest(self.open_client, self.store.database)
        self.redacting = redact is not None
        self.processors = ([redact] if redact else []) + [self.pricing] + self.processors
        self.spool: Spool | None = None
        self.pipeline: Pipeline | None = None
        self.exporter: ClickHouseExporter | None = None
        if bool(s.tls_cert_file) != bool(s.tls_key_file):
            raise ValueError("TLS needs both a certificate and a key (--tls-cert-file and --tls-key-file)")
        for path in (s.tls_cert_file, s.tls_key_file):
            if path and not Path(path).is_file():
                raise ValueError(f"TLS file {path} does not exist or is not a file")
        scheme = "https" if s.tls_cert_file else "http"
        self.endpoints = Endpoints(
            http=f"{scheme}://{s.host}:{s.http_port}",
            grpc=f"{s.host}:{s.grpc_port}",
            query=f"http://127.0.0.1:{s.query_port}" if s.query_port else None,
        )
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def open_client(self, **settings: Any) -> Any:
        return open_client(self.store, **settings)

    def _writer_client(self) -> Any:
        """The exporter's client; creates the schema first if ClickHouse was down at start."""
        if self.store_error:
            self.init_store()
            log.warning("ClickHouse is reachable again; schema ready, inserting the spool")
            self.store_error = ""
        return self.open_client()

    def health(self) -> dict[str, Any]:
        """``degraded`` while the store is unreachable or a registered component reports ``failing``.

        Still HTTP 200 either way: data is accepted (into the spool) and a failing judge loses no data.
        """
        state: dict[str, Any] = {"status": "ok"}
        if self.store_error:
            state = {"status": "degraded", "store": self.store_error}
        for name, check in self.extra_health.items():
            try:
                detail = check()
            except Exception as exc:  # a broken health check must not break /healthz
                log.debug("health check %s failed", name, exc_info=True)
                detail = {"status": "unknown", "error": f"{type(exc).__name__}: {exc}"}
            state[name] = detail
            if detail.get("status") == "failing":
                state["status"] = "degraded"
        return state

    def init_store(self) -> None:
        client = open_client(self.store, database=False)
        try:
            init_schema(
                client,
                self.store,
                self.settings.retention_days,
                self.retention_overrides,
            )
            client.database = self.store.database
            if not int(client.command("SELECT count() FROM price_catalog")):
                load_catalog(client, self.store.database)
        finally:
            client.close()

    async def run(self, install_signals: bool = False) -> None:
        """Serve until stopped; on stop, insert what is spooled (up to 30 s) before returning."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        s = self.settings
        # Prompts, answers and the spool (every tenant's data before redaction) are for this user only.
        if self.store.embedded:
            private_dir(Path(self.store.path))
        private_dir(s.spool_path)
        try:
            self.init_store()
        except StoreUnavailableError as exc:
            if self.store.embedded:
                raise  # an embedded store that cannot be opened is a user error, not an outage
            # A server that is down at start is an outage like any other: accept data into the
            # spool; the exporter creates the schema when it first reaches ClickHouse.
            log.warning("%s; accepting data into the spool and retrying", exc)
            self.store_error = str(exc)
        self.spool = Spool(s.spool_path, s.spool_max_bytes)
        days = {signal: self.retention_overrides.get(table, s.retention_days) for signal, table in TABLES.items()}
        self.pipeline = Pipeline(self.spool, self.telemetry, s.queue_max_bytes, s.max_request_elements, days)
        # ClickHouse decodes trace requests itself unless a processor must see each row (redaction).
        sql_decoder = (
            SqlTraceInsert(self.store.embedded, self.spool.dir)
            if s.sql_decoder_min_spans > 0 and not self.redacting
            else None
        )
        self.exporter = ClickHouseExporter(
            self._writer_client,
            self.spool,
            self.telemetry,
            s.batch_max_spans,
            s.batch_timeout_ms / 1000,
            self.processors,
            sql_decoder,
            lambda: self.pricing.known_models,
            s.batch_max_bytes,
            s.sql_decoder_min_spans,
        )
        spool, pipeline = self.spool, self.pipeline
        self.telemetry.gauge("llmsight_spool_bytes", lambda: float(spool.size()))
        self.telemetry.gauge("llmsight_inflight_bytes", lambda: float(pipeline.inflight_bytes))
        receiver = build_http_app(
            self.pipeline, self.auth, s.max_body_bytes, self.telemetry.render, self.health, self.cors_allowed_origins
        )
        http = uvicorn.Server(
            uvicorn.Config(
                receiver,
                host=s.host,
                port=s.http_port,
                log_level="warning",
                lifespan="off",
                access_log=False,
                timeout_graceful_shutdown=30,
                ssl_certfile=s.tls_cert_file or None,
                ssl_keyfile=s.tls_key_file or None,
                http=guarded_protocol(s.http_header_timeout_s, s.http_body_timeout_s, s.http_max_connections),
            )
        )
        servers: list[uvicorn.Server] = [http]
        if s.query_port:
            servers.append(
                uvicorn.Server(
                    uvicorn.Config(
                        build_query_app(
                            lambda: self.open_client(compress=False, **self.query_limits.settings(self.store.database)),
                            self.query_auth,
                            self.store.database,
                            self.query_limits,
                        ),
                        host="127.0.0.1",
                        port=s.query_port,
                        log_level="warning",
                        lifespan="off",
                        access_log=False,
                        http=guarded_protocol(s.http_header_timeout_s, s.http_body_timeout_s, QUERY_CONNECTIONS),
                    )
                )
            )
        for server in servers:
            _check_port_free(server.config.host, server.config.port)
        _check_port_free(s.host, s.grpc_port)
        grpc_server = build_grpc_server(
            self.pipeline,
            self.auth,
            f"{s.host}:{s.grpc_port}",
            s.max_body_bytes,
            self._grpc_credentials(),
            s.grpc_max_concurrent_rpcs,
        )
        self.exporter.start()
        await grpc_server.start()
        tasks = [asyncio.create_task(server.serve()) for server in servers]
        tasks += [asyncio.create_task(self._every(interval, job)) for interval, job in self.jobs]
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(sig, self._stop.set)
        while not all(server.started for server in servers):
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.02)
        self._write_serve_file()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            log.info("shutting down: finishing queued inserts")
            for server in servers:
                server.should_exit = True
            await grpc_server.stop(grace=5)
            await asyncio.gather(*tasks[: len(servers)], return_exceptions=True)
            for task in tasks[len(servers) :]:
                task.cancel()
            self.pipeline.close()
            await asyncio.to_thread(self.spool.close)
            await asyncio.to_thread(self.exporter.stop)
            self._remove_serve_file()

    def _grpc_credentials(self) -> Any:
        s = self.settings
        if not s.tls_cert_file:
            return None
        import grpc

        key = Path(s.tls_key_file).read_bytes()
        cert = Path(s.tls_cert_file).read_bytes()
        return grpc.ssl_server_credentials([(key, cert)])

    async def _every(self, interval: float, job: BackgroundJob) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(job)
            except Exception:
                log.exception("background job %s failed", getattr(job, "__name__", job))

    def wait_until_stored(self, timeout: float = 30.0) -> None:
        """Block until everything acknowledged so far is in ClickHouse (tests, the demo, benchmarks)."""
        import time

        assert self.spool is not None
        target = self.spool.written
        deadline = time.monotonic() + timeout
        while self.spool.committed < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"spooled data not stored within {timeout}s")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    # --- running in a thread (tests, demo) ---

    def start_in_thread(self, timeout: float = 60.0) -> Collector:
        def target() -> None:
            try:
                asyncio.run(self.run())
            except BaseException as exc:
                self._error = exc
                self._ready.set()

        self._thread = threading.Thread(target=target, name="llmsight-collector", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("collector did not start")
        if self._error is not None:
            raise self._error
        return self

    def stop_thread(self, timeout: float = 60.0) -> None:
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout)

    # --- serve.json: how other processes find the query endpoint of an embedded store ---

    def _write_serve_file(self) -> None:
        if self.serve_file is None:
            return
        self.serve_file.parent.mkdir(parents=True, exist_ok=True)
        info = {
            "pid": os.getpid(),
            "owner": self.owner,
            "store_path": self.store.path,
            "query_url": self.endpoints.query,
            "query_token": self.query_token,
            "http": self.endpoints.http,
            "grpc": self.endpoints.grpc,
            "evaluator": {"judge_model": self.settings.judge_model, "interval_s": self.settings.evaluate_interval_s},
        }
        fd = os.open(self.serve_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # one left by an older version may be world-readable
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(info))

    def _remove_serve_file(self) -> None:
        if self.serve_file is not None:
            with contextlib.suppress(OSError):
                self.serve_file.unlink()


def private_dir(path: Path) -> None:
    """Create ``path`` readable by this user only, and tighten it if it exists and is ours."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
        path.chmod(0o700)


class PortInUseError(OSError):
    pass


_issued_ports: set[int] = set()


def free_port() -> int:
    """A port on 127.0.0.1 free right now: for a collector that lives inside one command (the demo, eval run).

    Never the same one twice in a process: the kernel may hand a just-closed port out again, and the
    demo asks for three at once. (A port taken meanwhile by another socket is still possible.)"""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _issued_ports:
            _issued_ports.add(port)
            return port


def _check_port_free(host: str, port: int) -> None:
    """Fail with a readable message instead of uvicorn's exit when a port is taken."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUseError(
                f"cannot listen on {host}:{port}: {exc.strerror} (is another collector running?)"
            ) from None
