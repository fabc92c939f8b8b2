"""``llmsight serve``: the collector in the foreground."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.panel import Panel

from llmsight.cli.common import (
    StoreOption,
    console,
    default_note,
    err_console,
    fail,
    make_settings,
    serve_file,
    setting_default,
    user_errors,
)


def serve(
    clickhouse_url: StoreOption = None,
    host: Annotated[
        str | None, typer.Option(help="Address the receivers listen on." + setting_default("host"), show_default=False)
    ] = None,
    http_port: Annotated[
        int | None, typer.Option(help="OTLP/HTTP port." + setting_default("http_port"), show_default=False)
    ] = None,
    grpc_port: Annotated[
        int | None, typer.Option(help="OTLP/gRPC port." + setting_default("grpc_port"), show_default=False)
    ] = None,
    query_port: Annotated[
        int | None,
        typer.Option(
            help="Read-only ClickHouse-compatible HTTP port on 127.0.0.1; 0 disables it."
            + setting_default("query_port"),
            show_default=False,
        ),
    ] = None,
    retention_days: Annotated[
        int | None,
        typer.Option(
            help="Days of data ClickHouse keeps (TTL); 0 keeps all." + setting_default("retention_days"),
            show_default=False,
        ),
    ] = None,
    ingest_token: Annotated[
        list[str] | None,
        typer.Option(
            help="Bearer token senders must present (repeatable); TOKEN=TENANT binds a tenant. The env var takes "
            "them comma-separated." + setting_default("ingest_tokens", secret=True),
            show_default=False,
        ),
    ] = None,
    cors_allowed_origins: Annotated[
        str | None,
        typer.Option(
            help="Web origins whose pages may POST to the OTLP/HTTP receiver (CORS), comma-separated exact origins "
            "such as https://app.example.com; none sends no CORS headers." + setting_default("cors_allowed_origins"),
            show_default=False,
        ),
    ] = None,
    tls_cert_file: Annotated[
        str | None,
        typer.Option(
            help="PEM certificate: serve both receivers over TLS (with --tls-key-file)."
            + setting_default("tls_cert_file"),
            show_default=False,
        ),
    ] = None,
    tls_key_file: Annotated[
        str | None,
        typer.Option(help="PEM private key for --tls-cert-file." + setting_default("tls_key_file"), show_default=False),
    ] = None,
    redact: Annotated[
        str | None,
        typer.Option(
            help="Redact content before storage: email,phone,card,api_key,all and/or re:REGEX (comma-separated)."
            + setting_default("redact"),
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="Monitor file: what is watched and who is told." + setting_default("config"),
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log each background job." + default_note("off"))
    ] = False,
) -> None:
    """Receive OTLP traces and logs and store them in ClickHouse.

    Prices each new model before its first call is stored (and every 15 seconds, for calls
    written by other paths) and, when a judge model is configured
    (LLMSIGHT_JUDGE_MODEL), runs the evaluator in the same process every
    LLMSIGHT_EVALUATE_INTERVAL_S seconds (default 60).

    Example:

        llmsight serve                                   # embedded store in ./.llmsight

        llmsight serve --clickhouse-url http://default:pw@localhost:8123/otel --host 0.0.0.0 --ingest-token s3cret
    """
    from llmsight.collector.server import Collector, PortInUseError

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    with user_errors():
        settings = make_settings(
            clickhouse_url=clickhouse_url,
            host=host,
            http_port=http_port,
            grpc_port=grpc_port,
            query_port=query_port,
            retention_days=retention_days,
            ingest_tokens=",".join(ingest_token) if ingest_token else None,
            cors_allowed_origins=cors_allowed_origins,
            redact=redact,
            tls_cert_file=tls_cert_file,
            tls_key_file=tls_key_file,
        )
        from llmsight.cli.monitor import load as load_monitors

        monitors = load_monitors(config, settings)  # a bad file: its errors and exit 2, before anything starts
        try:
            collector = Collector(
                settings,
                jobs=background_jobs(settings, monitors),
                serve_file=serve_file(settings),
                extra_health=judge_health_check(),
            )
        except (ValueError, OSError) as exc:  # a bad redaction pattern or CORS origin, a missing certificate
            raise fail(str(exc)) from None
        if not collector.auth.enabled and not _is_loopback(settings.host):
            err_console.print(
                Panel(
                    f"Listening on {settings.host} without an ingest token: anyone who can reach this "
                    "port can write into your store. Set --ingest-token or LLMSIGHT_INGEST_TOKENS.",
                    title="[bold red]WARNING[/]",
                    border_style="red",
                )
            )
        ep = collector.endpoints
        evaluator = f"on, judge {settings.judge_model}" if settings.judge_model else "off (set LLMSIGHT_JUDGE_MODEL)"
        console.print(
            Panel(
                f"store      {collector.store.display()}\n"
                f"OTLP/HTTP  {ep.http}/v1/traces{_cors_note(collector.cors_allowed_origins)}\n"
                f"OTLP/gRPC  {ep.grpc}\n"
                f"query      {ep.query or 'disabled'}  (read-only ClickHouse HTTP)\n"
                f"metrics    {ep.http}/metrics\n"
                f"evaluator  {evaluator}\n"
                f"monitors   {_monitors_line(settings, monitors)}",
                title="llmsight collector",
                subtitle="Ctrl+C to stop",
            )
        )
        os.umask(0o077)  # every file serve writes (store, spool, dead letters) holds prompts and answers
        try:
            asyncio.run(collector.run(install_signals=True))
        except PortInUseError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            pass
    console.print("stopped; queued data was stored.")


def background_jobs(settings, monitors=None) -> list:
    """Price resolution and the monitors always; judging for the monitors when a judge is configured."""
    from llmsight.store.client import open_client
    from llmsight.store.prices import resolve_prices
    from llmsight.store.url import parse_store_url

    store = parse_store_url(settings.clickhouse_url)
    jobs = []

    def resolve_model_prices() -> None:
        client = open_client(store)
        try:
            resolve_prices(client, store.database, since_s=3600)  # recent calls only: this runs every 15 s
        finally:
            client.close()

    jobs.append((15.0, resolve_model_prices))
    if settings.run_monitors:  # off where a `llmsight monitor run` worker judges and runs them (compose)
        from llmsight.monitors.loader import load_for_settings
        from llmsight.monitors.service import MonitorJobs

        # Judging for every monitor's quality signal (with a judge), and each monitor on its schedule.
        jobs.extend(MonitorJobs(settings, monitors or load_for_settings(settings)).jobs())
    return jobs


def _cors_note(origins: list[str]) -> str:
    return f"  (CORS: {', '.join(origins)})" if origins else ""


def _monitors_line(settings, monitors) -> str:
    if not settings.run_monitors:
        return "off here (LLMSIGHT_RUN_MONITORS=false: a `llmsight monitor run` worker runs them)"
    return f"{len(monitors.file.monitors)} from {monitors.source}"


def judge_health_check() -> dict[str, Callable[[], dict[str, Any]]]:
    """``/healthz``'s ``judge`` entry (degraded while the judge fails), when the evaluator is installed."""
    try:
        from llmsight.evaluator.health import judge_health
    except ImportError:
        return {}
    return {"judge": judge_health().status}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
