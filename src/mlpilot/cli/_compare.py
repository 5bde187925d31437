"""The side-by-side view of ``mlpilot runs compare``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rich.table import Table

from mlpilot.cli import _output
from mlpilot.tracking import RunRecord

_DIFFERENT = "bold yellow"


def _rows(runs: Sequence[RunRecord]) -> list[tuple[str, str, list[Any]]]:
    """``(kind, key, values)`` for every param, then every metric, of any of ``runs``."""
    rows: list[tuple[str, str, list[Any]]] = []
    getters: list[tuple[str, Callable[[RunRecord], Mapping[str, Any]]]] = [
        ("params", lambda run: run.params),
        ("metrics", lambda run: run.metrics),
    ]
    for kind, values_of in getters:
        keys = sorted({key for run in runs for key in values_of(run)})
        rows += [(kind, key, [values_of(run).get(key) for run in runs]) for key in keys]
    return rows


def _differs(values: Sequence[Any]) -> bool:
    return len({repr(value) for value in values}) > 1


#: What the comparison's JSON says of each run.
_RUN_FIELDS = ("id", "name", "experiment", "status")


def compare_document(runs: Sequence[RunRecord]) -> dict[str, Any]:
    """The comparison as JSON: ``values`` line up with ``runs``; null where missing."""
    document: dict[str, Any] = {
        "runs": [
            {field: fields[field] for field in _RUN_FIELDS}
            for fields in (run.to_dict() for run in runs)
        ],
        "params": {},
        "metrics": {},
    }
    for kind, key, values in _rows(runs):
        document[kind][key] = {"values": values, "differs": _differs(values)}
    return document


def compare_table(runs: Sequence[RunRecord]) -> Table:
    """One row per param and metric, one column per run; differing rows highlighted."""
    table = Table(caption="≠ values that differ", caption_style=_DIFFERENT)
    table.add_column("", style=_DIFFERENT, no_wrap=True)
    table.add_column("", style="bold", overflow="fold")
    for run in runs:
        table.add_column(f"{_output.short_id(run.id)}\n{run.name}", overflow="fold")
    previous_kind = None
    for kind, key, values in _rows(runs):
        if previous_kind is not None and kind != previous_kind:
            table.add_section()
        previous_kind = kind
        cells = [_cell(kind, value) for value in values]
        differs = _differs(values)
        table.add_row(
            "≠" if differs else "", f"{kind}.{key}", *cells, style=_DIFFERENT if differs else None
        )
    return table


def _cell(kind: str, value: Any) -> str:
    if value is None:
        return _output.DASH
    return _output.number(value) if kind == "metrics" else str(value)
