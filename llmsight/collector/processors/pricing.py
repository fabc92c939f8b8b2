"""Price new models before their calls are stored, so a call's cost is right the first time it is read.

``llm_calls.Cost`` looks prices up in ``model_prices_dict``. serve's 15-second job prices the
(provider, model) pairs it finds in ``llm_calls``, so until it ran a new model's calls read as
free. This processor runs on each batch of spans before the exporter inserts it: it works out
the pairs the view (store/sql/013_llm_calls_mv.sql) will derive, prices the ones it has not seen
and reloads the dictionary; only then is the batch inserted. The periodic job stays as the
backstop for spans written by other paths (the contrib exporter) and for failures here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from llmsight.collector.otlp_rows import Rows

log = logging.getLogger("llmsight.collector")

# The view's Provider and model columns, first non-empty attribute wins (keep in step with 013_llm_calls_mv.sql).
PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
RESPONSE_MODEL_KEYS = ("gen_ai.response.model", "llm.response.model_name", "llm.model_name", "embedding.model_name")
REQUEST_MODEL_KEYS = ("gen_ai.request.model", "llm.request.model_name")
MODEL_KEYS = RESPONSE_MODEL_KEYS + REQUEST_MODEL_KEYS
OPENINFERENCE_KINDS = ("LLM", "EMBEDDING")
RETRY_AFTER_S = 15.0  # after a failure (store down), leave it to the periodic job for a while
MAX_REMEMBERED = 100_000
MAX_KNOWN_MODELS = 5_000


def _first(attributes: Mapping[str, str], keys: Iterable[str]) -> str:
    for key in keys:
        value = attributes.get(key)
        if value:
            return value
    return ""


def call_pair(attributes: Mapping[str, str]) -> tuple[str, str] | None:
    """The (Provider, Model) the view derives for a span, or None if the span is not a model call."""
    kind = attributes.get("openinference.span.kind", "")
    if not (
        attributes.get("gen_ai.operation.name")
        or attributes.get("gen_ai.provider.name")
        or attributes.get("gen_ai.system")
        or kind in OPENINFERENCE_KINDS
    ):
        return None
    model = _first(attributes, RESPONSE_MODEL_KEYS) or _first(attributes, REQUEST_MODEL_KEYS)
    if not model and kind:
        params = attributes.get("llm.invocation_parameters") or attributes.get("embedding.invocation_parameters")
        try:
            parsed = json.loads(params) if params else None
        except ValueError:
            parsed = None
        model = parsed.get("model", "") if isinstance(parsed, dict) and isinstance(parsed.get("model"), str) else ""
    if not model:
        return None
    return _first(attributes, PROVIDER_KEYS), model


def seen_pair(attributes: Mapping[str, str]) -> tuple[str, str]:
    """(provider, model) by the SQL decoder's simpler rule (exporters/otlp_sql.py): any span naming a model.

    Remembered for every span of a batch this processor saw, priced or not, so the SQL decoder
    sends a batch back here only for a pair it has not seen (not for every span it cannot price).
    """
    return _first(attributes, PROVIDER_KEYS), _first(attributes, MODEL_KEYS)


class PriceOnIngest:
    """A pipeline processor: ``processor(table, rows)`` prices the batch's new models before insert."""

    def __init__(self, client_factory: Callable[[], Any], database: str) -> None:
        self._client_factory = client_factory
        self._database = database
        self._client: Any = None
        self._known: set[tuple[str, str]] = set()
        # (provider, model) pairs in batches already priced (see seen_pair): the SQL decoder refuses
        # a batch naming any other one (NeedsPricing), so that batch comes here first.
        self.known_models: frozenset[tuple[str, str]] = frozenset()
        self._lock = threading.Lock()
        self._paused_until = 0.0

    def __call__(self, table: str, rows: Rows) -> None:
        if table != "otel_traces" or not rows.count:
            return
        attributes = rows.data[rows.columns.index("SpanAttributes")]
        pairs = {pair for a in attributes if (pair := call_pair(a)) is not None}
        models = {pair for a in attributes if (pair := seen_pair(a))[1]}
        new = pairs - self._known
        if not new:
            self._remember(models)
            return
        if time.monotonic() < self._paused_until:
            return
        with self._lock:
            try:
                from llmsight.store.prices import price_pairs

                if self._client is None:
                    self._client = self._client_factory()
                price_pairs(self._client, self._database, new)
            except Exception as exc:  # never hold ingest up for a price: the periodic job catches up
                log.warning("could not price new models %s before storing them (%s); the price job will", new, exc)
                self._paused_until = time.monotonic() + RETRY_AFTER_S
                self._close()
                return
            if len(self._known) > MAX_REMEMBERED:
                self._known.clear()
            self._known |= new
            self._remember(models)

    def _remember(self, models: set[tuple[str, str]]) -> None:
        """Rebinds rather than mutates: the exporter thread reads the set while the decoder thread adds to it."""
        if models <= self.known_models:
            return
        known = self.known_models if len(self.known_models) + len(models) <= MAX_KNOWN_MODELS else frozenset()
        self.known_models = known | models  # each insert sends the set along: it is kept short

    def _close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
