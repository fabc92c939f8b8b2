"""Generate llmsight's Grafana dashboards (grafana/dashboards/*.json) from one readable source.

Why a generator: four dashboards share the same datasource reference, template variables,
filters and data links; writing them once here keeps the JSON consistent, and the test suite
checks that the committed JSON is exactly what this script produces (run it after editing:
``python grafana/generate_dashboards.py``).

Conventions every panel follows (the tests rely on them):
* SQL is written for the ClickHouse plugin's SQL editor (``editorType: sql``) with its macros:
  ``$__timeFilter(col)``, ``$__timeInterval(col)``, ``$__interval_s``, ``$__fromTime``/``$__toTime``
  (expanded by the plugin's backend) and ``$__conditionalAll(cond, $var)`` (expanded by its
  frontend to ``1=1`` when All is selected).
* Tables are qualified with the production database, ``otel.`` (the collector's default);
  the tests rewrite that prefix to their own database.
* ``format`` is the plugin's numeric format: 0 time series, 1 table, 3 traces.
"""

from __future__ import annotations

import json
from pathlib import Path

DATASOURCE_UID = "llmsight-clickhouse"
DS = {"type": "grafana-clickhouse-datasource", "uid": DATASOURCE_UID}
TRACE_DASHBOARD_UID = "llmsight-trace"
OUT_DIR = Path(__file__).resolve().parent / "dashboards"

FORMATS = {"timeseries": 0, "table": 1, "traces": 3}

# Filters shared by panels. Each $__conditionalAll collapses to 1=1 when its variable is All,
# so the default view scans by time only and ClickHouse prunes by partition (toDate(Timestamp)).
CALLS_FILTER = """$__timeFilter(Timestamp)
  AND $__conditionalAll(ServiceName IN (${service:singlequote}), $service)
  AND $__conditionalAll(Model IN (${model:singlequote}), $model)
  AND $__conditionalAll(Environment IN (${environment:singlequote}), $environment)"""

EVALS_FILTER = """$__timeFilter(SpanTimestamp)
  AND $__conditionalAll(ServiceName IN (${service:singlequote}), $service)
  AND $__conditionalAll(Model IN (${model:singlequote}), $model)
  AND $__conditionalAll(Environment IN (${environment:singlequote}), $environment)
  AND $__conditionalAll(Metric IN (${metric:singlequote}), $metric)"""

TRACE_LINK = {
    "title": "Open trace",
    "url": f"/d/{TRACE_DASHBOARD_UID}/llmsight-trace?var-trace_id=${{__value.raw}}&${{__url_time_range}}",
}


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


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


def target(sql: str, kind: str = "timeseries", ref: str = "A") -> dict:
    return {
        "datasource": DS,
        "editorType": "sql",
        "format": FORMATS[kind],
        "queryType": kind,
        "rawSql": sql.strip(),
        "refId": ref,
    }


class Layout:
    """Places panels left to right on Grafana's 24-column grid, wrapping to new rows."""

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1

    def place(self, w: int, h: int) -> dict:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def new_row(self) -> None:
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0

    def take_id(self) -> int:
        i = self.next_id
        self.next_id += 1
        return i


def panel(
    lay: Layout,
    ptype: str,
    title: str,
    description: str,
    sql: str,
    *,
    kind: str | None = None,
    w: int = 12,
    h: int = 8,
    unit: str | None = None,
    decimals: int | None = None,
    links_on: list[str] | None = None,
    options: dict | None = None,
    custom: dict | None = None,
    display_name: str | None = None,
    overrides: list | None = None,
) -> dict:
    """One panel = one question (``description``) answered by one SQL target."""
    if kind is None:
        kind = "timeseries" if ptype == "timeseries" else ("traces" if ptype == "traces" else "table")
    defaults: dict = {}
    if unit:
        defaults["unit"] = unit
    if decimals is not None:
        defaults["decimals"] = decimals
    if custom:
        defaults["custom"] = custom
    if display_name:
        defaults["displayName"] = display_name
    all_overrides = list(overrides or [])
    for field in links_on or []:
        all_overrides.append(
            {"matcher": {"id": "byName", "options": field}, "properties": [{"id": "links", "value": [TRACE_LINK]}]}
        )
    p = {
        "id": lay.take_id(),
        "type": ptype,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": lay.place(w, h),
        "targets": [target(sql, kind)],
        "fieldConfig": {"defaults": defaults, "overrides": all_overrides},
        "options": options or {},
    }
    return p


