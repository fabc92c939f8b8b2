"""Expand a ClickHouse-plugin panel query the way Grafana and grafana-clickhouse-datasource do.

Why: the dashboards' SQL only means something after Grafana and the plugin have rewritten it;
running it on the embedded engine needs the same rewriting, in the same order:

1. ``$__conditionalAll(cond, $var)`` — done by the plugin's *frontend* before template variables
   (``applyConditionalAll`` in src/data/CHDatasource.ts): replaced by ``1=1`` when the variable's
   current value is All (``$__all``) or empty, else by ``cond``.
2. Template variables — Grafana's templateSrv: ``${var:singlequote}`` (each value single-quoted,
   ``'`` escaped as ``\\'``, joined by ``,``), ``${var}``, ``$var``, ``[[var]]``. A multi-value
   variable set to All expands to all of its values. Built-ins ``$__from``/``$__to`` (epoch ms).
   ``$__interval_s`` is *not* a template variable (``$(\\w+)`` matches ``__interval_s`` whole).
3. Backend macros — the plugin's pkg/macros/macros.go via sqlds:
   ``$__timeFilter(c)`` -> ``c >= toDateTime(FROM) AND c <= toDateTime(TO)`` (Unix seconds),
   ``$__timeFilter_ms(c)`` -> same with ``fromUnixTimestamp64Milli(ms)``,
   ``$__dateFilter(c)`` -> ``c >= toDate('YYYY-MM-DD') AND c <= toDate(...)``,
   ``$__timeInterval(c)`` -> ``toStartOfInterval(toDateTime(c), INTERVAL N second)``, N = max(interval, 1),
   ``$__interval_s`` -> N, ``$__fromTime``/``$__toTime`` -> ``toDateTime(sec)``,
   ``$__fromTime_ms``/``$__toTime_ms`` -> ``fromUnixTimestamp64Milli(ms)``.
4. The production database prefix ``otel.`` is rewritten to the test's database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

ALL = "$__all"


@dataclass
class Context:
    time_from: datetime
    time_to: datetime
    interval_s: int = 60
    # variable -> current value: a string, a list of strings, or ALL
    variables: dict[str, str | list[str]] = field(default_factory=dict)
    # variable -> every value its query offers (what All expands to)
    options: dict[str, list[str]] = field(default_factory=dict)
    database: str = "otel"


def _epoch(t: datetime) -> int:
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int(t.timestamp())


def _epoch_ms(t: datetime) -> int:
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int(t.timestamp() * 1000)


def parse_macro_args(sql: str, open_idx: int) -> tuple[list[str], int]:
    """Arguments of a macro whose ``(`` is at ``open_idx``; split on top-level commas.

    Returns the arguments and the index just past the closing ``)``.
    """
    depth = 0
    args: list[str] = []
    current = ""
    i = open_idx
    while i < len(sql):
        ch = sql[i]
        if ch == "(":
            depth += 1
            if depth > 1:
                current += ch
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append(current.strip())
                return args, i + 1
            current += ch
        elif ch == "," and depth == 1:
            args.append(current.strip())
            current = ""
        else:
            current += ch
        i += 1
    raise ValueError(f"unbalanced parentheses in macro at {open_idx}: {sql[open_idx:open_idx + 80]!r}")


def apply_conditional_all(sql: str, ctx: Context) -> str:
    macro = "$__conditionalAll("
    idx = sql.rfind(macro)
    while idx != -1:
        args, end = parse_macro_args(sql, idx + len(macro) - 1)
        if len(args) != 2:
            raise ValueError(f"$__conditionalAll needs 2 arguments, got {args}")
        name = args[1].strip().lstrip("$").strip("{}")
        value = ctx.variables.get(name, "")
        is_all = value == ALL or value == [ALL] or value == "" or value == []
        sql = sql[:idx] + ("1=1" if is_all else args[0]) + sql[end:]
        idx = sql.rfind(macro)
    return sql


def _values(name: str, ctx: Context) -> list[str]:
    if name not in ctx.variables:
        raise KeyError(f"template variable ${name} has no value in the test context")
    value = ctx.variables[name]
    if value == ALL or value == [ALL]:
        return list(ctx.options.get(name, []))
    return list(value) if isinstance(value, list) else [value]


def _format(values: list[str], fmt: str | None) -> str:
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt in (None, "raw", "csv"):
        # Grafana's default for multi values outside a regex/lucene context is a comma list
        return ",".join(values) if len(values) != 1 else values[0]
    raise ValueError(f"unsupported variable format {fmt!r}")


# Grafana's variable regex (public/app/features/variables/utils.ts)
_VAR_RE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\${(\w+)(?:\.([^:^}]+))?(?::([^}]+))?}")


def apply_template_variables(sql: str, ctx: Context) -> str:
    builtins = {"__from": str(_epoch_ms(ctx.time_from)), "__to": str(_epoch_ms(ctx.time_to))}

    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6)
        if name in builtins:
            return builtins[name]
        if name.startswith("__"):
            return m.group(0)  # a plugin macro such as $__timeFilter, or a field-config variable
        return _format(_values(name, ctx), fmt)

    return _VAR_RE.sub(repl, sql)


def apply_backend_macros(sql: str, ctx: Context) -> str:
    frm, to = ctx.time_from, ctx.time_to
    interval = max(int(ctx.interval_s), 1)

    def dt(t: datetime) -> str:
        return f"toDateTime({_epoch(t)})"

    def dt64(t: datetime) -> str:
        return f"fromUnixTimestamp64Milli({_epoch_ms(t)})"

    def d(t: datetime) -> str:
        return f"toDate('{t.strftime('%Y-%m-%d')}')"

    with_args = {
        "timeFilter": lambda c: f"{c} >= {dt(frm)} AND {c} <= {dt(to)}",
        "timeFilter_ms": lambda c: f"{c} >= {dt64(frm)} AND {c} <= {dt64(to)}",
        "dateFilter": lambda c: f"{c} >= {d(frm)} AND {c} <= {d(to)}",
        "timeInterval": lambda c: f"toStartOfInterval(toDateTime({c}), INTERVAL {interval} second)",
        "timeInterval_ms": lambda c: f"toStartOfInterval(toDateTime64({c}, 3), INTERVAL {interval * 1000} millisecond)",
    }
    no_args = {
        "interval_s": str(interval),
        "fromTime": dt(frm),
        "toTime": dt(to),
        "fromTime_ms": dt64(frm),
        "toTime_ms": dt64(to),
    }
    out = []
    i = 0
    for m in re.finditer(r"\$__(\w+)", sql):
        if m.start() < i:
            continue
        name = m.group(1)
        out.append(sql[i:m.start()])
        if name in with_args and m.end() < len(sql) and sql[m.end()] == "(":
            args, end = parse_macro_args(sql, m.end())
            if len(args) != 1:
                raise ValueError(f"$__{name} takes 1 argument, got {args}")
            out.append(with_args[name](args[0]))
            i = end
        elif name in no_args:
            # sqlds accepts an optional empty "()" after argument-less macros
            end = m.end() + 2 if sql[m.end():m.end() + 2] == "()" else m.end()
            out.append(no_args[name])
            i = end
        else:
            raise ValueError(f"unknown macro $__{name}")
    out.append(sql[i:])
    return "".join(out)


def rewrite_database(sql: str, database: str) -> str:
    if database == "otel":
        return sql
    # also inside string literals: dictGet('otel.model_prices_dict', ...) names the database too
    if not re.fullmatch(r"\w+", database):
        raise ValueError(f"test database name {database!r} must be a plain identifier")
    return re.sub(r"(?<![\w.`])otel\.(?=\w)", f"{database}.", sql)


def expand(sql: str, ctx: Context) -> str:
    """The SQL ClickHouse would receive for this panel query in this context."""
    sql = apply_conditional_all(sql, ctx)
    sql = apply_template_variables(sql, ctx)
    sql = apply_backend_macros(sql, ctx)
    return rewrite_database(sql, ctx.database)
