"""``mlpilot triggers``: pipelines that ``mlpilot controller`` starts on a schedule or on
a new dataset version."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from mlpilot.cli import _output
from mlpilot.cli._state import state

app = typer.Typer(no_args_is_help=True, help="Pipelines started on a cron schedule or on new data.")
NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="A trigger.")]


@app.command("create")
def create(
    ctx: typer.Context,
    name: NameArgument,
    pipeline: Annotated[
        str, typer.Option("--pipeline", metavar="FILE:PIPELINE", help="What to run.")
    ],
    cron: Annotated[
        str | None,
        typer.Option("--cron", metavar="'M H DOM MON DOW'", help="A schedule, in UTC."),
    ] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Run on each new version of this dataset.")
    ] = None,
    tag: Annotated[
        str | None, typer.Option("--tag", help="With --dataset: run when this tag moves.")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="NAME=VALUE", help="A pipeline parameter (JSON)."),
    ] = None,
    as_json: _output.JsonOption = False,
) -> None:
    """Create a trigger; the controller fires it from now on.

    mlpilot triggers create nightly --pipeline flows.py:train --cron '0 3 * * *'
    mlpilot triggers create fresh-data --pipeline flows.py:train --dataset churn
    """
    from mlpilot.cli._pipelines import _params
    from mlpilot.schedule import load_pipeline
    from mlpilot.schedule._triggers import Triggers

    params = load_pipeline(pipeline).parse_params(_params(param or []))
    found = Triggers(state(ctx).client()).create(
        name, pipeline=pipeline, params=params, cron=cron, dataset=dataset, tag=tag
    )
    if as_json:
        _output.print_json(found.to_dict())
        return
    when = f"cron {found.cron} (UTC)" if found.cron else f"new versions of {found.dataset}"
    _output.stderr().print(f"Created trigger {found.name}: {found.pipeline} on {when}")


@app.command("list")
def list_triggers(ctx: typer.Context, as_json: _output.JsonOption = False) -> None:
    """Triggers with what they run, when, and what they last fired for."""
    found = state(ctx).store().triggers.list_triggers()
    if as_json:
        _output.print_json([t.to_dict() for t in found])
        return
    if not found:
        _output.stderr().print("No triggers.")
        return
    table = Table("name", "pipeline", "on", "last fired for")
    for trigger in found:
        on = f"cron {trigger.cron}" if trigger.cron else f"dataset {trigger.dataset}"
        if trigger.tag:
            on += f"@{trigger.tag}"
        table.add_row(trigger.name, trigger.pipeline, on, trigger.last_key or "—")
    _output.stdout().print(table)


@app.command("delete")
def delete(ctx: typer.Context, name: NameArgument) -> None:
    """Delete a trigger."""
    state(ctx).store().triggers.delete(name)
    _output.stderr().print(f"Deleted trigger {name}")