def stat(lay: Layout, title: str, description: str, sql: str, unit: str | None = None, **kw) -> dict:
    opts = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value",
        "graphMode": "none",
        "textMode": "auto",
    }
    return panel(
        lay, "stat", title, description, sql, unit=unit, w=kw.pop("w", 4), h=kw.pop("h", 4), options=opts, **kw
    )


def timeseries(lay: Layout, title: str, description: str, sql: str, unit: str | None = None, **kw) -> dict:
    opts = {
        "legend": {"displayMode": "table", "placement": "right", "calcs": ["mean", "max"]},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel(lay, "timeseries", title, description, sql, unit=unit, options=opts, **kw)


def table(lay: Layout, title: str, description: str, sql: str, **kw) -> dict:
    opts = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    return panel(lay, "table", title, description, sql, options=opts, w=kw.pop("w", 24), h=kw.pop("h", 9), **kw)


def bargauge(lay: Layout, title: str, description: str, sql: str, unit: str | None = None, **kw) -> dict:
    opts = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": True},
        "orientation": "horizontal",
        "displayMode": "gradient",
        "showUnfilled": True,
    }
    return panel(lay, "bargauge", title, description, sql, unit=unit, options=opts, **kw)


def barchart(lay: Layout, title: str, description: str, sql: str, x_field: str, **kw) -> dict:
    opts = {
        "xField": x_field,
        "orientation": "vertical",
        "showValue": "never",
        "stacking": "none",
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi"},
    }
    return panel(lay, "barchart", title, description, sql, options=opts, **kw)


def query_variable(name: str, label: str, sql: str, *, multi: bool = True) -> dict:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"rawSql": sql.strip(), "editorType": "sql", "format": 1, "queryType": "table", "refId": name},
        "definition": sql.strip(),
        "refresh": 2,  # on time range change: only values seen in the range are offered
        "includeAll": True,
        "multi": multi,
        "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "hide": 0,
    }


def service_var(table_name: str = "llm_calls", col: str = "Timestamp") -> dict:
    return query_variable(
        "service",
        "Service",
        f"SELECT DISTINCT ServiceName FROM otel.{table_name} WHERE $__timeFilter({col}) ORDER BY ServiceName",
    )


def model_var(table_name: str = "llm_calls", col: str = "Timestamp") -> dict:
    return query_variable(
        "model",
        "Model",
        f"SELECT DISTINCT Model FROM otel.{table_name} WHERE $__timeFilter({col}) "
        "AND $__conditionalAll(ServiceName IN (${service:singlequote}), $service) ORDER BY Model",
    )


def environment_var() -> dict:
    return query_variable(
        "environment",
        "Environment",
        "SELECT DISTINCT Environment FROM otel.llm_calls WHERE $__timeFilter(Timestamp) ORDER BY Environment",
    )


def metric_var() -> dict:
    return query_variable(
        "metric",
        "Metric",
        "SELECT DISTINCT Metric FROM otel.evaluations WHERE $__timeFilter(SpanTimestamp) ORDER BY Metric",
    )


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: list,
    variables: list,
    *,
    time_from: str = "now-24h",
    tags: list[str] | None = None,
) -> dict:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["llmsight", *(tags or [])],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": time_from, "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [
            {
                "title": "llmsight",
                "type": "dashboards",
                "tags": ["llmsight"],
                "asDropdown": True,
                "includeVars": False,
                "keepTime": True,
            }
        ],
        "panels": panels,
    }


# ---------------------------------------------------------------------------------------------
# 1. Operations
# ---------------------------------------------------------------------------------------------


