"""Run openai-python's own test suite without and with ``llmsight.instrument()`` and compare.

    .venv/bin/python bench/openai_suite.py [--workdir DIR] [--jobs N] [-- extra pytest args]

Gets the source release of the installed ``openai`` with pip (the only network use), makes a
virtualenv in the work dir that sees this venv's packages (same openai, same llmsight) plus the
suite's test dependencies, runs the suite twice (``-p openai_suite_plugin`` calls instrument()
first, with ``LLMSIGHT_STREAM_USAGE=true``) and prints both counts and every test that fails only
with llmsight; exit status 1 if there is one. ``tests/api_resources`` is left out: it needs the
Prism mock server, which needs the OpenAPI spec from the internet. About 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tarfile
import time
import venv
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TEST_DEPS = [
    "pytest-asyncio>=1.4.0",
    "inline-snapshot>=0.28.0",
    "websockets>=13,<16",
    "trio",
    "Pillow",
    "griffe",
    "pytest-xdist",
    "dirty-equals",
    "time-machine",
    "respx",
    "requests",
    "aiohttp>=3.14.4",
]


def prepare(workdir: Path, version: str) -> tuple[Path, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / f"openai-{version}"
    if not source.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                f"openai=={version}",
                "--no-binary",
                ":all:",
                "--no-deps",
                "-q",
                "-d",
                str(workdir),
            ],
            check=True,
        )
        with tarfile.open(workdir / f"openai-{version}.tar.gz") as tar:
            tar.extractall(workdir, filter="data")
    env_dir = workdir / "venv"
    python = env_dir / "bin" / "python"
    if not python.exists():
        venv.create(env_dir, with_pip=True)
        site = glob.glob(str(env_dir / "lib" / "python3*" / "site-packages"))[0]
        ours = next(p for p in sys.path if p.endswith("site-packages"))
        Path(site, "zz_llmsight_main.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
        subprocess.run([str(python), "-m", "pip", "install", "-q", *TEST_DEPS], check=True)
    return source, python


def run(source: Path, python: Path, xml: Path, instrumented: bool, jobs: int, extra: list[str]) -> float:
    env = {
        **os.environ,
        "PYTHONPATH": str(BENCH),
        "LLMSIGHT_STREAM_USAGE": "true",
        "LLMSIGHT_SUITE_STATS": str(xml.with_suffix(".stats")),
    }
    xml.with_suffix(".stats").unlink(missing_ok=True)
    cmd = [
        str(python),
        "-m",
        "pytest",
        "-o",
        "addopts=",
        "-p",
        "no:cacheprovider",
        "-q",
        "-n",
        str(jobs),
        "--ignore=tests/api_resources",
        f"--junitxml={xml}",
        *extra,
    ]
    if instrumented:
        cmd[3:3] = ["-p", "openai_suite_plugin"]
    start = time.monotonic()
    with open(xml.with_suffix(".log"), "w") as log:
        subprocess.run(cmd, cwd=source, env=env, stdout=log, stderr=subprocess.STDOUT)
    return time.monotonic() - start


def outcomes(xml: Path) -> dict[str, str]:
    result = {}
    for case in ET.parse(xml).iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        result[name] = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/llmsight-openai-suite"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("extra", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args()
    version = metadata.version("openai")
    source, python = prepare(args.workdir, version)
    runs = {}
    for label, instrumented in (("without llmsight", False), ("with llmsight", True)):
        xml = args.workdir / f"{'with' if instrumented else 'without'}.xml"
        seconds = run(source, python, xml, instrumented, args.jobs, args.extra)
        runs[label] = outcomes(xml)
        counts = {k: sum(1 for v in runs[label].values() if v == k) for k in ("passed", "failed", "skipped")}
        print(
            f"openai {version} tests {label:17s} passed={counts['passed']} failed={counts['failed']} "
            f"skipped={counts['skipped']} ({seconds:.0f} s)"
        )
    stats = (args.workdir / "with.stats").read_text() if (args.workdir / "with.stats").exists() else ""
    print("llmsight per process:", " | ".join(line for line in stats.splitlines() if line.startswith("spans")))
    plain, traced = runs["without llmsight"], runs["with llmsight"]
    broken = sorted(n for n, v in traced.items() if v == "failed" and plain.get(n) == "passed")
    fixed = sorted(n for n, v in traced.items() if v == "passed" and plain.get(n) == "failed")
    print(f"fail only with llmsight: {len(broken)}; pass only with llmsight: {len(fixed)}")
    for name in broken:
        print("  BROKEN", name)
    for name in fixed:
        print("  (flaky?)", name)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
