"""How runs look: the ``runs list`` table, the ``runs show`` page and their JSON."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from mlpilot.cli import _output
from mlpilot.tracking import ArtifactRecord, RunRecord

#: At most this many metric columns and this many param columns in ``runs list``.
KEY_COLUMNS = 3
#: Widest a run name is assumed to be when deciding which key columns fit.
_NAME_WIDTH = 24


#: The fields ``runs show --json`` gives of each child run.
SUMMARY_FIELDS = ("id", "name", "status", "start_ms")


def run_json(run: RunRecord) -> dict[str, Any]:
    """A run as a JSON object: its stored fields (times in UTC ms) and ``duration_ms``."""
    return run.to_dict()


def run_summary_json(run: RunRecord) -> dict[str, Any]:
    document = run.to_dict()
    return {field: document[field] for field in SUMMARY_FIELDS}


def common_keys(mappings: Iterable[Mapping[str, Any]], count: int) -> list[str]:
    """The ``count`` keys found in most of ``mappings``, ties broken by name."""
    counts = Counter(key for mapping in mappings for key in mapping)
    return sorted(counts, key=lambda key: (-counts[key], key))[:count]


@dataclasses.dataclass
class _Column:
    header: str
    cells: list[RenderableType]
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def width(self) -> int:
        """Cells' width plus padding and the rule between columns."""
        widest = max((len(str(cell)) for cell in self.cells), default=0)
        least = int(self.options.get("min_width", 0))
        return max(len(self.header), min(widest, _NAME_WIDTH), least) + 3


def runs_table(runs: Sequence[RunRecord], width: int) -> Table:
    """Runs as rows; the most common metrics and params become columns while they fit."""
    experiments = sorted({run.experiment for run in runs})
    columns = [_Column("id", [_output.short_id(r.id) for r in runs], {"no_wrap": True})]
    if len(experiments) > 1:
        columns.append(_Column("experiment", [r.experiment for r in runs], {"max_width": 20}))
    columns += [
        _Column("name", [r.name for r in runs], {"min_width": 8, "overflow": "fold"}),
        _Column("status", [_output.status(r.status) for r in runs], {"no_wrap": True}),
        _Column("started", [_output.human_time(r.start_ms) for r in runs], {"no_wrap": True}),
        _Column(
            "duration",
            [_output.duration(r.duration_ms) for r in runs],
            {"no_wrap": True, "justify": "right"},
        ),
    ]
    used = 1 + sum(column.width() for column in columns)
    for column in _key_columns(runs):
        if used + column.width() <= width:
            columns.append(column)
            used += column.width()
    title = f"experiment {experiments[0]}" if len(experiments) == 1 else None
    table = Table(title=title, title_justify="left", title_style="bold")
    for column in columns:
        table.add_column(column.header, **column.options)
    for row in zip(*(column.cells for column in columns), strict=True):
        table.add_row(*row)
    return table


def _key_columns(runs: Sequence[RunRecord]) -> list[_Column]:
    """Candidate metric and param columns, most common first, metrics before params."""
    metric_keys = common_keys((run.metrics for run in runs), KEY_COLUMNS)
    param_keys = common_keys((run.params for run in runs), KEY_COLUMNS)
    shared = set(metric_keys) & set(param_keys)
    columns = []
    for index in range(KEY_COLUMNS):
        if index < len(metric_keys):
            key = metric_keys[index]
            columns.append(
                _Column(
                    f"metrics.{key}" if key in shared else key,
                    [_output.number(run.metrics.get(key)) for run in runs],
                    {"justify": "right", "header_style": "bold cyan", "no_wrap": True},
                )
            )
        if index < len(param_keys):
            key = param_keys[index]
            columns.append(
                _Column(
                    f"params.{key}" if key in shared else key,
                    [run.params.get(key, _output.DASH) for run in runs],
                    {"header_style": "bold magenta", "overflow": "ellipsis", "max_width": 20},
                )
            )
    return columns


def run_view(
    run: RunRecord, artifacts: Sequence[ArtifactRecord], children: Sequence[RunRecord]
) -> Group:
    """Everything about one run, in sections."""
    attributes = Table.grid(padding=(0, 2))
    attributes.add_column(style="bold")
    attributes.add_column(overflow="fold")
    for label, value in (
        ("id", run.id),
        ("name", run.name),
        ("experiment", f"{run.experiment} (id {run.experiment_id})"),
        ("status", _output.status(run.status)),
        ("parent", run.parent_id or _output.DASH),
        ("user", run.user),
        ("host", f"{run.host} (pid {run.pid})"),
        ("started", _output.local_time(run.start_ms)),
        ("ended", _output.local_time(run.end_ms)),
        ("duration", _output.duration(run.duration_ms)),
    ):
        attributes.add_row(label, value)
    sections: list[RenderableType] = [attributes]
    sections += _section("Params", ("key", "value"), sorted(run.params.items()))
    sections += _section(
        "Metrics (latest)",
        ("key", "value"),
        [(key, _output.number(value)) for key, value in sorted(run.metrics.items())],
    )
    sections += _section("Tags", ("key", "value"), sorted(run.tags.items()))
    sections += _section(
        "Artifacts",
        ("path", "size", "digest"),
        [(a.path, _output.size(a.size), a.digest[:12]) for a in artifacts],
    )
    sections += _section(
        "Child runs",
        ("id", "name", "status", "started"),
        [
            (
                _output.short_id(c.id),
                c.name,
                _output.status(c.status),
                _output.human_time(c.start_ms),
            )
            for c in children
        ],
    )
    return Group(*sections)


def _section(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[RenderableType]]
) -> list[RenderableType]:
    heading = Text(f"\n{title}", style="bold underline")
    if not rows:
        return [heading, Text("  none", style="dim")]
    table = Table(*columns, show_edge=False, box=None, padding=(0, 2), header_style="dim")
    for row in rows:
        table.add_row(*row)
    return [heading, table]
