"""The prediction log's records: the rows a server served, and their ground truth.

:class:`PredictionRecords` is what the serving and monitoring layers record and ask;
:class:`mlpilot.testing.PredictionRecordsContract` is the contract every implementation
passes.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import pandas as pd
from typing_extensions import TypedDict  # the one pydantic reads on Python 3.11 too

from mlpilot.errors import InvalidInputError
from mlpilot.store._predictions import (
    FIXED_COLUMNS,
    check_integer,
    check_role,
    check_row,
    json_safe,
)


class PredictionRow(TypedDict):
    """One predicted row of a sampled request, as it is stored (JSON's types only)."""

    request_id: str
    #: The row's position in its request, from 0.
    row: int
    model: str
    version: int
    #: ``primary``, ``canary`` or ``shadow``.
    role: str
    ts_ms: int
    #: The whole request's latency, the same on each of its rows.
    latency_ms: float
    features: dict[str, Any]
    prediction: Any
    #: The class probabilities, where the model gives them.
    scores: list[float] | None


@runtime_checkable
class PredictionRecords(Protocol):
    """The prediction log and its labels; each method is one atomic unit.

    Bad input raises :class:`~mlpilot.errors.InvalidInputError` and nothing is stored;
    a store that cannot be written raises :class:`~mlpilot.errors.StoreError`.
    """

    def write(self, rows: Sequence[PredictionRow]) -> int:
        """Append ``rows`` (all or none) and return how many were stored."""
        ...

    def read(
        self,
        model: str,
        *,
        version: int | None = None,
        roles: Sequence[str] = ("primary", "canary"),
        since_ms: int | None = None,
        until_ms: int | None = None,
        last: int | None = None,
        labels: bool = False,
    ) -> pd.DataFrame:
        """The logged rows of ``model``, oldest first (by ``ts_ms``, then as written).

        The frame has the columns of :data:`mlpilot.store._predictions.FIXED_COLUMNS`,
        then ``label`` where ``labels`` is true, then one column per feature. A feature
        named like one of those columns (``version``, ``label``, ...) comes out as
        ``feature.<name>``. A row that lacks a feature other rows have holds NaN there.

        Args:
            version: Only rows served by this version.
            roles: Only rows served in these roles (shadow traffic is left out by
                default).
            since_ms: Only rows with ``ts_ms >= since_ms``.
            until_ms: Only rows with ``ts_ms < until_ms``.
            last: Only the newest ``last`` rows of those selected.
            labels: Add the ground truth stored with :meth:`record_labels` (None where
                none arrived).

        Raises:
            InvalidInputError: An unknown role or a ``last`` below 1.
        """
        ...

    def record_labels(
        self, labels: Mapping[tuple[str, int], Any] | pd.DataFrame, *, ts_ms: int | None = None
    ) -> int:
        """Store the ground truth of rows, replacing what was stored for them. A label
        may come before its request is in the log (which is written in batches); it
        joins the request's row once that lands.

        Args:
            labels: ``{(request_id, row): label}``, or a frame with the columns
                ``request_id``, ``label`` and ``row`` (0 where the column is absent).
                Where a row appears twice, the last label counts.
            ts_ms: When the labels arrived; now by default.

        Returns:
            The number of rows stored.

        Raises:
            InvalidInputError: A label is missing or malformed; then nothing is stored.
        """
        ...


# What every implementation checks and builds the same way, so that all behave alike.


def check_rows(rows: Sequence[PredictionRow]) -> None:
    """Check ``rows`` against the contract of :meth:`PredictionRecords.write`.

    Raises:
        InvalidInputError: A row is malformed.
    """
    shared: tuple[Any, ...] | None = None
    for row in rows:
        try:
            fields = (
                row["request_id"],
                row["model"],
                row["version"],
                row["role"],
                row["ts_ms"],
                row["latency_ms"],
            )
            # The rows of one request share these: check them once per request.
            if fields != shared:
                check_row(*fields)
                shared = fields
            if check_integer(row["row"], "row") < 0:
                raise InvalidInputError(f"row is a position from 0, got {row['row']}")
            if not isinstance(row["features"], Mapping):
                raise InvalidInputError(
                    f"features are a {{column: value}} mapping, got {row['features']!r}"
                )
            scores = row["scores"]
            if scores is not None and not isinstance(scores, list):
                raise InvalidInputError(f"scores are a list of numbers, got {scores!r}")
            if "prediction" not in row:
                raise InvalidInputError("a row needs its prediction")
        except KeyError as exc:
            raise InvalidInputError(f"a logged row needs the field {exc.args[0]!r}") from None
        except TypeError:
            raise InvalidInputError(f"a logged row is a mapping of fields, got {row!r}") from None


def check_read(roles: Sequence[str], last: int | None) -> None:
    """Check the arguments of :meth:`PredictionRecords.read`.

    Raises:
        InvalidInputError: An unknown role or a ``last`` below 1.
    """
    if isinstance(roles, str):
        raise InvalidInputError(f"roles is a list of roles; got the text {roles!r}")
    for role in roles:
        check_role(role)
    if last is not None and (not isinstance(last, numbers.Integral) or last < 1):
        raise InvalidInputError(f"last is a number of rows, at least 1; got {last!r}")


def prediction_frame(rows: Sequence[tuple[Any, ...]], labels: bool) -> pd.DataFrame:
    """The frame :meth:`PredictionRecords.read` returns, from ``rows`` of the values of
    ``FIXED_COLUMNS``, the features mapping, and the label where ``labels`` is true."""
    names = list(FIXED_COLUMNS) + (["label"] if labels else [])
    if not rows:
        dtypes = {"row": "int64", "version": "int64", "ts_ms": "int64", "latency_ms": "float64"}
        return pd.DataFrame({name: pd.Series(dtype=dtypes.get(name, object)) for name in names})
    values = list(zip(*rows, strict=True))
    features = values.pop(len(FIXED_COLUMNS))
    frame = pd.DataFrame(dict(zip(names, values, strict=True)))
    expanded = pd.DataFrame(list(features), index=frame.index)
    reserved = {*FIXED_COLUMNS, "label"}
    expanded.columns = [f"feature.{c}" if c in reserved else c for c in expanded.columns]
    return pd.concat([frame, expanded], axis=1)


def label_rows(
    labels: Mapping[tuple[str, int], Any] | pd.DataFrame,
) -> dict[tuple[str, int], Any]:
    """``labels`` as ``{(request_id, row): JSON-able label}``, the last label of a row
    counting.

    Raises:
        InvalidInputError: A key or a label is missing or malformed.
    """
    if isinstance(labels, pd.DataFrame):
        missing = [c for c in ("request_id", "label") if c not in labels.columns]
        if missing:
            raise InvalidInputError(
                f"a frame of labels needs the columns request_id and label (and row, "
                f"optional); it lacks {', '.join(missing)}"
            )
        rows = labels["row"] if "row" in labels.columns else [0] * len(labels)
        keys = zip(labels["request_id"], rows, strict=True)
        items: Any = zip(keys, labels["label"], strict=True)
    elif isinstance(labels, Mapping):
        items = labels.items()
    else:
        raise InvalidInputError(
            "labels are a {(request_id, row): label} mapping or a frame with the columns "
            f"request_id, row and label; got {type(labels).__name__}"
        )
    by_row: dict[tuple[str, int], Any] = {}
    for key, label in items:
        if not isinstance(key, tuple) or len(key) != 2 or not isinstance(key[0], str):
            raise InvalidInputError(f"a label's key is (request_id, row), got {key!r}")
        row = check_integer(key[1], f"the row of request {key[0]!r}")
        stored = json_safe(label)
        if stored is None:
            raise InvalidInputError(
                f"the label of ({key[0]!r}, {row}) is missing ({label!r}); leave out the "
                "rows whose label has not arrived (frame.dropna(subset=['label']))"
            )
        by_row[key[0], row] = stored
    return by_row
