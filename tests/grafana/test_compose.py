"""docker-compose.yml, the Dockerfile and deploy/ agree with the collector's settings and with the
provisioning they mount: ports, LLMSIGHT_* variable names, paths, pinned images."""

from __future__ import annotations

import re

import yaml

from llmsight.settings import Settings
from llmsight.store.url import parse_store_url

from .conftest import PROVISIONING, REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def env_of(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in SERVICES[service]["environment"].items()}


def default_of(value: str) -> str:
    """What compose substitutes for ${VAR:-default} when VAR is unset (nested defaults too)."""
    while True:
        new = re.sub(r"\$\{\w+:-([^${}]*)\}", r"\1", value)
        if new == value:
            return new
        value = new


def test_images_are_pinned():
    for name, svc in SERVICES.items():
        image = svc["image"]
        assert ":" in image and not image.endswith((":latest", ":main", ":nightly")), name
        assert re.search(r":\d+\.\d+", image), f"{name}: pin a version, not just a tag name"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+[\w.-]*$", dockerfile, re.M)
    assert 'pip install ".[all]"' in dockerfile
    assert 'CMD ["llmsight", "serve", "--host", "0.0.0.0"]' in dockerfile


def test_llmsight_env_vars_are_real_settings():
    fields = set(Settings.model_fields)
    # knobs only the evaluator reads (llmsight/evaluator/config.py) are settings too
    evaluator_config = REPO / "llmsight/evaluator/config.py"
    if evaluator_config.exists():
        fields |= {n.lower() for n in re.findall(r'"LLMSIGHT_(\w+)"', evaluator_config.read_text())}
    for service in ("collector", "evaluator"):
        for key in env_of(service):
            assert key.startswith("LLMSIGHT_"), key
            assert key.removeprefix("LLMSIGHT_").lower() in fields, f"{service}: {key} is not a setting"


def test_collector_listens_where_it_is_published_and_reaches_clickhouse():
    env = env_of("collector")
    assert SERVICES["collector"]["command"] == ["llmsight", "serve", "--host", "0.0.0.0"]
    defaults = Settings.model_fields
    assert int(env["LLMSIGHT_HTTP_PORT"]) == defaults["http_port"].default == 4318
    assert int(env["LLMSIGHT_GRPC_PORT"]) == defaults["grpc_port"].default == 4317
    published = {p.split(":")[-1] for p in SERVICES["collector"]["ports"]}
    assert published == {env["LLMSIGHT_HTTP_PORT"], env["LLMSIGHT_GRPC_PORT"]}
    for service in ("collector", "evaluator"):
        store = parse_store_url(default_of(env_of(service)["LLMSIGHT_CLICKHOUSE_URL"]))
        assert (store.host, store.port, store.database, store.username) == ("clickhouse", 8123, "otel", "default")
        assert store.password == default_of(env_of("clickhouse")["CLICKHOUSE_PASSWORD"])
    assert "healthz" in " ".join(SERVICES["collector"]["healthcheck"]["test"])
    assert SERVICES["evaluator"]["command"] == ["llmsight", "monitor", "run"]  # judges and runs the monitors
    assert default_of(env_of("evaluator")["LLMSIGHT_JUDGE_MODEL"])  # the worker needs a judge
    assert env_of("collector")["LLMSIGHT_JUDGE_MODEL"] == ""  # ...and serve must not judge as well
    assert env_of("collector")["LLMSIGHT_RUN_MONITORS"] == "false"  # nor run (and notify) the monitors twice
    # the worker and the rules generator read the same monitor file
    worker, rules = SERVICES["evaluator"], SERVICES["grafana-rules"]
    assert worker["working_dir"] == rules["working_dir"]
    assert [v for v in worker["volumes"] if v.endswith(":/etc/llmsight/config:ro")] == [
        v for v in rules["volumes"] if v.endswith(":/etc/llmsight/config:ro")
    ]


