"""Request bodies in, columns out, and answers back: the simple JSON form and the Open
Inference Protocol (KServe v2).

Parsing happens in the server's event loop on every request, so it works on plain
Python lists, column by column; the worker process builds one frame for a whole batch.
Every refusal names the field that was wrong.
"""

from __future__ import annotations

import collections
import json
import math
from collections.abc import Mapping
from typing import Any

from mlpilot.errors import InvalidInputError
from mlpilot.registry import Signature

Columns = dict[str, list[Any]]

# What a JSON value must be for a column of each signature kind.
_NUMBER = (int, float)
_V2_TYPES = {"BOOL": "boolean", "BYTES": "string", "FP16": "number", "FP32": "number"}
_V2_TYPES |= {"FP64": "number"} | {f"{s}INT{b}": "integer" for s in "U" for b in (8, 16, 32, 64)}
_V2_TYPES |= {f"INT{b}": "integer" for b in (8, 16, 32, 64)}


class Schema:
    """The columns a served model takes, from its signature, or from the first request
    when the version was registered without one."""

    def __init__(self, signature: Signature | None) -> None:
        self.names = [c.name for c in signature.inputs] if signature else None
        self.kinds = {c.name: c.kind for c in signature.inputs} if signature else {}

    def columns(self, body: Any) -> Columns:
        """The model's columns from a ``/predict`` body, checked."""
        return self.check(self.read(body))

    def v2_columns(self, body: Any) -> Columns:
        """The model's columns from a v2 ``/infer`` body, checked."""
        return self.check(self.read_v2(body))

    def read(self, body: Any) -> Columns:
        """The columns of a ``/predict`` body as sent, ``{"records": [{...}, ...]}`` or
        ``{"columns": {"name": [...], ...}}``; :meth:`check` takes the model's from them."""
        if not isinstance(body, Mapping) or not ({"records", "columns"} & body.keys()):
            raise InvalidInputError(
                'send {"records": [{"column": value, ...}, ...]} or '
                '{"columns": {"column": [values], ...}}'
            )
        if "records" in body:
            return _from_records(body["records"])
        columns = body["columns"]
        if not isinstance(columns, Mapping) or not columns:
            raise InvalidInputError('"columns" must be an object of column name to values')
        return {str(k): v for k, v in columns.items()}

    def read_v1(self, body: Any) -> Columns:
        """The columns of a KServe v1 ``:predict`` body, ``{"instances": [...]}`` (or
        ``"inputs"``): each instance an object of column to value, or a list of values in
        the order of the model's signature."""
        if not isinstance(body, Mapping) or not ({"instances", "inputs"} & body.keys()):
            raise InvalidInputError('a v1 predict request needs "instances": [row, ...]')
        instances = body.get("instances", body.get("inputs"))
        if not isinstance(instances, list) or not instances:
            raise InvalidInputError('"instances" must be a non-empty list of rows')
        if isinstance(instances[0], Mapping):
            return _from_records(instances)
        if self.names is None:
            raise InvalidInputError(
                "this model was registered without a signature, so its columns have no "
                "order: send each instance as an object of column name to value"
            )
        columns: Columns = {n: [] for n in self.names}
        for index, instance in enumerate(instances):
            if not isinstance(instance, list) or len(instance) != len(self.names):
                raise InvalidInputError(
                    f"instances[{index}] must be a list of {len(self.names)} values, one per "
                    f"column the model takes, or an object of column name to value"
                )
            for name, value in zip(self.names, instance, strict=True):
                columns[name].append(value)
        return columns

    def read_v2(self, body: Any) -> Columns:
        """The columns of a v2 ``/infer`` body as sent: one tensor per column (shape
        ``[n]``), or one ``[n, width]`` tensor whose columns are this schema's, in order."""
        if not isinstance(body, Mapping) or not isinstance(body.get("inputs"), list):
            raise InvalidInputError('a v2 inference request needs "inputs": [tensor, ...]')
        tensors = body["inputs"]
        if not tensors:
            raise InvalidInputError('"inputs" is empty')
        if len(tensors) == 1 and len(_shape(tensors[0], 0)) == 2:
            return self._from_matrix(tensors[0])
        columns: Columns = {}
        for index, tensor in enumerate(tensors):
            shape = _shape(tensor, index)
            name = tensor.get("name")
            if not isinstance(name, str):
                raise InvalidInputError(f"inputs[{index}] needs a name")
            if len(shape) != 1:
                raise InvalidInputError(
                    f"input {name!r} has shape {shape}; send one [rows] tensor per column "
                    "or a single [rows, columns] tensor"
                )
            columns[name] = _data(tensor, name, shape[0])
        return columns

    def _from_matrix(self, tensor: Mapping[str, Any]) -> Columns:
        rows, width = _shape(tensor, 0)
        name = tensor.get("name", "input-0")
        if self.names is None:
            names = [f"x{i}" for i in range(width)]
        elif width != len(self.names):
            raise InvalidInputError(
                f"input {name!r} has {width} columns; the model takes {len(self.names)}"
            )
        else:
            names = self.names
        flat = _data(tensor, name, rows * width)
        return {n: flat[i::width] for i, n in enumerate(names)}

    def check(self, columns: Columns) -> Columns:
        """Refuse missing columns, ragged lengths, and values of the wrong kind, NaN
        and infinities included."""
        # Without a signature the request's own columns are taken as they come; a request
        # never changes what later ones are checked against.
        names = self.names if self.names is not None else list(columns)
        missing = [n for n in names if n not in columns]
        if missing or not columns:
            raise InvalidInputError(
                f"missing column(s) the model takes: {', '.join(missing[:10]) or 'all'}"
                + (f" (and {len(missing) - 10} more)" if len(missing) > 10 else "")
            )
        bad = next((k for k, v in columns.items() if not isinstance(v, list)), None)
        if bad is not None:
            raise InvalidInputError(f"column {bad!r} must be a list of values")
        lengths = collections.Counter(len(v) for v in columns.values())
        if len(lengths) > 1:
            rows = lengths.most_common(1)[0][0]
            odd = [k for k, v in columns.items() if len(v) != rows]
            raise InvalidInputError(
                f"column(s) {', '.join(map(repr, odd[:10]))} hold a different number of "
                f"values than the others ({rows}); every column needs one value per row"
            )
        if not next(iter(lengths)):
            raise InvalidInputError("the request holds no rows")
        for name in names:
            _check_values(name, columns[name], self.kinds.get(name))
        return {n: columns[n] for n in names}


