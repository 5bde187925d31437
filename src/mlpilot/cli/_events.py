"""``mlpilot events``: the audit log every state change writes, newest last."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table

from mlpilot.cli import _output
from mlpilot.cli._state import state

# Characters of the payload shown in a table cell.
_PAYLOAD_WIDTH = 120


def events_command(
    ctx: typer.Context,
    kind: Annotated[
        str | None,
        typer.Option("--kind", metavar="PREFIX", help="Only kinds starting so, e.g. alert."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="The newest this many.")] = 50,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep printing new events until Ctrl-C.")
    ] = False,
    as_json: _output.JsonOption = False,
) -> None:
    """Print the events table, newest last: time, kind, object, actor, payload."""
    records = state(ctx).store().events
    rows = records.read(kind, limit=limit)
    if as_json and not follow:
        _output.print_json([r.to_dict() for r in rows])
        return
    _print(rows, as_json)
    if not follow:
        return
    last = rows[-1].id if rows else 0
    try:
        while True:
            time.sleep(1.0)
            rows = records.read(kind, after=last)
            if rows:
                _print(rows, as_json, header=False)
                last = rows[-1].id
    except KeyboardInterrupt:
        return


def _print(rows: list[Any], as_json: bool, header: bool = True) -> None:
    if as_json:  # one JSON document per line while following
        import json

        for row in rows:
            typer.echo(json.dumps(row.to_dict(), default=str))
        return
    if not rows:
        if header:
            _output.stderr().print("No events.")
        return
    table = Table(box=None, header_style="bold", show_header=header)
    for column in ("time", "kind", "object", "actor", "payload"):
        table.add_column(column)
    for row in rows:
        payload = ", ".join(f"{k}={v}" for k, v in (row.payload or {}).items())
        if len(payload) > _PAYLOAD_WIDTH:
            payload = payload[: _PAYLOAD_WIDTH - 1] + "…"
        table.add_row(
            _output.local_time(row.ts_ms),
            row.kind,
            f"{row.object_type} {row.object_id}",
            row.actor,
            payload,
        )
    _output.stdout().print(table)
