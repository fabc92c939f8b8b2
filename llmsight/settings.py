"""The one settings object for the collector, store and evaluator.

Values come from command-line flags (the CLI passes them in), then ``LLMSIGHT_*``
environment variables, then these defaults. The instrumentation does not use this
module: it reads the standard ``OTEL_*`` variables so apps need no pydantic.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STORE = "chdb://./.llmsight/clickhouse"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMSIGHT_", extra="ignore")

    # Store
    clickhouse_url: str = Field(DEFAULT_STORE, description="chdb://PATH (embedded) or http(s)://user:pass@host:8123/db")
    retention_days: int = Field(30, description="Days of data kept by ClickHouse TTL; 0 keeps everything")
    retention_per_table: str = Field(
        "", description="Per-table days overriding retention_days: otel_logs=7,evaluations=365"
    )

    # Collector
    host: str = "127.0.0.1"
    http_port: int = 4318
    grpc_port: int = 4317
    query_port: int = Field(8124, description="Read-only ClickHouse-compatible HTTP endpoint; 0 disables it")
    query_max_seconds: float = Field(30.0, description="Longest a query endpoint query may run")
    query_max_memory_bytes: int = Field(1 << 30, description="Most memory one query endpoint query may use")
    query_max_result_rows: int = Field(1_000_000, description="Most rows one query endpoint answer may hold")
    query_max_concurrent: int = Field(4, description="Query endpoint queries run at once; more wait, then get 429")
    max_body_bytes: int = Field(64 * 1024 * 1024, description="Largest request body after decompression")
    batch_max_spans: int = Field(20_000, description="Most spans in one ClickHouse insert")
    batch_max_bytes: int = Field(
        32 * 1024 * 1024, description="Most bytes of OTLP requests in one ClickHouse insert (bounds memory)"
    )
    sql_decoder_min_spans: int = Field(
        4000,
        description="Trace batches this large or larger are decoded by ClickHouse itself, smaller ones in Python "
        "(ClickHouse's decoding costs more per insert, less per span); 0 turns it off",
    )
    batch_timeout_ms: int = Field(
        200,
        description="Least time between two inserts while less than a batch waits; stretched up to 5x while "
        "inserts are small, so a trickle of spans costs little CPU",
    )
    queue_max_bytes: int = Field(
        256 * 1024 * 1024, description="Memory requests being received and decoded may hold at once before 429"
    )
    max_request_elements: int = Field(
        1_000_000, description="Most elements (spans, log records, attributes, ...) in one request before 400"
    )
    grpc_max_concurrent_rpcs: int = Field(
        0, description="gRPC calls handled at once, more get RESOURCE_EXHAUSTED [0: no limit; queue_max_bytes bounds]"
    )
    http_max_connections: int = Field(1000, description="Open OTLP/HTTP connections; more are closed on accept")
    http_header_timeout_s: float = Field(10.0, description="Seconds a client has to send a request's headers")
    http_body_timeout_s: float = Field(
        30.0, description="A request body must bring 64 KiB (or its end) in each period of this many seconds"
    )
    spool_dir: str = Field("", description="Where acknowledged data waits for ClickHouse [default: DATA_DIR/spool]")
    spool_max_bytes: int = Field(
        1024**3,
        description="Spool size at which senders get 503 (ClickHouse down for long); the disk also needs "
        "LLMSIGHT_BATCH_MAX_BYTES for the batch being inserted",
    )
    redact: str = Field(
        "",
        description="Redaction patterns applied to content before storage: comma-separated built-ins "
        "(email, phone, card, api_key) and/or re:REGEX",
    )
    redact_attributes: str = Field("", description="Extra attribute keys to redact, comma-separated")
    ingest_tokens: str = Field("", description="Comma-separated bearer tokens; token=tenant binds a tenant")
    experiment_tokens: str = Field(
        "",
        description="Comma-separated operator tokens that may also send experiment data (llmsight eval run); "
        "with ingest tokens set, no other token's experiment runs, rows or scores are filed",
    )
    query_token: str = Field(
        "",
        description="Token the CLI sends to serve's query endpoint [default: serve.json's, else an unbound one]",
    )
    cors_allowed_origins: str = Field(
        "",
        description="Web origins (https://app.example.com, comma-separated) whose pages may post to the "
        "OTLP/HTTP receiver; none: no CORS",
    )
    tls_cert_file: str = Field("", description="PEM certificate: serve OTLP/HTTP and gRPC over TLS")
    tls_key_file: str = Field("", description="PEM private key for --tls-cert-file")

    # Monitors
    config: str = Field("", description="Monitor file [default: ./llmsight.yaml if present, else the default monitor]")
    run_monitors: bool = Field(
        True, description="serve judges and runs the monitors; false where a `llmsight monitor run` worker does"
    )

    # Evaluator (judge)
    judge_model: str = ""
    judge_base_url: str = ""
    judge_api_key: str = ""
    evaluate_interval_s: float = Field(60.0, description="How often `serve` runs the evaluator when a judge is set")
    sample_rate: float = 0.1

    @property
    def spool_path(self) -> Path:
        return Path(self.spool_dir).resolve() if self.spool_dir else self.data_dir / "spool"

    @property
    def data_dir(self) -> Path:
        """Directory for files the collector keeps beside an embedded store (serve.json, spool)."""
        from llmsight.store.url import parse_store_url

        store = parse_store_url(self.clickhouse_url)
        if store.embedded:
            return Path(store.path).parent
        return Path(".llmsight").resolve()
