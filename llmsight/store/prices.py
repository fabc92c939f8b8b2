"""Model prices from the genai-prices package, kept in ClickHouse so cost is computed in SQL.

``load_catalog`` copies the whole catalogue into ``price_catalog``. ``resolve_prices``
finds each (provider, model) seen in ``llm_calls`` that has no price yet, matches it with
genai-prices' own matcher (which knows the aliases and dated model names), and writes the
result to ``model_prices``, which the ``model_prices_dict`` dictionary serves to the
``Cost`` columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

# OpenTelemetry gen_ai.provider.name values -> genai-prices provider ids, where they differ.
PROVIDER_IDS: dict[str, str] = {
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "aws.bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
}


def _mtok(value: Any) -> float:
    """A price per million tokens as a float; tiered prices use their base tier."""
    if value is None:
        return 0.0
    if isinstance(value, Decimal | int | float):
        return float(value)
    base = getattr(value, "base", None)
    return float(base) if base is not None else 0.0


def _current_price(model: Any) -> Any:
    prices = model.prices
    if isinstance(prices, list):
        try:
            return model.get_prices(dt.datetime.now(dt.timezone.utc))
        except Exception:
            return prices[0].prices
    return prices


def _row(provider: Any, model: Any) -> tuple[float, float, float]:
    price = _current_price(model)
    return (
        _mtok(getattr(price, "input_mtok", None)),
        _mtok(getattr(price, "output_mtok", None)),
        _mtok(getattr(price, "cache_read_mtok", None) or getattr(price, "input_mtok", None)),
    )


def load_catalog(client: Client, database: str) -> int:
    """Copy the genai-prices catalogue into ``price_catalog``; returns the number of models."""
    from genai_prices import data

    rows = []
    for provider in data.providers:
        for model in provider.models:
            rows.append((provider.id, model.id, model.name or model.id, *_row(provider, model)))
    client.insert(
        f"`{database}`.price_catalog",
        rows,
        column_names=["Provider", "Model", "Name", "InputPerMTok", "OutputPerMTok", "CacheReadPerMTok"],
    )
    return len(rows)


def find_price(provider_name: str, model_name: str) -> tuple[str, str, float, float, float] | None:
    """Match a call's provider and model to a catalogue entry, preferring the call's own provider."""
    from genai_prices import data

    wanted = PROVIDER_IDS.get(provider_name, provider_name)
    ordered = sorted(data.providers, key=lambda p: 0 if p.id == wanted else 1)
    for provider in ordered:
        model = provider.find_model(model_name)
        if model is not None:
            return (provider.id, model.id, *_row(provider, model))
    return None


def resolve_prices(client: Client, database: str, since_s: int | None = None) -> int:
    """Price every (provider, model) in llm_calls that has no price yet; returns how many were added.

    ``since_s`` looks only at recent calls: the collector runs this every few seconds and must not
    scan months of calls each time (``llmsight db init`` scans everything).
    """
    db = f"`{database}`"
    window = f"AND Timestamp >= now64(9) - toIntervalSecond({int(since_s)}) " if since_s else ""
    unseen = client.query(
        f"SELECT DISTINCT toString(Provider), toString(Model) FROM {db}.llm_calls "
        f"WHERE Model != '' {window}AND (toString(Provider), toString(Model)) NOT IN "
        f"(SELECT Provider, Model FROM {db}.model_prices)"
    ).result_rows
    return _add_prices(client, database, [(str(p), str(m)) for p, m in unseen])


def price_pairs(client: Client, database: str, pairs: Iterable[tuple[str, str]]) -> int:
    """Price the given (provider, model) pairs that have no price yet; returns how many were added.

    The collector calls this with the pairs of a batch before inserting it, so a new model's calls
    have their cost from the first read instead of after the next ``resolve_prices`` run.
    """
    wanted = sorted({(p, m) for p, m in pairs if m})
    if not wanted:
        return 0
    models = ", ".join(sorted({_quote(m) for _, m in wanted}))
    known = client.query(f"SELECT Provider, Model FROM `{database}`.model_prices WHERE Model IN ({models})").result_rows
    have = {(str(p), str(m)) for p, m in known}
    return _add_prices(client, database, [pair for pair in wanted if pair not in have])


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _add_prices(client: Client, database: str, pairs: list[tuple[str, str]]) -> int:
    rows = []
    for provider_name, model_name in pairs:
        match = find_price(provider_name, model_name)
        # An unknown model is recorded with zero prices, so it is not looked up again every cycle.
        rows.append((provider_name, model_name, *(match or ("", "", 0.0, 0.0, 0.0))))
    if rows:
        client.insert(
            f"`{database}`.model_prices",
            rows,
            column_names=[
                "Provider",
                "Model",
                "CatalogProvider",
                "CatalogModel",
                "InputPerMTok",
                "OutputPerMTok",
                "CacheReadPerMTok",
            ],
        )
        client.command(f"SYSTEM RELOAD DICTIONARY `{database}`.model_prices_dict")
    return len(rows)


def reprice_all(client: Client, database: str) -> int:
    """Forget resolved prices and resolve them again from the current catalogue (after an update)."""
    client.command(f"TRUNCATE TABLE `{database}`.model_prices")
    return resolve_prices(client, database)
