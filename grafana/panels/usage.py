"""The Tokens and cost dashboard: usage and spend by model, deployment, service and user.

Totals, tokens over time and cost by deployment are the query layer's ``call_stats``,
``call_stats_over_time`` and ``tokens_by_deployment`` (a token budget monitor's numbers). The
splits nobody else asks (by the ``scope`` variable, by service, by user) keep their own SQL.
"""

from __future__ import annotations

from panels.blocks import (
    CALLS_FILTER,
    Layout,
    barchart,
    bargauge,
    custom_variable,
    dashboard,
    environment_var,
    from_question,
    model_var,
    service_var,
    stat,
    table,
    timeseries,
)

# Cost = tokens x the current price (llm_calls' Cost ALIAS does this per row with three dictGet
# calls). Panels instead sum tokens per (Provider, Model) first and price those few groups:
# the same number (tests check it against sum(Cost)) at a fraction of the work on 30 days of
# calls. Keep PRICED in step with InputCost/OutputCost in llmsight/store/sql/008_llm_calls.sql.
TOKEN_SUMS = """sum(InputTokens - least(CacheReadTokens, InputTokens)) AS uncached_in,
    sum(least(CacheReadTokens, InputTokens)) AS cached_in, sum(OutputTokens) AS out_tok"""


def _price(col: str) -> str:
    return f"dictGetOrDefault('otel.model_prices_dict', '{col}', (toString(Provider), toString(Model)), 0.)"


PRICED = (
    f"(uncached_in * {_price('InputPerMTok')}\n    + cached_in * {_price('CacheReadPerMTok')}"
    f"\n    + out_tok * {_price('OutputPerMTok')}) / 1e6"
)


def cost_by(keys: list[str], where: str, extra: str = "") -> str:
    """Inner query: token sums per ``keys`` x (Provider, Model), ready for ``sum(PRICED)``.

    ``keys`` are select expressions (``expr AS alias`` or a column); grouping is by their names.
    """
    names = [k.rsplit(" AS ", 1)[-1] for k in keys]
    return (
        f"(SELECT {''.join(k + ', ' for k in keys)}Provider, Model, {TOKEN_SUMS}{extra}\n"
        f"  FROM otel.llm_calls WHERE {where}\n"
        f"  GROUP BY {''.join(n + ', ' for n in names)}Provider, Model)"
    )


SCOPE_OPTIONS = [
    ("model", "Model"),
    ("deployment", "RequestModel"),
    ("provider", "Provider"),
    ("service", "ServiceName"),
    ("environment", "Environment"),
]


def scope_var() -> dict:
    """A custom variable picking the column trendlines are split by; its values are column names."""
    return custom_variable("scope", "Split trends by", SCOPE_OPTIONS)


def _stats(select: str) -> str:
    return from_question("call_stats", select)