def operations() -> dict:
    lay = Layout()
    F = CALLS_FILTER
    panels = [
        stat(
            lay,
            "Requests",
            "How many LLM calls were made in the range?",
            f"SELECT count() AS requests FROM otel.llm_calls WHERE {F}",
            "short",
        ),
        stat(
            lay,
            "Error rate",
            "What share of LLM calls failed?",
            f"SELECT countIf(IsError = 1) / greatest(count(), 1) AS error_rate FROM otel.llm_calls WHERE {F}",
            "percentunit",
            decimals=2,
        ),
        stat(
            lay,
            "Latency p95",
            "How long do 95% of calls take at most?",
            f"SELECT quantile(0.95)(Duration) / 1e9 AS p95_latency FROM otel.llm_calls WHERE {F}",
            "s",
        ),
        stat(
            lay,
            "Time to first token p95",
            "How long do streamed calls wait for their first chunk (p95)?",
            f"SELECT quantile(0.95)(TimeToFirstChunk) AS p95_ttft FROM otel.llm_calls "
            f"WHERE {F} AND TimeToFirstChunk IS NOT NULL",
            "s",
        ),
        stat(
            lay,
            "Throughput",
            "How many calls per second on average over the range?",
            "SELECT count() / greatest(toUnixTimestamp($__toTime) - toUnixTimestamp($__fromTime), 1) "
            f"AS requests_per_second FROM otel.llm_calls WHERE {F}",
            "reqps",
        ),
        stat(
            lay,
            "Output tokens / s",
            "How many completion tokens per second are generated on average?",
            "SELECT sum(OutputTokens) / greatest(toUnixTimestamp($__toTime) - toUnixTimestamp($__fromTime), 1) "
            f"AS output_tokens_per_second FROM otel.llm_calls WHERE {F}",
            "short",
        ),
    ]
    lay.new_row()
    panels += [
        timeseries(
            lay,
            "Requests by service",
            "How many calls does each service make over time?",
            f"""SELECT $__timeInterval(Timestamp) AS time, ServiceName, count() AS requests
FROM otel.llm_calls WHERE {F}
GROUP BY time, ServiceName ORDER BY time""",
            "short",
            display_name="${__field.labels.ServiceName}",
        ),
        timeseries(
            lay,
            "Error rate by model",
            "Which models fail, and since when?",
            f"""SELECT $__timeInterval(Timestamp) AS time, Model, countIf(IsError = 1) / count() AS error_rate
FROM otel.llm_calls WHERE {F}
GROUP BY time, Model ORDER BY time""",
            "percentunit",
            display_name="${__field.labels.Model}",
        ),
        timeseries(
            lay,
            "Latency p50 / p95 / p99",
            "How long do calls take, typical and tail?",
            f"""SELECT $__timeInterval(Timestamp) AS time,
  quantiles(0.5, 0.95, 0.99)(Duration)[1] / 1e9 AS p50,
  quantiles(0.5, 0.95, 0.99)(Duration)[2] / 1e9 AS p95,
  quantiles(0.5, 0.95, 0.99)(Duration)[3] / 1e9 AS p99
FROM otel.llm_calls WHERE {F}
GROUP BY time ORDER BY time""",
            "s",
        ),
        timeseries(
            lay,
            "Time to first token (streamed calls)",
            "How long until the first chunk, p50 and p95?",
            f"""SELECT $__timeInterval(Timestamp) AS time,
  quantile(0.5)(TimeToFirstChunk) AS ttft_p50, quantile(0.95)(TimeToFirstChunk) AS ttft_p95
FROM otel.llm_calls WHERE {F} AND TimeToFirstChunk IS NOT NULL
GROUP BY time ORDER BY time""",
            "s",
        ),
        timeseries(
            lay,
            "Throughput",
            "How many calls and completion tokens per second?",
            f"""SELECT $__timeInterval(Timestamp) AS time,
  count() / $__interval_s AS requests_per_second,
  sum(OutputTokens) / $__interval_s AS output_tokens_per_second
FROM otel.llm_calls WHERE {F}
GROUP BY time ORDER BY time""",
            "short",
        ),
        timeseries(
            lay,
            "Latency p95 by model",
            "Which model is slow?",
            f"""SELECT $__timeInterval(Timestamp) AS time, Model, quantile(0.95)(Duration) / 1e9 AS p95
FROM otel.llm_calls WHERE {F}
GROUP BY time, Model ORDER BY time""",
            "s",
            display_name="${__field.labels.Model}",
        ),
    ]
    lay.new_row()
    panels += [
        table(
            lay,
            "By service and model",
            "How does each service/model pair do on volume, errors and speed?",
            f"""SELECT ServiceName AS service, Model AS model, count() AS requests,
  countIf(IsError = 1) AS errors, errors / requests AS error_rate,
  quantile(0.5)(Duration) / 1e9 AS p50_s, quantile(0.95)(Duration) / 1e9 AS p95_s,
  avgIf(TimeToFirstChunk, TimeToFirstChunk IS NOT NULL) AS avg_ttft_s,
  sum(InputTokens + OutputTokens) AS tokens
FROM otel.llm_calls WHERE {F}
GROUP BY service, model ORDER BY requests DESC""",
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "error_rate"},
                    "properties": [{"id": "unit", "value": "percentunit"}],
                }
            ],
        ),
        table(
            lay,
            "Recent errors",
            "Which calls failed most recently, and with what message?",
            f"""SELECT Timestamp, ServiceName, Model, ErrorType, StatusMessage, TraceId
FROM otel.llm_calls WHERE {F} AND IsError = 1
ORDER BY Timestamp DESC LIMIT 100""",
            links_on=["TraceId"],
        ),
    ]
    return dashboard(
        "llmsight-operations",
        "llmsight / Operations",
        "Requests, errors, latency, time to first token and throughput of LLM calls.",
        panels,
        [service_var(), model_var(), environment_var()],
        tags=["operations"],
    )


