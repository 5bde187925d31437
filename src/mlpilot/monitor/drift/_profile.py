"""The reference profile: what drift is measured against, computed once from the
reference data and stored as bytes beside the model it describes."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from mlpilot.errors import InvalidInputError
from mlpilot.monitor.drift._frame import ColumnKind, as_frame, column_kind, numbers, value_counts

#: How many sorted reference values a numeric column keeps for the KS test.
SAMPLE_SIZE = 100_000
_FORMAT = "mlpilot.monitor.reference-profile"
_VERSION = 1


@dataclasses.dataclass(frozen=True, eq=False)
class NumericColumn:
    """What the reference holds in one numeric column.

    Attributes:
        name: the column's name.
        count: how many values the reference has (missing ones left out).
        nulls: how many values are missing (None, NaN, pd.NA).
        sample: the values, sorted, as float64. A column with more than the profile's
            ``sample_size`` values keeps that many evenly spaced order statistics (its
            quantiles at ``0, 1/(s-1), ..., 1``), whose empirical distribution is within
            ``1/s`` of the whole column's everywhere.
        edges: inner edges of the PSI bins, increasing: the reference's quantiles, with
            repeats merged. Bin ``i`` holds the values ``x`` with
            ``edges[i-1] < x <= edges[i]``; the outer bins are open-ended.
        proportions: the share of the reference's values in each bin, counted on all
            of them (not the sample); one more than ``edges``.
    """

    kind: ClassVar[ColumnKind] = "numeric"
    name: str
    count: int
    nulls: int
    sample: np.ndarray
    edges: np.ndarray
    proportions: np.ndarray


@dataclasses.dataclass(frozen=True, eq=False)
class CategoricalColumn:
    """What the reference holds in one categorical column.

    Attributes:
        name: the column's name.
        count: how many values the reference has (missing ones left out).
        nulls: how many values are missing.
        categories: the distinct values, as text.
        counts: how often each category occurs, int64.
    """

    kind: ClassVar[ColumnKind] = "categorical"
    name: str
    count: int
    nulls: int
    categories: tuple[str, ...]
    counts: np.ndarray

    @property
    def proportions(self) -> np.ndarray:
        return self.counts / max(self.count, 1)


ColumnProfile = NumericColumn | CategoricalColumn


@dataclasses.dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """The reference data summarised once, for every later drift check.

    Build it with :meth:`from_frame`, store it with :meth:`to_bytes` and load it with
    :meth:`from_bytes`; a loaded profile gives exactly the results of the one stored.

    Example::

        profile = ReferenceProfile.from_frame(training_features)
        blob = profile.to_bytes()
        report = check_drift(ReferenceProfile.from_bytes(blob), todays_features)
    """

    columns: Mapping[str, ColumnProfile]
    rows: int
    bins: int
    sample_size: int

    @property
    def kinds(self) -> dict[str, ColumnKind]:
        """Each column's kind, in the reference's order."""
        return {name: column.kind for name, column in self.columns.items()}

    @classmethod
    def from_frame(
        cls,
        data: Any,
        columns: Sequence[str] | None = None,
        *,
        bins: int = 10,
        sample_size: int = SAMPLE_SIZE,
    ) -> ReferenceProfile:
        """Profile the reference ``data`` (a pandas DataFrame or a pyarrow Table).

        Args:
            data: the reference rows, e.g. the features a model was trained on.
            columns: the columns to profile; by default every numeric, boolean, string,
                object and category column (date and duration columns are left out).
            bins: how many quantile bins PSI compares numeric columns on.
            sample_size: how many sorted values a numeric column keeps at most.

        Raises:
            InvalidInputError: no rows, an unknown or duplicated column, a column of a
                type drift tests cannot compare, or a bad ``bins``/``sample_size``.
        """
        for name, value, least in (("bins", bins, 2), ("sample_size", sample_size, 2)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise InvalidInputError(f"{name} must be a whole number >= {least}, got {value!r}")
        frame = as_frame(data, "reference")
        if len(frame) == 0:
            raise InvalidInputError("the reference has no rows; profile data with some rows")
        labels = _labels(frame)
        profiled: dict[str, ColumnProfile] = {}
        for name in _chosen(frame, labels, columns):
            series = frame[labels[name]]
            if column_kind(series.dtype) == "numeric":
                profiled[name] = _numeric(name, numbers(series), bins, sample_size)
            else:
                profiled[name] = _categorical(name, series)
        return cls(profiled, len(frame), bins, sample_size)

    def to_bytes(self) -> bytes:
        """The profile as one ``.npz`` archive: a JSON header and the arrays."""
        header: dict[str, Any] = {
            "format": _FORMAT,
            "version": _VERSION,
            "rows": self.rows,
            "bins": self.bins,
            "sample_size": self.sample_size,
            "columns": [],
        }
        arrays: dict[str, np.ndarray] = {}
        # Arrays are keyed by position: column names may hold any character.
        for position, column in enumerate(self.columns.values()):
            entry: dict[str, Any] = {
                "name": column.name,
                "kind": column.kind,
                "count": column.count,
                "nulls": column.nulls,
            }
            if isinstance(column, NumericColumn):
                arrays[f"{position}.sample"] = column.sample
                arrays[f"{position}.edges"] = column.edges
                arrays[f"{position}.proportions"] = column.proportions
            else:
                entry["categories"] = list(column.categories)
                arrays[f"{position}.counts"] = column.counts
            header["columns"].append(entry)
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceProfile:
        """Load a profile stored with :meth:`to_bytes`.

        Raises:
            InvalidInputError: the bytes are not such a profile.
        """
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
            header = json.loads(arrays["header"].tobytes())
            if header.get("format") != _FORMAT or header.get("version") != _VERSION:
                raise ValueError(f"format {header.get('format')!r} {header.get('version')!r}")
            columns = [_column(i, entry, arrays) for i, entry in enumerate(header["columns"])]
            return cls(
                {column.name: column for column in columns},
                int(header["rows"]),
                int(header["bins"]),
                int(header["sample_size"]),
            )
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
            raise InvalidInputError(
                f"not a reference profile written by ReferenceProfile.to_bytes ({error})"
            ) from error


def _labels(frame: pd.DataFrame) -> dict[str, Any]:
    """Each column's name as text, mapped to its label in ``frame``."""
    labels: dict[str, Any] = {}
    for label in frame.columns:
        if str(label) in labels:
            raise InvalidInputError(f"the reference has more than one column named {label!r}")
        labels[str(label)] = label
    return labels