def _from_records(records: Any) -> Columns:
    if not isinstance(records, list) or not records:
        raise InvalidInputError('"records" must be a non-empty list of objects')
    first = records[0]
    if not isinstance(first, Mapping):
        raise InvalidInputError("records[0] must be an object of column name to value")
    names = list(first)
    columns: Columns = {n: [] for n in names}
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise InvalidInputError(f"records[{index}] must be an object")
        for name in names:
            try:
                columns[name].append(record[name])
            except KeyError:
                raise InvalidInputError(f"records[{index}] lacks column {name!r}") from None
    return columns


def _check_values(name: str, values: list[Any], kind: str | None) -> None:
    if kind in ("number", "integer"):
        for i, value in enumerate(values):
            if type(value) is float:
                if not math.isfinite(value):
                    raise InvalidInputError(f"column {name!r} row {i}: {value} is not allowed")
            elif not isinstance(value, _NUMBER) or type(value) is bool:
                raise InvalidInputError(
                    f"column {name!r} row {i}: expected a number, got {_json_kind(value)}"
                )
        if kind == "integer" and any(type(v) is float and not v.is_integer() for v in values):
            raise InvalidInputError(f"column {name!r} takes whole numbers")
        return
    for i, value in enumerate(values):
        if value is None:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError(f"column {name!r} row {i}: {value} is not allowed")
        if kind is None and not isinstance(value, (*_NUMBER, str, bool)):
            raise InvalidInputError(
                f"column {name!r} row {i}: expected a number or string, got {_json_kind(value)}"
            )
        if kind == "string" and not isinstance(value, str):
            raise InvalidInputError(
                f"column {name!r} row {i}: expected a string, got {_json_kind(value)}"
            )
        if kind == "boolean" and not isinstance(value, bool):
            raise InvalidInputError(
                f"column {name!r} row {i}: expected true or false, got {_json_kind(value)}"
            )


def _shape(tensor: Any, index: int) -> list[int]:
    if not isinstance(tensor, Mapping):
        raise InvalidInputError(f"inputs[{index}] must be an object")
    shape = tensor.get("shape")
    if not (
        isinstance(shape, list)
        and shape
        and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise InvalidInputError(f"inputs[{index}] needs a shape: a list of non-negative ints")
    datatype = tensor.get("datatype")
    if datatype not in _V2_TYPES:
        raise InvalidInputError(
            f"inputs[{index}] has datatype {datatype!r}; use one of {', '.join(_V2_TYPES)}"
        )
    return shape


def _data(tensor: Mapping[str, Any], name: str, size: int) -> list[Any]:
    data = tensor.get("data")
    if not isinstance(data, list):
        raise InvalidInputError(f"input {name!r} needs its values as a flat list in data")
    if data and isinstance(data[0], list):  # row-major nesting is allowed by the protocol
        data = [v for row in data for v in (row if isinstance(row, list) else [row])]
    if len(data) != size:
        raise InvalidInputError(f"input {name!r} has {len(data)} values, its shape says {size}")
    return data


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def decode(raw: bytes) -> Any:
    """The JSON in a request body."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise InvalidInputError("the body's JSON is nested too deeply to read") from None
    except ValueError as exc:  # malformed, not UTF-8, or a number too long to convert
        raise InvalidInputError(f"the body is not valid JSON: {exc}") from None
