"""``llmsight dataset``: datasets for evaluation before release; ``export`` turns production calls into one.

The logic lives in ``llmsight.experiments.export``; this module parses flags and prints. A mistake the
user can fix (a file that exists, a bad duration, an unreachable store) is one red line, exit 2; no
matching call is exit 1, so a script that exports before a run notices it has nothing to run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from llmsight.cli.common import (
    ModelOption,
    ServiceOption,
    StoreOption,
    console,
    default_note,
    err_console,
    fail,
    make_settings,
    query_client,
    user_errors,
)
from llmsight.cli.report import schema_hint, window_seconds

if TYPE_CHECKING:
    from llmsight.experiments.export import Export

app = typer.Typer(
    help="Evaluation datasets: export production calls as test cases.", no_args_is_help=True, rich_markup_mode="rich"
)

REASON_HELP = {
    "negative_feedback": "people rated it negatively",
    "recent": "in the window (no --failing / --negative-feedback)",
}


def _reason_text(reason: str) -> str:
    if reason.startswith("failing:"):
        return f"a {reason.removeprefix('failing:')} score below its threshold"
    return REASON_HELP.get(reason, reason)


@app.command("export")
def export(
    out: Annotated[
        Path, typer.Argument(help="File to write: .jsonl (JSON lines) or .csv, by its extension.", show_default=False)
    ],
    since: Annotated[str, typer.Option("--since", help="Calls from this far back: 1h, 24h, 7d, P30D.")] = "7d",
    failing: Annotated[
        bool,
        typer.Option("--failing", help="Calls with a judge score below its per-call threshold." + default_note("off")),
    ] = False,
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            help="With --failing: only failing scores of these metrics (comma-separated, e.g. groundedness,relevance)."
            + default_note("all metrics"),
            show_default=False,
        ),
    ] = "",
    negative_feedback: Annotated[
        bool,
        typer.Option(
            "--negative-feedback",
            help="Calls people rated negatively (latest feedback score below 0.5). With --failing: either."
            + default_note("off"),
        ),
    ] = False,
    service: ServiceOption = "",
    environment: Annotated[
        str,
        typer.Option(
            "--environment", help="Only calls of this deployment environment." + default_note("all"), show_default=False
        ),
    ] = "",
    model: ModelOption = "",
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many calls, newest first.")] = 200,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT if it exists." + default_note("off"))] = False,
    clickhouse_url: StoreOption = None,
) -> None:
    """Write stored production calls as a dataset (id, question, context, ground_truth, answer and a
    source: trace, span, service, time and why it was picked), so production mistakes become test cases.
    Neither --failing nor --negative-feedback: every call in the window.

    Example: [bold]llmsight dataset export bad.jsonl --since 7d --failing --negative-feedback[/]

    Only ungrounded answers, as CSV: [bold]llmsight dataset export bad.csv --failing --metric groundedness[/]

    Then: [bold]llmsight eval run bad.jsonl --target app.rag:answer --name fix-42[/]
    """
    from llmsight.experiments.export import ExportError, Selection, check_request, export_dataset
    from llmsight.store.url import parse_store_url

    selection = Selection(
        since_s=window_seconds(since),
        failing=failing,
        negative_feedback=negative_feedback,
        metrics=tuple(m.strip() for m in metric.split(",") if m.strip()),
        service=service,
        environment=environment,
        model=model,
        limit=limit,
    )
    with user_errors(), schema_hint():
        settings = make_settings(clickhouse_url=clickhouse_url)
        try:
            check_request(out, selection, force=force)  # before opening the store: a typo costs no query
            client = query_client(settings)
            result = export_dataset(client, parse_store_url(settings.clickhouse_url).database, out, selection,
                                    force=force)  # fmt: skip
        except ExportError as exc:
            raise fail(escape(str(exc))) from None
    picked = _picked_text(failing, negative_feedback, selection.metrics)
    scope = [f"{name} {value}" for name, value in (("service", service), ("environment", environment),
             ("model", model)) if value]  # fmt: skip
    if scope:
        picked += f" ({', '.join(scope)})"
    if not result.rows:
        why = f"no calls matched {picked} in the last {since}"
        if result.matched:
            why = f"{result.matched} call(s) matched {picked} in the last {since}, but none had a question"
        err_console.print(f"[bold red]error:[/] {escape(why)}; nothing written")
        raise typer.Exit(1)
    _print_summary(result, since)


def _picked_text(failing: bool, negative_feedback: bool, metrics: tuple[str, ...]) -> str:
    parts = []
    if failing:
        parts.append(f"--failing ({', '.join(metrics)})" if metrics else "--failing")
    if negative_feedback:
        parts.append("--negative-feedback")
    return " or ".join(parts) if parts else "the filters"


def _print_summary(result: Export, since: str) -> None:
    console.print(
        f"Wrote [bold]{len(result.rows)}[/] row(s) to [bold]{escape(str(result.path))}[/] (calls of the last {since})."
    )
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("picked because")
    table.add_column("rows", justify="right")
    for reason, count in sorted(result.reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(escape(f"{reason}: {_reason_text(reason)}"), str(count))
    table.caption = "a call picked for several reasons counts under each"
    console.print(table)
    if result.skipped_no_question:
        console.print(f"[yellow]skipped {result.skipped_no_question} call(s) with no question[/]")
    if result.more:
        console.print("[yellow]more calls matched than --limit; the newest were kept (raise --limit for more)[/]")
    name = escape(result.path.stem)
    console.print(f"Next: [bold]llmsight eval run {escape(str(result.path))} --target module:function --name {name}[/]")