def _chosen(
    frame: pd.DataFrame, labels: dict[str, Any], columns: Sequence[str] | None
) -> list[str]:
    if columns is None:
        chosen = [name for name, label in labels.items() if column_kind(frame[label].dtype)]
        if not chosen:
            raise InvalidInputError("the reference has no numeric or categorical columns")
        return chosen
    if isinstance(columns, str):
        raise InvalidInputError(f"columns must be a list of names, got the text {columns!r}")
    for name in columns:
        if name not in labels:
            raise InvalidInputError(
                f"the reference has no column {name!r}; its columns: {', '.join(labels)[:300]}"
            )
        dtype = frame[labels[name]].dtype
        if column_kind(dtype) is None:
            raise InvalidInputError(
                f"column {name!r} has dtype {dtype}, which drift tests cannot compare; "
                "convert it to numbers or text, or leave it out"
            )
    return list(dict.fromkeys(columns))


def _numeric(name: str, values: np.ndarray, bins: int, sample_size: int) -> NumericColumn:
    present = np.sort(values[~np.isnan(values)])
    count = len(present)
    # Quantiles of infinite values are NaN; edges come from the finite ones, and the
    # open outer bins still take the infinities.
    finite = present[np.searchsorted(present, -np.inf, "right") : np.searchsorted(present, np.inf)]
    edges = np.empty(0, dtype=np.float64)
    if len(finite):
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
    at_most = np.searchsorted(present, edges, side="right")
    counts = np.diff(np.concatenate(([0], at_most, [count])))
    if count > sample_size:
        present = present[np.linspace(0, count - 1, sample_size).round().astype(np.int64)]
    return NumericColumn(name, count, len(values) - count, present, edges, counts / max(count, 1))


def _categorical(name: str, series: pd.Series) -> CategoricalColumn:
    counts = value_counts(series)
    total = sum(counts.values())
    return CategoricalColumn(
        name,
        total,
        len(series) - total,
        tuple(counts),
        np.fromiter(counts.values(), dtype=np.int64, count=len(counts)),
    )


def _column(position: int, entry: dict[str, Any], arrays: dict[str, np.ndarray]) -> ColumnProfile:
    name, count, nulls = str(entry["name"]), int(entry["count"]), int(entry["nulls"])
    if entry["kind"] == "numeric":
        return NumericColumn(
            name,
            count,
            nulls,
            arrays[f"{position}.sample"],
            arrays[f"{position}.edges"],
            arrays[f"{position}.proportions"],
        )
    if entry["kind"] == "categorical":
        categories = tuple(str(c) for c in entry["categories"])
        return CategoricalColumn(name, count, nulls, categories, arrays[f"{position}.counts"])
    raise ValueError(f"unknown column kind {entry['kind']!r}")
