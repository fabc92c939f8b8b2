"""Where an experiment sends its data and reads it back, so it never fights another process over a store.

Everything an experiment writes (the run, each row's trace, each score) is OpenTelemetry data sent
to a collector, like the app's own telemetry; the store's views file it. The collector is:

- ``--collector URL`` when given (a deployed collector, e.g. docker-compose's), reading the store directly;
- else the running ``llmsight serve`` that owns the embedded store (found through serve.json), reading
  through its query endpoint;
- else a collector started in this process on free local ports for the length of the run (and
  findable through serve.json meanwhile, so ``llmsight report`` in another terminal still works).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from llmsight.settings import Settings


@dataclass
class Connection:
    otlp_endpoint: str  # OTLP/HTTP base URL
    token: str | None  # bearer token for it
    client: Any  # clickhouse-connect client for reads
    database: str
    via: str  # for people: "a collector in this process", "llmsight serve (pid 123)", the URL
    collector: Any = None  # the in-process Collector, if this run started one

    def wait_stored(self, done: Callable[[], bool], timeout: float = 60.0) -> bool:
        """Wait until ``done()`` (a read of the store) holds; an in-process collector first stores all it took."""
        deadline = time.monotonic() + timeout
        if self.collector is not None:
            self.collector.wait_until_stored(timeout=timeout)
        while not done():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True


HINTS = {
    401: " (set LLMSIGHT_INGEST_TOKENS to its token)",
    403: " (this token may not send experiment data: set LLMSIGHT_EXPERIMENT_TOKENS, here and on the collector)",
}


def check_collector(url: str, token: str | None) -> None:
    """An OTLP/HTTP export of no spans to ``url``, claiming experiment data as the run will: the collector is
    there and takes this run's token for experiments, or a clear error before anything runs."""
    import urllib.error
    import urllib.request

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from llmsight.collector.auth import EXPERIMENTS_ATTRIBUTE
    from llmsight.experiments.runner import ExperimentError

    claim = ExportTraceServiceRequest()
    attribute = claim.resource_spans.add().resource.attributes.add()
    attribute.key, attribute.value.string_value = EXPERIMENTS_ATTRIBUTE, "1"
    headers = {"Content-Type": "application/x-protobuf", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(
        f"{url}/v1/traces", data=claim.SerializeToString(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            return
    except urllib.error.HTTPError as exc:
        why = f"answered HTTP {exc.code}" + HINTS.get(exc.code, "")
    except (OSError, ValueError) as exc:
        why = f"cannot be reached ({getattr(exc, 'reason', exc)})"
    raise ExperimentError(f"the collector at {url} {why}; nothing was run")


@contextmanager
def connect(settings: Settings, collector_url: str | None = None) -> Iterator[Connection]:
    from llmsight.cli.common import query_client, running_serve, serve_file
    from llmsight.collector.auth import TokenAuth
    from llmsight.store.client import open_client
    from llmsight.store.url import parse_store_url

    store = parse_store_url(settings.clickhouse_url)
    configured = TokenAuth(settings.ingest_tokens, settings.experiment_tokens)
    token = configured.experiment_token() or configured.reader_token()
    if collector_url:
        check_collector(collector_url.rstrip("/"), token)  # before any row runs, not after them all
        client = query_client(settings)  # the store, or the query endpoint of the serve that owns it
        try:
            yield Connection(collector_url.rstrip("/"), token, client, store.database, collector_url)
        finally:
            client.close()
        return
    serving = running_serve(settings) if store.embedded else None
    if serving and serving.get("owner", "serve") != "serve":  # its collector stops when its command ends
        from llmsight.experiments.runner import ExperimentError

        raise ExperimentError(
            f"the embedded store {store.path} is in use by `llmsight {serving['owner']}` (pid {serving.get('pid')}), "
            "whose collector stops when it ends: wait for it, or give this run another store (--clickhouse-url)"
        )
    if serving and serving.get("http"):
        check_collector(serving["http"], token)
        client = query_client(settings)
        try:
            yield Connection(
                serving["http"], token, client, store.database, f"llmsight serve (pid {serving.get('pid')})"
            )
        finally:
            client.close()
        return
    from llmsight.collector.server import Collector, free_port

    own = ""
    if configured.enabled and not configured.experiment_token():  # this run's collector takes this run's data
        own = token = secrets.token_urlsafe(24)
    local = settings.model_copy(
        update={
            "experiment_tokens": ",".join(t for t in (settings.experiment_tokens, own) if t),
            "host": "127.0.0.1",
            "http_port": free_port(),
            "grpc_port": free_port(),
            "query_port": free_port(),
            "batch_timeout_ms": 50,
            "tls_cert_file": "",
            "tls_key_file": "",
        }
    )
    collector = Collector(local, serve_file=serve_file(settings) if store.embedded else None, owner="eval")
    collector.start_in_thread()
    client = None
    try:
        client = open_client(collector.store)
        yield Connection(
            collector.endpoints.http, token, client, store.database, "a collector in this process", collector
        )
    finally:
        if client is not None:
            client.close()
        collector.stop_thread()