ONE_SHOT = {"grafana-rules"}  # run to completion before what depends on them


def test_dependencies_wait_for_health():
    for name, svc in SERVICES.items():
        for dep, cond in svc.get("depends_on", {}).items():
            if dep in ONE_SHOT:
                assert cond["condition"] == "service_completed_successfully", (name, dep)
                assert SERVICES[dep]["restart"] == "no", dep
                continue
            assert cond["condition"] == "service_healthy", (name, dep)
            assert "healthcheck" in SERVICES[dep], dep


def test_mounted_paths_exist_and_match_the_provisioning():
    for name, svc in SERVICES.items():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("./"):
                assert (REPO / src).exists(), f"{name}: {src} missing"
    graf = SERVICES["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in graf["volumes"]}
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "dashboards.yaml").read_text())["providers"][0]
    assert mounts[provider["options"]["path"]] == "./grafana/dashboards"
    env = env_of("grafana")
    assert mounts[env["LLMSIGHT_PROVISIONING_SRC"]] == "./grafana/provisioning"
    assert "grafana-clickhouse-datasource" in env["GF_INSTALL_PLUGINS"]
    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(provider["options"]["path"])
    assert (REPO / "grafana/dashboards" / home.rsplit("/", 1)[1]).exists()


def test_grafana_gets_every_variable_its_provisioning_reads():
    env = env_of("grafana")
    lines = (PROVISIONING / "datasources" / "clickhouse.yaml").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    for var in re.findall(r"\$\{(\w+)\}", text):
        assert var in env, f"datasource reads ${var}, compose does not set it"
    for var in re.findall(r"\$\{(LLMSIGHT_\w+):-", (REPO / "deploy/grafana/entrypoint.sh").read_text()):
        assert var in env or var == "LLMSIGHT_RENDER_ONLY", f"the entrypoint reads {var}, compose does not set it"
    # Grafana reaches ClickHouse as the read-only user defined in users.d
    users = (REPO / "deploy/clickhouse/users.d/grafana.xml").read_text()
    assert f"<{env['CLICKHOUSE_USER']}>" in users and "CLICKHOUSE_GRAFANA_PASSWORD" in users
    assert "CLICKHOUSE_GRAFANA_PASSWORD" in env_of("clickhouse")


def test_contrib_collector_profile_writes_into_llmsight_tables_without_creating_them():
    svc = SERVICES["otelcol"]
    assert svc["profiles"] == ["otelcol"]
    cfg = yaml.safe_load((REPO / "deploy/otelcol/config.yaml").read_text())
    ch = cfg["exporters"]["clickhouse"]
    assert ch["create_schema"] is False and ch["database"] == "otel"
    assert (ch["traces_table_name"], ch["logs_table_name"]) == ("otel_traces", "otel_logs")
    assert "clickhouse" in ch["endpoint"]
    # its OTLP ports must not collide with llmsight's own collector on the host
    host_ports = [p.split(":")[0] for p in svc["ports"]]
    assert not set(host_ports) & {p.split(":")[0] for p in SERVICES["collector"]["ports"]}


def test_clickhouse_config_gives_system_logs_a_ttl():
    xml = (REPO / "deploy/clickhouse/config.d/system-log-ttl.xml").read_text()
    for table in ("query_log", "part_log", "trace_log", "metric_log", "text_log"):
        assert re.search(rf"<{table}><ttl>\w+ \+ INTERVAL \d+ DAY DELETE</ttl></{table}>", xml), table


