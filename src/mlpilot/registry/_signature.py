"""A model's signature: the columns it takes and what it returns, checked before use."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.errors import InvalidInputError

#: Kinds of column a signature knows, from the numpy dtype kind.
_KINDS = {
    "b": "boolean",
    "i": "integer",
    "u": "integer",
    "f": "number",
    "O": "string",
    "U": "string",
    "M": "datetime",
}
# Values of these kinds may stand where the signature wants those kinds.
_ACCEPTS = {"number": {"number", "integer", "boolean"}, "integer": {"integer", "boolean"}}


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    kind: str


@dataclasses.dataclass(frozen=True)
class Signature:
    """The input columns a model takes, in order, with their kinds, and its output."""

    inputs: tuple[Column, ...]
    output: str

    @classmethod
    def infer(cls, features: pd.DataFrame | np.ndarray, predictions: Any) -> Signature:
        """The signature of a model fed ``features`` that returned ``predictions``."""
        frame = _frame(features)
        inputs = tuple(Column(str(name), _kind(frame[name])) for name in frame.columns)
        output = _KINDS.get(np.asarray(predictions).dtype.kind, "string")
        return cls(inputs, output)

    def check(self, features: pd.DataFrame | np.ndarray) -> None:
        """Refuse data whose columns or kinds differ from the signature, naming the column.

        Raises:
            InvalidInputError: A missing column, or one of a kind the model does not take.
        """
        frame = _frame(features)
        have = {str(c): c for c in frame.columns}
        missing = [c.name for c in self.inputs if c.name not in have]
        if missing:
            raise InvalidInputError(
                f"the data lacks column(s) the model takes: {', '.join(missing[:10])}"
                + (f" (and {len(missing) - 10} more)" if len(missing) > 10 else "")
            )
        for column in self.inputs:
            kind = _kind(frame[have[column.name]])
            if kind != column.kind and kind not in _ACCEPTS.get(column.kind, set()):
                raise InvalidInputError(
                    f"column {column.name!r} holds {kind} values; the model takes {column.kind}"
                )

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [{"name": c.name, "type": c.kind} for c in self.inputs],
            "output": self.output,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        inputs: Sequence[Mapping[str, str]] = data.get("inputs", [])
        return cls(tuple(Column(c["name"], c["type"]) for c in inputs), str(data["output"]))


def _frame(features: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    if isinstance(features, pd.DataFrame):
        return features
    array = np.asarray(features)
    if array.ndim != 2:
        raise InvalidInputError(
            f"features must be a table (rows x columns), not shape {array.shape}"
        )
    return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])


def _kind(series: pd.Series) -> str:
    return _KINDS.get(series.dtype.kind, "string")
