"""Load a question (``sql/<name>.sql``) and render it for where it runs.

A question is ClickHouse SQL with a few placeholders for what differs between consumers:

* ``{{db}}``: the database (backquoted; ``otel`` for Grafana, the production default);
* ``{{window(COLUMN)}}``: the time range, ``COLUMN >= start AND COLUMN < end``;
* ``{{filters}}``: the target (service, environment, model) on ``ServiceName``/``Environment``/``Model``;
* ``{{metrics}}``: which judge metrics (on ``Metric``);
* ``{{threshold}}``: the per-call threshold of the row's ``Metric`` (a score at or above it passes);
* ``{{bucket(COLUMN)}}``: the start of COLUMN's time bucket, for questions asked over time
  (``bucket_s`` seconds wide in ``clickhouse``; Grafana's interval, ``$__timeInterval``, in ``grafana``);
* ``{{include(NAME)}}``: question NAME's SQL, as a subquery (one definition of, say, priced tokens).

``clickhouse`` renders them as bound query parameters (``{name:Type}``, bound by the engine, never
pasted into the text), which ``ask`` fills from its arguments; ``grafana`` renders them as the
ClickHouse plugin's macros and dashboard variables; ``grafana_rule`` as macros with the given
filters and thresholds as literals (a generated alert rule has no dashboard variables).

A question's own parameters (``{limit:UInt32}``) are bound by ``ask`` in ``clickhouse``; Grafana has
no bound parameters, so the ``grafana`` dialects paste them from ``render(..., values=)`` as literals,
or, given as ``Grafana("...")``, as the dashboard expression itself (``Grafana("$__from")``: the
range's start in epoch milliseconds).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

Dialect = Literal["clickhouse", "grafana", "grafana_rule"]
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)(?:\(\s*(\w+)\s*\))?\s*\}\}")


@dataclass(frozen=True)
class Filters:
    """A target: empty means all."""

    service: str = ""
    environment: str = ""
    model: str = ""
    metrics: tuple[str, ...] = ()
    thresholds: dict[str, float] = field(default_factory=dict)  # metric -> per-call threshold


def question_names() -> list[str]:
    files = resources.files("llmsight.queries").joinpath("sql").iterdir()
    return sorted(f.name.removesuffix(".sql") for f in files if f.name.endswith(".sql"))


@cache
def _text(name: str) -> str:
    if name not in question_names():
        raise KeyError(f"no question {name!r}; known: {', '.join(question_names())}")
    return resources.files("llmsight.queries").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_COLUMNS = (("service", "ServiceName"), ("model", "Model"))
# deployment.environment.name of what `llmsight eval run` sends (experiments): production views leave it out
# unless it is the environment asked for, so a CI run of a deliberately bad variant moves no production figure.
EXPERIMENT_ENVIRONMENT = "llmsight-eval"
_NOT_EXPERIMENT = f"Environment != '{EXPERIMENT_ENVIRONMENT}'"
_DASHBOARD_VARIABLES = (("ServiceName", "service"), ("Environment", "environment"), ("Model", "model"))


def _clickhouse(kind: str, arg: str | None, database: str, filters: Filters) -> str:
    if kind == "db":
        return f"`{database}`"
    if kind == "window":
        return (
            f"{arg} >= fromUnixTimestamp64Milli({{window_start_ms:Int64}}) "
            f"AND {arg} < fromUnixTimestamp64Milli({{window_end_ms:Int64}})"
        )
    if kind == "filters":
        environment = f"if({{environment:String}} = '', {_NOT_EXPERIMENT}, Environment = {{environment:String}})"
        return " AND ".join([*(f"({{{p}:String}} = '' OR {col} = {{{p}:String}})" for p, col in _COLUMNS), environment])
    if kind == "metrics":
        return "(empty({metrics:Array(String)}) OR has({metrics:Array(String)}, toString(Metric)))"
    if kind == "bucket":
        return f"toStartOfInterval(toDateTime({arg}), toIntervalSecond({{bucket_s:UInt32}}))"
    if kind == "threshold":
        return (
            "transform(toString(Metric), {threshold_metrics:Array(String)}, "
            "{threshold_values:Array(Float64)}, Threshold)"
        )
    raise KeyError(kind)


def _grafana(kind: str, arg: str | None, filters: Filters, rule: bool) -> str:
    if kind == "db":
        return "otel"
    if kind == "window":
        return f"$__timeFilter({arg})"
    if kind == "bucket":
        return f"$__timeInterval({arg})"
    if kind == "filters":
        if rule:
            parts = [f"{col} = {_literal(v)}" for p, col in _COLUMNS if (v := getattr(filters, p))]
            parts.append(f"Environment = {_literal(filters.environment)}" if filters.environment else _NOT_EXPERIMENT)
            return " AND ".join(parts)
        return "\n  AND ".join(
            [
                *(f"$__conditionalAll({col} IN (${{{var}:singlequote}}), ${var})" for col, var in _DASHBOARD_VARIABLES),
                GRAFANA_NOT_EXPERIMENT,
            ]
        )
    if kind == "metrics":
        if rule:
            return f"Metric IN ({', '.join(map(_literal, filters.metrics))})" if filters.metrics else "1=1"
        return "$__conditionalAll(Metric IN (${metric:singlequote}), $metric)"
    if kind == "threshold":
        if rule and filters.thresholds:
            names = ", ".join(map(_literal, filters.thresholds))
            values = ", ".join(f"{float(v):g}" for v in filters.thresholds.values())
            return f"transform(toString(Metric), [{names}], [{values}], Threshold)"
        return "Threshold"
    raise KeyError(kind)


# In a dashboard: experiments are left out while the environment variable is All. $__conditionalAll(0, $v)
# is 1=1 when $v is All and 0 otherwise, so NOT of it is "an environment was chosen".
GRAFANA_NOT_EXPERIMENT = f"({_NOT_EXPERIMENT} OR NOT ($__conditionalAll(0, $environment)))"

_BOUND = re.compile(r"(?<!\$)\{(\w+):([\w()]+)\}")


class Grafana(str):
    """A parameter's value in the grafana dialects that is a dashboard expression (a macro or
    variable), pasted as is instead of quoted: written by the panel generator, never by a user."""


def _bound_literal(value: Any, type_name: str) -> str:
    if isinstance(value, Grafana):
        return f"({value})"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"cannot paste {value!r} as {type_name}")
    if type_name == "String":
        return _literal(str(value))
    if isinstance(value, str):
        raise TypeError(f"{type_name} needs a number, got {value!r}")
    return f"{value:g}" if isinstance(value, float) else str(int(value))


_INCLUDE = re.compile(r"\{\{\s*include\(\s*(\w+)\s*\)\s*\}\}")


def _body(name: str, seen: tuple[str, ...] = ()) -> str:
    """The question's SQL without comment lines, with ``{{include(...)}}`` expanded (no cycles)."""
    if name in seen:
        raise ValueError(f"question {name!r} includes itself: {' -> '.join((*seen, name))}")
    body = "\n".join(line for line in _text(name).splitlines() if not line.lstrip().startswith("--"))
    return _INCLUDE.sub(lambda m: _body(m.group(1), (*seen, name)).strip(), body)