def test_grafana_user_is_held_to_what_the_query_endpoint_allows():
    """On a ClickHouse server the same rule as llmsight's query endpoint: llmsight's tables and schema only."""
    import xml.etree.ElementTree as ET

    from llmsight.collector.query_guard import SYSTEM_TABLES

    root = ET.fromstring((REPO / "deploy/clickhouse/users.d/grafana.xml").read_text())
    grants = [q.text for q in root.iter("query")]
    allowed = {"GRANT SELECT ON otel.*", "GRANT dictGet ON otel.*"}
    system = {g.removeprefix("GRANT SELECT ON system.") for g in grants if g not in allowed}
    assert system <= SYSTEM_TABLES, system  # nothing beyond the schema tables; no FILE/URL/REMOTE sources
    profile = root.find("profiles/grafana_readonly")
    for limit in ("max_execution_time", "max_memory_usage", "max_result_rows", "max_threads"):
        assert int(profile.findtext(f"constraints/{limit}/max")) == int(profile.findtext(limit)), limit
    assert profile.find("constraints/readonly/const") is not None
    access = (REPO / "deploy/clickhouse/config.d/access-control.xml").read_text()
    assert "<select_from_system_db_requires_grant>true<" in access
    volumes = SERVICES["clickhouse"]["volumes"]
    assert any(v.startswith("./deploy/clickhouse/config.d/access-control.xml:") for v in volumes)


def test_grafana_provisions_the_rules_generated_from_the_monitor_file():
    """grafana-rules writes `llmsight monitor grafana-rules` output into a volume the Grafana entrypoint copies."""
    rules = SERVICES["grafana-rules"]
    cmd = rules["command"]
    assert cmd[:3] == ["llmsight", "monitor", "grafana-rules"] and rules["image"] == SERVICES["collector"]["image"]
    out = cmd[cmd.index("--out") + 1]
    mounted = [re.match(r"^(.*?):(/[^:]*)", v).groups() for v in rules["volumes"]]
    assert default_of(dict((d, s) for s, d in mounted)[rules["working_dir"]]) == "."  # next to docker-compose.yml
    volume, out_dir = next((s, d) for s, d in mounted if out.startswith(d + "/"))
    assert volume in COMPOSE["volumes"]
    assert f"install -d -o llmsight /var/lib/llmsight/spool {out_dir}" in (REPO / "Dockerfile").read_text()
    graf = SERVICES["grafana"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in graf["volumes"]}
    assert mounts[volume] == env_of("grafana")["LLMSIGHT_ALERTING_SRC"]
    assert graf["depends_on"]["grafana-rules"]["condition"] == "service_completed_successfully"
    assert not list((PROVISIONING / "alerting").glob("*")), "alerting comes from the monitor file only"


def test_entrypoint_copies_the_generated_rules_beside_the_provisioning(tmp_path):
    import os
    import subprocess

    from llmsight.monitors.config import default_monitor_file
    from llmsight.monitors.grafana_rules import render_rules

    alerting = tmp_path / "alerting-volume"
    alerting.mkdir()
    (alerting / "llmsight-rules.yaml").write_text(render_rules(default_monitor_file()))
    dst = tmp_path / "provisioning"
    env = {"PATH": os.environ["PATH"], "LLMSIGHT_PROVISIONING_SRC": str(PROVISIONING),
           "LLMSIGHT_ALERTING_SRC": str(alerting), "GF_PATHS_PROVISIONING": str(dst), "LLMSIGHT_RENDER_ONLY": "1"}
    subprocess.run(["sh", str(REPO / "deploy/grafana/entrypoint.sh")], env=env, check=True, capture_output=True)
    files = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file())
    assert files == ["alerting/llmsight-rules.yaml", "dashboards/dashboards.yaml", "datasources/clickhouse.yaml"]
    assert yaml.safe_load((dst / "alerting/llmsight-rules.yaml").read_text())["groups"][0]["name"] == "default"
    # without generated rules Grafana does not start silently without alerts
    (alerting / "llmsight-rules.yaml").unlink()
    failed = subprocess.run(["sh", str(REPO / "deploy/grafana/entrypoint.sh")], env=env, capture_output=True, text=True)
    assert failed.returncode == 1 and "grafana-rules" in failed.stderr
