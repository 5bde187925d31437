"""``mlpilot runs``: list, show, compare and delete runs."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from typing import Annotated

import typer

from mlpilot.cli import _output
from mlpilot.cli._compare import compare_document, compare_table
from mlpilot.cli._run_views import run_json, run_summary_json, run_view, runs_table
from mlpilot.cli._state import state
from mlpilot.errors import NotFoundError
from mlpilot.tracking import OrderKeyWarning, RunRecord

app = typer.Typer(no_args_is_help=True, help="List, show, compare and delete runs.")

RunIdArgument = Annotated[
    str, typer.Argument(metavar="RUN_ID", help="A run id or a unique prefix of 6+ characters.")
]


@app.command("list")
def list_runs(
    ctx: typer.Context,
    experiment: Annotated[
        list[str] | None,
        typer.Option(
            "--experiment", "-e", metavar="NAME", help="Only runs of this experiment (repeatable)."
        ),
    ] = None,
    filter_text: Annotated[
        str | None,
        typer.Option(
            "--filter",
            "-f",
            metavar="EXPR",
            help="e.g. \"metrics.acc > 0.9 and params.model = 'gbm'\".",
        ),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option(
            "--order-by",
            "-o",
            metavar="FIELD [ASC|DESC]",
            help='e.g. "metrics.acc DESC" (repeatable; ASCENDING and DESCENDING work too, '
            "runs without the field come last); newest first by default.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=0, help="Show at most this many runs.")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many runs first.")] = 0,
    as_json: _output.JsonOption = False,
) -> None:
    """List runs, newest first, with their most common metrics and params as columns.

    A filter compares metrics.KEY, params.KEY, tags.KEY and the attributes name,
    status, user, host, run_id, parent_id, start_ms and end_ms, joined with and/or:

        mlpilot runs list -e churn -f "metrics.auc > 0.9" -o "metrics.auc DESC"
    """
    client = state(ctx).client()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", OrderKeyWarning)
        runs = client.search_runs(
            experiment=experiment or None,
            filter=filter_text,
            order_by=order_by or (),
            max_results=limit,
            offset=offset,
        )
    for warning in caught:
        if issubclass(warning.category, OrderKeyWarning):
            _output.stderr().print(f"warning: {warning.message}", style="yellow", markup=False)
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if as_json:
        _output.print_json([run_json(run) for run in runs])
        return
    if not runs:
        _output.stderr().print("No runs match.")
        return
    console = _output.stdout()
    console.print(runs_table(runs, console.width))
    if limit and len(runs) == limit:
        _output.stderr().print(
            f"Showing {len(runs)} runs from offset {offset}; "
            f"more may match: add --offset {offset + limit}.",
            style="dim",
        )


@app.command("show")
def show_run(
    ctx: typer.Context, run_id: RunIdArgument, as_json: _output.JsonOption = False
) -> None:
    """Show a run: attributes, params, latest metrics, tags, artifacts and child runs.

    mlpilot runs show 3f9c2a1b
    """
    client = state(ctx).client()
    run = client.get_run(run_id)
    artifacts = client.list_artifacts(run.id)
    children = client.search_runs(filter=f"parent_id = '{run.id}'", order_by=["start_ms"])
    if as_json:
        document = run_json(run)
        document["artifacts"] = [artifact.to_dict() for artifact in artifacts]
        document["children"] = [run_summary_json(child) for child in children]
        _output.print_json(document)
        return
    _output.stdout().print(run_view(run, artifacts, children))


@app.command("compare")
def compare_runs(
    ctx: typer.Context,
    run_ids: Annotated[
        list[str],
        typer.Argument(metavar="RUN", help="Two or more run ids or unique prefixes."),
    ],
    as_json: _output.JsonOption = False,
) -> None:
    """Compare runs side by side: one row per param, then per metric, one column per run.

    Rows whose values differ between the runs are highlighted; a missing value is shown
    as a dash (null in JSON).

        mlpilot runs compare 3f9c2a1b 77d0e4c2 a12b9f00
    """
    if len(run_ids) < 2:
        _output.fail("give at least two runs to compare")
    client = state(ctx).client()
    runs = [client.get_run(run_id) for run_id in run_ids]
    if as_json:
        _output.print_json(compare_document(runs))
    else:
        _output.stdout().print(compare_table(runs))


@app.command("delete")
def delete_runs(
    ctx: typer.Context,
    run_ids: Annotated[
        list[str],
        typer.Argument(metavar="RUN_ID", help="Run ids or unique prefixes of 6+ characters."),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Delete runs that are still running too.")
    ] = False,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Delete child runs along with their parent.")
    ] = False,
) -> None:
    """Delete runs with their params, metrics, tags and artifact references.

    Artifact bytes stay in the store until `mlpilot gc` removes the blobs no run refers
    to. A running run needs --force; a run with child runs needs --recursive.
    Asks for confirmation unless --yes is given (required where there is no terminal).
    """
    client = state(ctx).client()
    runs = list({run.id: run for run in (client.get_run(run_id) for run_id in run_ids)}.values())
    if not yes:
        _confirm_delete(runs)
    deleted_any = False
    for run in runs:
        try:
            count = client.delete_run(run.id, force=force, recursive=recursive)
        except NotFoundError:
            if not (recursive and deleted_any):
                raise
            # Named on the command line after its parent, which took it along.
            _output.stdout().print(f"Run {run.id} ({run.name}) went with its parent run.")
            continue
        deleted_any = True
        children = f" and {count - 1} child run(s)" if count > 1 else ""
        _output.stdout().print(f"Deleted run {run.id} ({run.name}){children}.")


def _confirm_delete(runs: Sequence[RunRecord]) -> None:
    if not stdin_is_terminal():
        _output.fail(
            "refusing to delete without confirmation: there is no terminal to ask on; "
            "pass --yes to delete anyway"
        )
    console = _output.stderr()
    for run in runs:
        console.print(
            f"  {run.id}  {run.experiment}/{run.name}  ", _output.status(run.status), sep=""
        )
    if not typer.confirm(f"Delete {len(runs)} run(s)?", default=False, err=True):
        console.print("Nothing deleted.")
        raise typer.Exit(1)


def stdin_is_terminal() -> bool:
    """Whether a person can answer a question on stdin."""
    return sys.stdin is not None and sys.stdin.isatty()
