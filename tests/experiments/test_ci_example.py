"""The GitHub Actions example (``examples/ci/llmsight-eval.yml``): its structure, and its llmsight steps run as
written, in order, in a workspace laid out as the runner's (the pull request at the root, the base branch in
``.llmsight-base``), with a fresh embedded store: the gate passes and the job summary gets the Markdown table.

The checkouts are simulated: both runs use the demo target that llmsight ships, so the base checkout only has
to be a directory; the steps' shell is the workflow's own, with ``${{ ... }}`` replaced by fixed values.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.experiments.conftest import DATASET

WORKFLOW = Path(__file__).resolve().parents[2] / "examples" / "ci" / "llmsight-eval.yml"
BASE_SHA = "1111111111111111111111111111111111111111"
MERGE_SHA = "2222222222222222222222222222222222222222"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load() -> dict[str, Any]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as True; GitHub reads it as "on"
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def job(workflow: dict[str, Any]) -> dict[str, Any]:
    (only,) = workflow["jobs"].values()
    return only


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return job(workflow)["steps"]


def llmsight_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in steps(workflow) if re.search(r"^\s*llmsight ", s.get("run", ""), re.MULTILINE)]


def substitute(text: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            pytest.fail(f"the workflow uses ${{{{ {name} }}}}, which this test does not give a value")
        return values[name]

    return EXPRESSION.sub(value, str(text))


def test_the_workflow_runs_on_pull_requests_and_gates_with_a_baseline_and_reports():
    workflow = load()
    assert "pull_request" in workflow["on"]
    used = [s.get("uses", "") for s in steps(workflow)]
    checkouts = [s for s in steps(workflow) if s.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == 2  # the pull request, and the base branch beside it
    base_checkout = checkouts[1]["with"]
    assert base_checkout["ref"] == "${{ github.event.pull_request.base.sha }}"
    assert any(u.startswith("actions/setup-python@") for u in used)
    install = next(s for s in steps(workflow) if "pip install" in s.get("run", ""))
    assert "llmsight[all]" in install["run"]

    base, pull_request, gate = llmsight_steps(workflow)
    assert base["working-directory"] == base_checkout["path"]
    env = job(workflow)["env"]
    assert env["BASE_RUN"] == "base-${{ github.event.pull_request.base.sha }}"
    assert env["LLMSIGHT_JUDGE_MODEL"] == "demo-judge" and env["TARGET"] == "llmsight.demo.eval_target:answer"
    assert env["LLMSIGHT_CLICKHOUSE_URL"].startswith("chdb://${{ github.workspace }}/")  # one store for all steps
    for step, name in ((base, "$BASE_RUN"), (pull_request, "$PR_RUN")):
        assert "llmsight eval run" in step["run"] and f'--name "{name}"' in step["run"]
        assert '--target "$TARGET"' in step["run"]
    command = " ".join(gate["run"].replace("\\\n", " ").split())
    assert 'llmsight eval gate "$PR_RUN" --baseline "$BASE_RUN"' in command
    assert '--markdown "$GITHUB_STEP_SUMMARY"' in command
    assert "--junit llmsight-eval/junit.xml" in command and "--json llmsight-eval/gate.json" in command

    upload = next(s for s in steps(workflow) if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["uses"] == "actions/upload-artifact@v4"
    assert upload["if"] == "always()"  # a failed gate is when the reports are wanted most
    assert upload["with"]["path"].rstrip("/") == "llmsight-eval"
    assert steps(workflow).index(upload) > steps(workflow).index(gate)


def test_the_llmsight_steps_run_as_written_and_the_gate_passes(tmp_path):
    workflow = load()
    workspace = tmp_path / "workspace"
    values = {
        "github.workspace": str(workspace),
        "github.event.pull_request.base.sha": BASE_SHA,
        "github.event.pull_request.number": "42",
        "github.sha": MERGE_SHA,
    }
    job_env = {k: substitute(v, values) for k, v in job(workflow).get("env", {}).items()}
    # the pull request's checkout (the workspace) holds the dataset; the base branch's is a directory beside
    dataset = workspace / job_env["DATASET"]
    dataset.parent.mkdir(parents=True)
    shutil.copy(DATASET, dataset)
    base_dir = workspace / steps(workflow)[1]["with"]["path"]
    base_dir.mkdir()
    # `llmsight` on PATH, as `pip install` leaves it: this interpreter's llmsight
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "llmsight"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m llmsight.cli.main "$@"\n')
    shim.chmod(0o755)
    summary = tmp_path / "step_summary.md"
    summary.write_text("")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMSIGHT_", "OPENAI_", "OTEL_", "GITHUB_"))}
    env |= job_env | {
        "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_STEP_SUMMARY": str(summary),
        "COLUMNS": "200",
    }
    assert env["LLMSIGHT_CLICKHOUSE_URL"] == f"chdb://{workspace}/.llmsight/clickhouse"  # not the test's store

    outputs = []
    for step in llmsight_steps(workflow):
        step_env = env | {k: substitute(v, values) for k, v in step.get("env", {}).items()}
        cwd = workspace / step.get("working-directory", ".")
        script = substitute(step["run"], values)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script],
            cwd=cwd, env=step_env, capture_output=True, text=True, timeout=280,
        )  # fmt: skip
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == 0, f"step {step['name']!r} exited {done.returncode}:\n{outputs[-1]}"

    base_out, pr_out, gate_out = (" ".join(o.split()) for o in outputs)
    assert f"run base-{BASE_SHA}: 22 rows, judge demo-judge" in base_out
    assert f"run pr-42-{MERGE_SHA}: 22 rows, judge demo-judge" in pr_out
    assert f"gate passed for run pr-42-{MERGE_SHA}" in gate_out

    markdown = summary.read_text()
    assert f"## llmsight eval `pr-42-{MERGE_SHA}`: ✅ passed" in markdown
    header = f"| Metric | Average | Pass rate | Target | Baseline `base-{BASE_SHA}` | Change [95% CI] | Verdict |"
    assert header in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| groundedness |")]
    assert len(rows) == 1 and rows[0].endswith("| no change |")

    reports = workspace / "llmsight-eval"
    gate = json.loads((reports / "gate.json").read_text())
    assert gate["verdict"] == "passed" and gate["incomplete"] == [] and gate["rows_not_run"] == 0
    assert gate["comparison"]["a"] == f"base-{BASE_SHA}" and gate["dataset"]["rows"] == 22
    suites = {s.get("name"): s for s in ET.parse(reports / "junit.xml").getroot()}
    assert int(suites[f"pr-42-{MERGE_SHA}: rows"].get("tests")) == 22 * len(gate["metrics"])
    assert int(suites[f"pr-42-{MERGE_SHA}: targets"].get("failures")) == 0
