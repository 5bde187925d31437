"""What changed between two dataset versions: schema, row count and column profiles."""

from __future__ import annotations

import dataclasses
from typing import Any

from mlpilot.store.base._datasets import DatasetVersion

#: Profile figures compared column by column.
_STATS = ("null_share", "distinct", "min", "max", "mean", "std", "p50")


@dataclasses.dataclass(frozen=True)
class ColumnChange:
    """One difference in one column: ``aspect`` went from ``before`` to ``after``."""

    column: str
    aspect: str
    before: Any
    after: Any


@dataclasses.dataclass(frozen=True)
class DatasetDiff:
    """The differences between version ``before`` and version ``after``."""

    before: str
    after: str
    rows: tuple[int, int]
    same_content: bool
    #: Columns added or removed, and changes of type or nullability.
    schema: list[ColumnChange]
    #: Changes of the profile of columns both versions have.
    stats: list[ColumnChange]


def diff_versions(before: DatasetVersion, after: DatasetVersion) -> DatasetDiff:
    """Compare two versions (of one dataset or of two) from their recorded profiles."""
    old = {c["name"]: c for c in before.columns}
    new = {c["name"]: c for c in after.columns}
    schema = [ColumnChange(n, "removed", old[n]["type"], None) for n in old if n not in new]
    schema += [ColumnChange(n, "added", None, new[n]["type"]) for n in new if n not in old]
    stats = []
    for name in (n for n in new if n in old):
        for aspect in ("type", "nullable"):
            if old[name][aspect] != new[name][aspect]:
                schema.append(ColumnChange(name, aspect, old[name][aspect], new[name][aspect]))
        stats += _profile_changes(name, before, after)
    return DatasetDiff(
        before=before.ref,
        after=after.ref,
        rows=(before.num_rows, after.num_rows),
        same_content=before.digest == after.digest,
        schema=schema,
        stats=stats,
    )


def _profile_changes(
    name: str, before: DatasetVersion, after: DatasetVersion
) -> list[ColumnChange]:
    old, new = before.profile[name], after.profile[name]
    changes = []
    for stat in _STATS:
        was, now = _stat(old, stat), _stat(new, stat)
        if was != now:
            changes.append(ColumnChange(name, stat, was, now))
    if old.mean is not None and new.mean is not None and old.std:
        shift = (new.mean - old.mean) / old.std
        if shift:
            changes.append(ColumnChange(name, "mean shift (std units)", 0.0, round(shift, 4)))
    was_values, now_values = {v for v, _ in old.top}, {v for v, _ in new.top}
    complete = len(old.top) == old.distinct and len(new.top) == new.distinct
    if complete and was_values != now_values:
        changes.append(
            ColumnChange(
                name,
                "values",
                sorted(was_values - now_values, key=repr),
                sorted(now_values - was_values, key=repr),
            )
        )
    return changes


def _stat(profile: Any, stat: str) -> Any:
    if stat == "p50":
        return profile.quantiles.get("p50")
    value = getattr(profile, stat)
    return round(value, 6) if isinstance(value, float) else value
