"""Generate llmsight's Grafana dashboards (grafana/dashboards/*.json) from one readable source.

Why a generator: four dashboards share the same datasource reference, template variables,
filters and data links; writing them once (``grafana/panels/``) keeps the JSON consistent, and
the test suite checks that the committed JSON is exactly what this script produces (run it after
editing: ``python grafana/generate_dashboards.py``). Panels that ask a question monitors and the
report ask too take its SQL from ``llmsight.queries`` (``panels.blocks.from_question``).

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
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "dashboards"
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from panels.operations import operations  # noqa: E402
from panels.quality import quality  # noqa: E402
from panels.trace import trace  # noqa: E402
from panels.usage import usage  # noqa: E402

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
