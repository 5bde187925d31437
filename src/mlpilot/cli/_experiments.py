"""``mlpilot experiments``: the experiments in the store."""

from __future__ import annotations

import typer
from rich.table import Table

from mlpilot.cli import _output
from mlpilot.cli._state import state

app = typer.Typer(no_args_is_help=True, help="List experiments.")


@app.command("list")
def list_experiments(ctx: typer.Context, as_json: _output.JsonOption = False) -> None:
    """List every experiment with its id, run count and creation time.

    Example: mlpilot experiments list --json
    """
    experiments = state(ctx).client().list_experiments()
    if as_json:
        _output.print_json([experiment.to_dict() for experiment in experiments])
        return
    if not experiments:
        _output.stderr().print("No experiments yet: start a run to create one.")
        return
    table = Table("id", "name", "runs", "created", "description")
    for experiment in experiments:
        table.add_row(
            str(experiment.id),
            experiment.name,
            str(experiment.run_count),
            _output.local_time(experiment.created_ms),
            experiment.description or _output.DASH,
        )
    _output.stdout().print(table)
