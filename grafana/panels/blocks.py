"""Building blocks of llmsight's dashboards: layout, panel types, variables, and panels asked from the query layer.

Panels that ask a shared question (pass rate per metric, error rate, latency, tokens and cost...)
render it from ``llmsight.queries`` in the ``grafana`` dialect (``from_question``), so a panel and
a monitor or ``llmsight report`` run the same SQL for the same window; the panel only picks or
combines the question's columns around it.
"""

from __future__ import annotations

from typing import Any

from llmsight.queries import render
from llmsight.queries.questions import GRAFANA_NOT_EXPERIMENT

DATASOURCE_UID = "llmsight-clickhouse"
DS = {"type": "grafana-clickhouse-datasource", "uid": DATASOURCE_UID}
TRACE_DASHBOARD_UID = "llmsight-trace"

FORMATS = {"timeseries": 0, "table": 1, "traces": 3}

# Filters shared by panels. Each $__conditionalAll collapses to 1=1 when its variable is All,
# so the default view scans by time only and ClickHouse prunes by partition (toDate(Timestamp)).
# Experiments (`llmsight eval run`, environment llmsight-eval) are left out unless that environment is chosen.
CALLS_FILTER = f"""$__timeFilter(Timestamp)
  AND $__conditionalAll(ServiceName IN (${{service:singlequote}}), $service)
  AND $__conditionalAll(Model IN (${{model:singlequote}}), $model)
  AND $__conditionalAll(Environment IN (${{environment:singlequote}}), $environment)
  AND {GRAFANA_NOT_EXPERIMENT}"""

EVALS_FILTER = f"""$__timeFilter(SpanTimestamp)
  AND $__conditionalAll(ServiceName IN (${{service:singlequote}}), $service)
  AND $__conditionalAll(Model IN (${{model:singlequote}}), $model)
  AND $__conditionalAll(Environment IN (${{environment:singlequote}}), $environment)
  AND {GRAFANA_NOT_EXPERIMENT}
  AND $__conditionalAll(Metric IN (${{metric:singlequote}}), $metric)"""

TRACE_LINK = {
    "title": "Open trace",
    "url": f"/d/{TRACE_DASHBOARD_UID}/llmsight-trace?var-trace_id=${{__value.raw}}&${{__url_time_range}}",
}


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


def custom_variable(name: str, label: str, options: list[tuple[str, str]]) -> dict:
    """A single-value custom variable offering ``options`` (text, value); the first is the default."""
    return {
        "name": name,
        "label": label,
        "type": "custom",
        "query": ",".join(f"{text} : {value}" for text, value in options),
        "options": [{"selected": i == 0, "text": t, "value": v} for i, (t, v) in enumerate(options)],
        "current": {"selected": True, "text": options[0][0], "value": options[0][1]},
        "includeAll": False,
        "multi": False,
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


def from_question(
    name: str,
    select: str,
    *,
    where: str = "",
    group_by: str = "",
    order_by: str = "",
    limit: int | None = None,
    values: dict[str, Any] | None = None,
) -> str:
    """A panel's SQL: ``SELECT select FROM (<question name, grafana dialect>) ...``.

    The question's text is used as is (its filters are the dashboard variables), so its numbers
    are the ones monitors and the report compute; the outer query only picks columns.
    """
    inner = "\n".join("  " + line for line in render(name, "grafana", values=values).splitlines())
    sql = f"SELECT {select}\nFROM (\n{inner}\n)"
    for keyword, clause in (("WHERE", where), ("GROUP BY", group_by), ("ORDER BY", order_by)):
        if clause:
            sql += f"\n{keyword} {clause}"
    if limit is not None:
        sql += f"\nLIMIT {int(limit)}"
    return sql