def render(
    name: str,
    dialect: Dialect = "clickhouse",
    *,
    database: str = "otel",
    filters: Filters | None = None,
    values: dict[str, Any] | None = None,
) -> str:
    """The SQL of question ``name`` for ``dialect``; see the module docstring for the placeholders.

    ``values`` fill the question's own ``{name:Type}`` parameters in the grafana dialects (ignored
    for ``clickhouse``, where ``ask`` binds them); a parameter without a value is an error there.
    """
    filters = filters or Filters()

    def fill(match: re.Match[str]) -> str:
        kind, arg = match.group(1), match.group(2)
        if dialect == "clickhouse":
            return _clickhouse(kind, arg, database, filters)
        return _grafana(kind, arg, filters, rule=dialect == "grafana_rule")

    sql = _PLACEHOLDER.sub(fill, _body(name)).strip()
    if dialect == "clickhouse":
        return sql
    given = values or {}

    def paste(match: re.Match[str]) -> str:
        if match.group(1) not in given:
            raise KeyError(f"question {name!r} needs a value for {{{match.group(1)}:{match.group(2)}}} in {dialect}")
        return _bound_literal(given[match.group(1)], match.group(2))

    return _BOUND.sub(paste, sql)


def epoch_ms(moment: dt.datetime) -> int:
    """A window bound as the questions' ``..._ms`` parameters take it (refusing a naive datetime)."""
    if moment.tzinfo is None:
        raise ValueError("window bounds must be timezone-aware")
    return int(moment.timestamp() * 1000)


def parameters(start: dt.datetime, end: dt.datetime, filters: Filters, **extra: Any) -> dict[str, Any]:
    """The bound values of a ``clickhouse`` rendering."""
    return {
        "window_start_ms": epoch_ms(start),
        "window_end_ms": epoch_ms(end),
        "service": filters.service,
        "environment": filters.environment,
        "model": filters.model,
        "metrics": list(filters.metrics),
        "threshold_metrics": list(filters.thresholds),
        "threshold_values": [float(v) for v in filters.thresholds.values()],
        **extra,
    }


def ask(
    client: Any,
    database: str,
    name: str,
    start: dt.datetime,
    end: dt.datetime,
    filters: Filters | None = None,
    **extra: Any,
) -> list[dict[str, Any]]:
    """Run question ``name`` over ``[start, end)`` for ``filters``; rows as dicts in the query's order.

    ``extra`` binds the question's own ``{name:Type}`` parameters (for example ``{limit:UInt32}``).
    """
    filters = filters or Filters()
    sql = render(name, "clickhouse", database=database, filters=filters)
    used = set(re.findall(r"\{(\w+):", sql))
    values = {k: v for k, v in parameters(start, end, filters, **extra).items() if k in used}
    result = client.query(sql, parameters=values)
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def lookup(client: Any, database: str, name: str, **values: Any) -> list[dict[str, Any]]:
    """Run question ``name`` that has no time window (an experiment run's rows, say), binding ``values``."""
    sql = render(name, "clickhouse", database=database)
    used = set(re.findall(r"\{(\w+):", sql))
    missing = used - set(values)
    if missing:
        raise KeyError(f"question {name!r} needs {', '.join(sorted(missing))}")
    result = client.query(sql, parameters={k: v for k, v in values.items() if k in used})
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
