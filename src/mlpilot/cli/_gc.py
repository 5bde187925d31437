"""``mlpilot gc``: remove artifact blobs that no run refers to any more."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

import typer

from mlpilot.cli import _output
from mlpilot.cli._state import state
from mlpilot.store import collect_garbage


def gc(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Report what would go; remove nothing.")
    ] = False,
    grace_seconds: Annotated[
        float,
        typer.Option(
            min=0,
            metavar="SECONDS",
            help="Keep unreferenced blobs younger than this: a writer may be about to record them.",
        ),
    ] = 3600.0,
    as_json: _output.JsonOption = False,
) -> None:
    """Remove artifact blobs that no run refers to, and temporary files of dead writers.

    Deleting a run keeps its artifact bytes; this command frees them. Blobs and
    temporaries younger than the grace period are kept.

        mlpilot gc --dry-run
    """
    store = state(ctx).store()
    console = _output.stderr()
    spinner = console.status("Looking for unreferenced blobs...")
    with spinner if console.is_terminal else nullcontext():
        report = collect_garbage(store, grace_s=grace_seconds, dry_run=dry_run)
    if as_json:
        _output.print_json(report.to_dict() | {"artifacts_uri": store.artifacts.url})
        return
    verb = "Would remove" if dry_run else "Removed"
    _output.stdout().print(
        f"{verb} {report.blobs_removed} unreferenced blob(s), freeing "
        f"{_output.size(report.bytes_freed)}, and {report.temporaries_removed} stale "
        f"temporary file(s); kept {report.blobs_kept} blob(s) in {store.artifacts.url}."
    )