def usage() -> dict:
    lay = Layout()
    F = CALLS_FILTER
    panels = [
        stat(lay, "Total tokens", "How many tokens (prompt + completion) were used?", _stats("total_tokens"), "short"),
        stat(lay, "Prompt tokens", "How many prompt (input) tokens were sent?", _stats("prompt_tokens"), "short"),
        stat(
            lay,
            "Completion tokens",
            "How many completion (output) tokens were generated?",
            _stats("completion_tokens"),
            "short",
        ),
        stat(lay, "Cost", "What did the calls cost (current prices)?", _stats("cost"), "currencyUSD", decimals=2),
        stat(
            lay,
            "Cost per 1K requests",
            "What does a thousand calls cost on average?",
            _stats("1000 * cost / greatest(requests, 1) AS cost_per_1k"),
            "currencyUSD",
            decimals=2,
        ),
        stat(
            lay,
            "Calls without a price",
            "How many calls have tokens but no known price (cost shown as 0)?",
            "SELECT sumIf(calls, NOT dictHas('otel.model_prices_dict', (toString(Provider), toString(Model)))) "
            f"AS unpriced\nFROM (SELECT Provider, Model, countIf(InputTokens + OutputTokens > 0) AS calls\n"
            f"  FROM otel.llm_calls WHERE {F}\n  GROUP BY Provider, Model)",
            "short",
        ),
    ]
    lay.new_row()
    panels += [
        timeseries(
            lay,
            "Tokens over time",
            "How many prompt and completion tokens per interval?",
            from_question(
                "call_stats_over_time",
                "time, total_tokens AS total, prompt_tokens AS prompt, completion_tokens AS completion",
                order_by="time",
            ),
            "short",
        ),
        timeseries(
            lay,
            "Tokens by ${scope}",
            "Which model/deployment/provider/service uses the tokens?",
            f"""SELECT $__timeInterval(Timestamp) AS time, ${{scope}} AS series,
  sum(InputTokens + OutputTokens) AS tokens
FROM otel.llm_calls WHERE {F}
GROUP BY time, series ORDER BY time""",
            "short",
            display_name="${__field.labels.series}",
        ),
        timeseries(
            lay,
            "Cost over time by ${scope}",
            "Where does the spend go, and is it growing?",
            f"""SELECT time, series, sum({PRICED}) AS cost
FROM {cost_by(["$__timeInterval(Timestamp) AS time", "${scope} AS series"], F)}
GROUP BY time, series ORDER BY time""",
            "currencyUSD",
            display_name="${__field.labels.series}",
            custom={"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 30},
        ),
        bargauge(
            lay,
            "Cost by service",
            "Which service spends the most?",
            f"""SELECT ServiceName, sum({PRICED}) AS cost
FROM {cost_by(["ServiceName"], F)}
GROUP BY ServiceName ORDER BY cost DESC LIMIT 20""",
            "currencyUSD",
        ),
        bargauge(
            lay,
            "Cost by model",
            "Which model (deployment) costs the most? (a token budget monitor's numbers)",
            from_question(
                "tokens_by_deployment",
                "model AS Model, sum(cost) AS cost",
                group_by="Model",
                order_by="cost DESC, Model",
                limit=20,
            ),
            "currencyUSD",
        ),
        table(
            lay,
            "Cost by user",
            "Which end users drive the spend (user.id / enduser.id)?",
            f"""SELECT user, sum(calls) AS requests, sum(uncached_in + cached_in) AS prompt_tokens,
  sum(out_tok) AS completion_tokens, sum({PRICED}) AS cost
FROM {cost_by(["if(UserId = '', '(none)', UserId) AS user"], F, ", count() AS calls")}
GROUP BY user ORDER BY cost DESC LIMIT 50""",
            w=12,
            overrides=[
                {"matcher": {"id": "byName", "options": "cost"}, "properties": [{"id": "unit", "value": "currencyUSD"}]}
            ],
        ),
        table(
            lay,
            "Tokens and cost by deployment",
            "What does each deployment (model) and provider use and cost? (what a per-deployment budget checks)",
            from_question("tokens_by_deployment", "*"),
            h=7,
            overrides=[
                {"matcher": {"id": "byName", "options": "cost"}, "properties": [{"id": "unit", "value": "currencyUSD"}]}
            ],
        ),
    ]
    lay.new_row()
    for col, label in (("InputTokens", "Prompt"), ("OutputTokens", "Completion")):
        panels.append(
            barchart(
                lay,
                f"{label} tokens distribution",
                f"How large are {label.lower()}s? (calls per power-of-two bucket; calls that reported no "
                "tokens, such as failed ones, are left out)",
                f"""SELECT if(lo = 1, '1', concat(toString(lo), '-', toString(lo * 2 - 1))) AS bucket, count() AS calls
FROM (SELECT toUInt64(exp2(floor(log2({col})))) AS lo FROM otel.llm_calls WHERE {F} AND {col} > 0)
GROUP BY lo ORDER BY lo""",
                "bucket",
            )
        )
    return dashboard(
        "llmsight-usage",
        "llmsight / Tokens and cost",
        "Token usage and cost by model, deployment, service and user.",
        panels,
        [service_var(), model_var(), environment_var(), scope_var()],
        tags=["cost"],
    )