# ---------------------------------------------------------------------------------------------
# 2. Tokens and cost
# ---------------------------------------------------------------------------------------------

SCOPE_OPTIONS = [
    ("model", "Model"),
    ("deployment", "RequestModel"),
    ("provider", "Provider"),
    ("service", "ServiceName"),
    ("environment", "Environment"),
]


def scope_var() -> dict:
    """A custom variable picking the column trendlines are split by; its values are column names."""
    return {
        "name": "scope",
        "label": "Split trends by",
        "type": "custom",
        "query": ",".join(f"{text} : {value}" for text, value in SCOPE_OPTIONS),
        "options": [{"selected": i == 0, "text": t, "value": v} for i, (t, v) in enumerate(SCOPE_OPTIONS)],
        "current": {"selected": True, "text": SCOPE_OPTIONS[0][0], "value": SCOPE_OPTIONS[0][1]},
        "includeAll": False,
        "multi": False,
        "hide": 0,
    }


def usage() -> dict:
    lay = Layout()
    F = CALLS_FILTER
    panels = [
        stat(
            lay,
            "Total tokens",
            "How many tokens (prompt + completion) were used?",
            f"SELECT sum(InputTokens + OutputTokens) AS total_tokens FROM otel.llm_calls WHERE {F}",
            "short",
        ),
        stat(
            lay,
            "Prompt tokens",
            "How many prompt (input) tokens were sent?",
            f"SELECT sum(InputTokens) AS prompt_tokens FROM otel.llm_calls WHERE {F}",
            "short",
        ),
        stat(
            lay,
            "Completion tokens",
            "How many completion (output) tokens were generated?",
            f"SELECT sum(OutputTokens) AS completion_tokens FROM otel.llm_calls WHERE {F}",
            "short",
        ),
        stat(
            lay,
            "Cost",
            "What did the calls cost (current prices)?",
            f"SELECT sum({PRICED}) AS cost\nFROM {cost_by([], F)}",
            "currencyUSD",
            decimals=2,
        ),
        stat(
            lay,
            "Cost per 1K requests",
            "What does a thousand calls cost on average?",
            f"SELECT 1000 * sum({PRICED}) / greatest(sum(calls), 1) AS cost_per_1k\n"
            f"FROM {cost_by([], F, ', count() AS calls')}",
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
            f"""SELECT $__timeInterval(Timestamp) AS time, sum(InputTokens + OutputTokens) AS total,
  sum(InputTokens) AS prompt, sum(OutputTokens) AS completion
FROM otel.llm_calls WHERE {F}
GROUP BY time ORDER BY time""",
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
            "Which model costs the most?",
            f"""SELECT Model, sum({PRICED}) AS cost
FROM {cost_by([], F)}
GROUP BY Model ORDER BY cost DESC LIMIT 20""",
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


# ---------------------------------------------------------------------------------------------
# 3. Generation quality
# ---------------------------------------------------------------------------------------------


def quality() -> dict:
    lay = Layout()
    E = EVALS_FILTER
    EV = "otel.evaluations FINAL"
    panels = [
        stat(
            lay,
            "Evaluated calls",
            "How many calls did the judge score?",
            f"SELECT uniqExact(SpanId) AS evaluated FROM {EV} WHERE {E} AND Status = 'ok'",
            "short",
        ),
        stat(
            lay,
            "Judge coverage",
            "What share of LLM calls in the range has at least one judge verdict?",
            f"""SELECT (SELECT uniqExact(SpanId) FROM {EV} WHERE {E})
  / greatest((SELECT count() FROM otel.llm_calls WHERE {CALLS_FILTER}), 1) AS coverage""",
            "percentunit",
            decimals=1,
        ),
        stat(
            lay,
            "Pass rate",
            "What share of scores met their metric's threshold?",
            f"SELECT avg(Passed) AS pass_rate FROM {EV} WHERE {E} AND Status = 'ok'",
            "percentunit",
            decimals=1,
        ),
        stat(
            lay,
            "Violations",
            "How many scores fell below their threshold?",
            f"SELECT countIf(Passed = 0) AS violations FROM {EV} WHERE {E} AND Status = 'ok'",
            "short",
        ),
        stat(
            lay,
            "Judge errors",
            "How many evaluations failed (judge unreachable or unparsable answer)?",
            f"SELECT countIf(Status IN ('judge_error', 'parse_error')) AS judge_errors FROM {EV} WHERE {E}",
            "short",
        ),
        stat(
            lay,
            "Judge cost",
            "What did the judge model cost?",
            f"SELECT sum(JudgeCost) AS judge_cost FROM {EV} WHERE {E}",
            "currencyUSD",
            decimals=2,
        ),
    ]
    lay.new_row()
    panels += [
        table(
            lay,
            "Per metric",
            "For each metric: average score, threshold, pass rate and violations.",
            f"""SELECT Metric, count() AS scored, avg(Score) AS avg_score, any(Threshold) AS threshold,
  avg(Passed) AS pass_rate, countIf(Passed = 0) AS violations, violations / scored AS violation_rate
FROM {EV} WHERE {E} AND Status = 'ok'
GROUP BY Metric ORDER BY Metric""",
            h=7,
            overrides=[
                {
                    "matcher": {"id": "byRegexp", "options": "pass_rate|violation_rate"},
                    "properties": [{"id": "unit", "value": "percentunit"}],
                }
            ],
        ),
        timeseries(
            lay,
            "Average score by metric",
            "Is answer quality (1-5) drifting?",
            f"""SELECT $__timeInterval(SpanTimestamp) AS time, Metric, avg(Score) AS avg_score
FROM {EV} WHERE {E} AND Status = 'ok'
GROUP BY time, Metric ORDER BY time""",
            "none",
            display_name="${__field.labels.Metric}",
        ),
        timeseries(
            lay,
            "Pass rate by metric",
            "What share of answers passes each metric's threshold?",
            f"""SELECT $__timeInterval(SpanTimestamp) AS time, Metric, avg(Passed) AS pass_rate
FROM {EV} WHERE {E} AND Status = 'ok'
GROUP BY time, Metric ORDER BY time""",
            "percentunit",
            display_name="${__field.labels.Metric}",
        ),
        timeseries(
            lay,
            "Violations by metric",
            "How many answers fall below threshold per interval?",
            f"""SELECT $__timeInterval(SpanTimestamp) AS time, Metric, countIf(Passed = 0) AS violations
FROM {EV} WHERE {E} AND Status = 'ok'
GROUP BY time, Metric ORDER BY time""",
            "short",
            display_name="${__field.labels.Metric}",
        ),
        timeseries(
            lay,
            "Violation rate by metric",
            "What share of answers falls below threshold?",
            f"""SELECT $__timeInterval(SpanTimestamp) AS time, Metric,
  countIf(Passed = 0) / count() AS violation_rate
FROM {EV} WHERE {E} AND Status = 'ok'
GROUP BY time, Metric ORDER BY time""",
            "percentunit",
            display_name="${__field.labels.Metric}",
        ),
        barchart(
            lay,
            "Score histogram",
            "How are scores 1-5 distributed per metric?",
            f"""SELECT Metric, countIf(Score = 1) AS `1`, countIf(Score = 2) AS `2`, countIf(Score = 3) AS `3`,
  countIf(Score = 4) AS `4`, countIf(Score = 5) AS `5`
FROM {EV} WHERE {E} AND Status = 'ok'
GROUP BY Metric ORDER BY Metric""",
            "Metric",
        ),
        timeseries(
            lay,
            "Judge errors",
            "Is the judge failing (unreachable, unparsable)?",
            f"""SELECT $__timeInterval(SpanTimestamp) AS time, Status, count() AS evaluations
FROM {EV} WHERE {E} AND Status IN ('judge_error', 'parse_error')
GROUP BY time, Status ORDER BY time""",
            "short",
            display_name="${__field.labels.Status}",
        ),
        timeseries(
            lay,
            "Judge coverage",
            "What share of calls per interval has a judge verdict?",
            f"""SELECT c.time AS time, ifNull(e.evaluated, 0) / c.calls AS coverage
FROM (SELECT $__timeInterval(Timestamp) AS time, count() AS calls
      FROM otel.llm_calls WHERE {CALLS_FILTER} GROUP BY time) AS c
LEFT JOIN (SELECT $__timeInterval(SpanTimestamp) AS time, uniqExact(SpanId) AS evaluated
      FROM {EV} WHERE {E} GROUP BY time) AS e ON c.time = e.time
ORDER BY time""",
            "percentunit",
        ),
        timeseries(
            lay,
            "Judge cost by judge model",
            "What does judging cost over time?",
            f"""SELECT $__timeInterval(SpanTimestamp) AS time, JudgeModel, sum(JudgeCost) AS judge_cost
FROM {EV} WHERE {E}
GROUP BY time, JudgeModel ORDER BY time""",
            "currencyUSD",
            display_name="${__field.labels.JudgeModel}",
        ),
    ]
    lay.new_row()
    panels += [
        table(
            lay,
            "Sampled requests with scores",
            "What did recently judged calls ask and answer, and how did they score?",
            f"""WITH recent AS (
  -- the newest verdicts (a top-N on time: no GROUP BY over the whole range)
  SELECT SpanId, SpanTimestamp FROM otel.evaluations WHERE {E} AND Status = 'ok'
  ORDER BY SpanTimestamp DESC LIMIT 500),
  (SELECT min(SpanTimestamp) FROM recent) AS since
SELECT s.ts AS Timestamp, c.ServiceName AS ServiceName, c.Model AS Model, s.scores AS scores,
  s.min_score AS min_score, substring(c.Prompt, 1, 300) AS prompt,
  substring(c.Completion, 1, 300) AS completion, s.TraceId AS TraceId
FROM (
  SELECT SpanId, any(TraceId) AS TraceId, max(SpanTimestamp) AS ts, min(Score) AS min_score,
    arrayStringConcat(arraySort(groupArray(concat(Metric, '=', toString(Score)))), ' ') AS scores
  FROM {EV} WHERE {E} AND Status = 'ok' AND SpanTimestamp >= since AND SpanId IN (SELECT SpanId FROM recent)
  GROUP BY SpanId ORDER BY ts DESC LIMIT 100) AS s
INNER JOIN (SELECT SpanId, ServiceName, Model, Prompt, Completion FROM otel.llm_calls
            WHERE $__timeFilter(Timestamp) AND Timestamp >= since
              AND SpanId IN (SELECT SpanId FROM recent)) AS c ON c.SpanId = s.SpanId
ORDER BY Timestamp DESC""",
            links_on=["TraceId"],
        ),
        table(
            lay,
            "Violations (lowest scores first)",
            "Which answers scored worst, and why did the judge say so?",
            f"""SELECT SpanTimestamp AS Timestamp, Metric, Score, Threshold, Reason, ServiceName, Model, JudgeModel,
  TraceId, SpanId
FROM {EV} WHERE {E} AND Status = 'ok' AND Passed = 0
ORDER BY Score ASC, SpanTimestamp DESC LIMIT 100""",
            links_on=["TraceId"],
        ),
    ]
    return dashboard(
        "llmsight-quality",
        "llmsight / Generation quality",
        "Judge scores per metric: averages, pass rates, violations, coverage and judge cost.",
        panels,
        [service_var(), model_var(), environment_var(), metric_var()],
        tags=["quality"],
    )


# ---------------------------------------------------------------------------------------------
# 4. Trace drill-down
# ---------------------------------------------------------------------------------------------

TRACE_BOUNDS = """(SELECT min(Start) FROM otel.otel_traces_trace_id_ts
    WHERE TraceId = ${trace_id:singlequote}) AS trace_start,
  (SELECT max(End) + 1 FROM otel.otel_traces_trace_id_ts
    WHERE TraceId = ${trace_id:singlequote}) AS trace_end"""


def trace() -> dict:
    lay = Layout()
    panels = [
        panel(
            lay,
            "traces",
            "Trace",
            "Where did the time go in this request, span by span?",
            f"""WITH {TRACE_BOUNDS}
SELECT TraceId AS traceID, SpanId AS spanID, ParentSpanId AS parentSpanID, ServiceName AS serviceName,
  SpanName AS operationName, toUnixTimestamp64Nano(Timestamp) / 1000000 AS startTime,
  Duration / 1000000 AS duration,
  arrayMap(key -> map('key', key, 'value', SpanAttributes[key]), mapKeys(SpanAttributes)) AS tags,
  arrayMap(key -> map('key', key, 'value', ResourceAttributes[key]), mapKeys(ResourceAttributes)) AS serviceTags,
  if(StatusCode = 'Error', 2, if(StatusCode = 'Ok', 1, 0)) AS statusCode, StatusMessage AS statusMessage
FROM otel.otel_traces
WHERE TraceId = ${{trace_id:singlequote}} AND Timestamp >= trace_start AND Timestamp <= trace_end
ORDER BY startTime ASC""",
            kind="traces",
            w=24,
            h=12,
            options={},
        ),
        table(
            lay,
            "LLM calls in this trace",
            "What did each model call get and return, at what cost, and how did the judge score it?",
            f"""WITH {TRACE_BOUNDS}
SELECT c.Timestamp AS Timestamp, c.SpanName AS SpanName, c.ServiceName AS ServiceName, c.Model AS Model,
  c.InputTokens AS InputTokens, c.OutputTokens AS OutputTokens, c.Cost AS Cost,
  c.Duration / 1e6 AS duration_ms, c.TimeToFirstChunk AS ttft_s, c.StatusCode AS StatusCode,
  c.StatusMessage AS StatusMessage, e.scores AS scores, c.Prompt AS Prompt, c.Completion AS Completion,
  c.ContextDocuments AS ContextDocuments, c.SpanId AS SpanId
FROM (SELECT Timestamp, SpanName, ServiceName, Model, InputTokens, OutputTokens, Cost, Duration, TimeToFirstChunk,
        StatusCode, StatusMessage, Prompt, Completion, ContextDocuments, SpanId
      FROM otel.llm_calls
      WHERE TraceId = ${{trace_id:singlequote}} AND Timestamp >= trace_start AND Timestamp <= trace_end) AS c
LEFT JOIN (SELECT SpanId,
             arrayStringConcat(arraySort(groupArray(concat(Metric, '=', ifNull(toString(Score), Status)))), ' ')
               AS scores
           FROM otel.evaluations FINAL
           WHERE TraceId = ${{trace_id:singlequote}} AND SpanTimestamp >= trace_start AND SpanTimestamp <= trace_end
           GROUP BY SpanId) AS e ON e.SpanId = c.SpanId
ORDER BY Timestamp""",
            h=10,
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "Cost"},
                    "properties": [{"id": "unit", "value": "currencyUSD"}, {"id": "decimals", "value": 5}],
                }
            ],
        ),
        table(
            lay,
            "Judge scores in this trace",
            "How did the judge score each call, and why?",
            f"""WITH {TRACE_BOUNDS}
SELECT SpanId, Metric, Score, Threshold, Passed, Status, Reason, JudgeModel, EvaluatedAt
FROM otel.evaluations FINAL
WHERE TraceId = ${{trace_id:singlequote}} AND SpanTimestamp >= trace_start AND SpanTimestamp <= trace_end
ORDER BY SpanId, Metric""",
            h=8,
        ),
    ]
    variables = [
        {
            "name": "trace_id",
            "label": "Trace ID",
            "type": "textbox",
            "query": "",
            "current": {"selected": False, "text": "", "value": ""},
            "options": [],
            "hide": 0,
        }
    ]
    return dashboard(
        TRACE_DASHBOARD_UID,
        "llmsight / Trace",
        "One trace: the span waterfall, its LLM calls with prompt, completion, context, "
        "tokens and cost, and their judge scores.",
        panels,
        variables,
        time_from="now-7d",
        tags=["trace"],
    )


DASHBOARDS = {
    "operations.json": operations,
    "usage.json": usage,
    "quality.json": quality,
    "trace.json": trace,
}


def render() -> dict[str, str]:
    """File name -> JSON text, deterministic so the committed files can be compared."""
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n" for name, build in DASHBOARDS.items()}


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (OUT_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT_DIR / name}")


if __name__ == "__main__":
    main()
