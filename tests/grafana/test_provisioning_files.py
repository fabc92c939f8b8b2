"""The provisioning files parse and carry what Grafana needs to load them without a UI."""

from __future__ import annotations

import re

import yaml

from .conftest import DASHBOARD_DIR, DATASOURCE_UID, PROVISIONING, load_dashboards, load_generator

KNOWN_PANEL_TYPES = {"stat", "timeseries", "table", "bargauge", "barchart", "traces", "row"}
FORMAT_FOR_QUERY_TYPE = {"timeseries": 0, "table": 1, "logs": 2, "traces": 3}


def test_committed_dashboards_are_what_the_generator_produces():
    rendered = load_generator().render()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in DASHBOARD_DIR.glob("*.json")}
    assert on_disk == rendered, "run `python grafana/generate_dashboards.py` and commit the result"


def test_datasource_is_the_clickhouse_plugin_with_a_fixed_uid_and_otel_trace_settings():
    doc = yaml.safe_load((PROVISIONING / "datasources" / "clickhouse.yaml").read_text())
    assert doc["apiVersion"] == 1
    (ds,) = doc["datasources"]
    assert ds["type"] == "grafana-clickhouse-datasource" and ds["uid"] == DATASOURCE_UID
    j = ds["jsonData"]
    for key in ("host", "port", "protocol", "username"):
        assert re.fullmatch(r"\$\{[A-Z_]+\}", str(j[key])), f"{key} should come from the environment"
    assert ds["secureJsonData"]["password"] == "${CLICKHOUSE_PASSWORD}"
    assert j["defaultDatabase"] == "otel"
    t = j["traces"]
    assert (t["defaultDatabase"], t["defaultTable"], t["otelEnabled"]) == ("otel", "otel_traces", True)
    assert t["durationUnit"] == "nanoseconds"
    assert (j["logs"]["defaultTable"], j["logs"]["otelEnabled"]) == ("otel_logs", True)


def test_dashboard_provider_points_at_the_mounted_directory():
    doc = yaml.safe_load((PROVISIONING / "dashboards" / "dashboards.yaml").read_text())
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/llmsight"


def test_dashboards_have_unique_uids_and_well_formed_panels():
    dashboards = load_dashboards()
    assert set(dashboards) == {"operations.json", "usage.json", "quality.json", "trace.json"}
    uids = [d["uid"] for d in dashboards.values()]
    assert len(set(uids)) == len(uids) and all(len(u) <= 40 for u in uids)
    for name, dash in dashboards.items():
        ids = [p["id"] for p in dash["panels"]]
        assert len(set(ids)) == len(ids), name
        variables = {v["name"] for v in dash["templating"]["list"]}
        for v in dash["templating"]["list"]:
            if v["type"] == "query":
                assert v["datasource"]["uid"] == DATASOURCE_UID
        for p in dash["panels"]:
            where = f"{name}: {p['title']}"
            assert p["type"] in KNOWN_PANEL_TYPES, where
            assert p.get("description"), f"{where}: every panel says which question it answers"
            g = p["gridPos"]
            assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, where
            assert p["datasource"]["uid"] == DATASOURCE_UID, where
            assert p["targets"], where
            for t in p["targets"]:
                assert t["datasource"]["uid"] == DATASOURCE_UID, where
                assert t["editorType"] == "sql" and t["rawSql"].strip(), where
                assert FORMAT_FOR_QUERY_TYPE[t["queryType"]] == t["format"], where
                # every template variable a query uses is defined on the dashboard
                used = set(re.findall(r"\$\{(\w+)[:}]|\$(?!__)(\w+)", t["rawSql"]))
                for a, b in used:
                    assert (a or b) in variables, f"{where}: ${a or b} is not a variable"
                # queries read the production database by its qualified name, consistently
                assert re.search(r"\botel\.\w", t["rawSql"]), where
                assert "FROM llm_calls" not in t["rawSql"] and "FROM evaluations" not in t["rawSql"], where
            if p["type"] == "traces":
                assert p["targets"][0]["queryType"] == "traces" and p["targets"][0]["format"] == 3


def test_panels_do_not_overlap():
    for name, dash in load_dashboards().items():
        cells = set()
        for p in dash["panels"]:
            g = p["gridPos"]
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    assert (x, y) not in cells, f"{name}: {p['title']} overlaps"
                    cells.add((x, y))


def test_data_links_open_the_trace_dashboard_with_its_variable():
    dashboards = load_dashboards()
    trace = dashboards["trace.json"]
    trace_vars = {v["name"] for v in trace["templating"]["list"]}
    links = 0
    for dash in dashboards.values():
        for p in dash["panels"]:
            for o in p["fieldConfig"]["overrides"]:
                for prop in o["properties"]:
                    if prop["id"] != "links":
                        continue
                    for link in prop["value"]:
                        m = re.match(r"/d/([\w-]+)/[\w-]+\?var-(\w+)=", link["url"])
                        assert m and m.group(1) == trace["uid"] and m.group(2) in trace_vars
                        assert o["matcher"]["options"] == "TraceId"
                        links += 1
    assert links >= 3  # recent errors, sampled requests, violations
