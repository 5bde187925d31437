"""The Open Inference Protocol (KServe v2) over HTTP, binary tensor extension included.

A request is JSON, or, with the ``Inference-Header-Content-Length`` header, a JSON header
of that many bytes followed by the raw data of the inputs whose parameters give a
``binary_data_size``. Answers are JSON unless the request asks for binary outputs
(``"binary_data": true`` on an output, or ``"binary_data_output": true`` on the request),
in which case those outputs' data follows the JSON header the same way. Numbers travel
little-endian; each element of a ``BYTES`` tensor is a 4-byte little-endian length and
its bytes. Standard clients (``tritonclient.http``) use this form by default.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlpilot.errors import InvalidInputError
from mlpilot.serve._codec import Columns, Schema, decode
from mlpilot.serve._deployment import Deployment
from mlpilot.serve._server import HttpError, Server

#: The header that says how long a binary request's (or answer's) JSON part is.
HEADER_LENGTH = "Inference-Header-Content-Length"
#: What a model answers: its predictions, and a classifier's class probabilities.
PREDICT, PREDICT_PROBA = "predict", "predict_proba"

_DTYPES = {
    "BOOL": "?",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
#: The v2 datatype of each signature kind.
DATATYPES = {"number": "FP64", "integer": "INT64", "boolean": "BOOL", "string": "BYTES"}
_LENGTH = struct.Struct("<I")


@dataclasses.dataclass(frozen=True)
class InferRequest:
    """A decoded v2 inference request."""

    columns: Columns
    request_id: str | None
    #: The outputs asked for, in order; empty: every output the model has.
    outputs: tuple[str, ...]
    #: The outputs to send back as binary data.
    binary: frozenset[str]


def deployment_of(server: Server, name: str, version: str | None) -> Deployment:
    """The deployment of ``name``; with ``version``, only if its primary serves it."""
    deployment = server.deployment(name)
    if version and version != str(deployment.primary.version):
        raise HttpError(
            404,
            f"version {version!r} of model {name!r} is not the one served here "
            f"({deployment.primary.version}); address the model without a version",
        )
    return deployment


def model_metadata(deployment: Deployment) -> dict[str, Any]:
    """A model's metadata: the versions served, the inputs it takes, its outputs."""
    slot = deployment.primary
    record = slot.record
    signature = record.signature if record else None
    inputs = [
        {"name": c.name, "datatype": DATATYPES.get(c.kind, "BYTES"), "shape": [-1]}
        for c in (signature.inputs if signature else ())
    ]
    predict = DATATYPES.get(signature.output, "BYTES") if signature else "BYTES"
    outputs = [{"name": PREDICT, "datatype": predict, "shape": [-1]}]
    if slot.pool is not None and slot.pool.scores:
        outputs.append({"name": PREDICT_PROBA, "datatype": "FP64", "shape": [-1, -1]})
    return {
        "name": deployment.name,
        "versions": [str(s.version) for s in deployment.slots() if s.version],
        "platform": f"mlpilot/{record.flavor}" if record else "mlpilot",
        "inputs": inputs,
        "outputs": outputs,
    }


def read_request(raw: bytes, header_length: str | None, schema: Schema) -> InferRequest:
    """Decode and check a v2 inference request's body against ``schema``."""
    body, tail = _split(raw, header_length)
    if not isinstance(body, Mapping) or not isinstance(body.get("inputs"), list):
        raise InvalidInputError('a v2 inference request needs "inputs": [tensor, ...]')
    columns = columns_of(_with_binary_data(body["inputs"], tail), schema)
    outputs, binary = _outputs(body)
    return InferRequest(columns, body.get("id"), outputs, binary)


def columns_of(inputs: list[Any], schema: Schema) -> Columns:
    """The model's columns from v2 input tensors whose data are lists, checked: no input
    twice, none the model does not take, every value of its column's kind."""
    seen = [t.get("name") for t in inputs if isinstance(t, Mapping)]
    duplicates = sorted({n for n in seen if isinstance(n, str) and seen.count(n) > 1})
    if duplicates:
        raise InvalidInputError(f"input(s) {', '.join(map(repr, duplicates))} sent twice")
    if schema.names is not None and len(inputs) > 1:
        unknown = [n for n in seen if n not in schema.names]
        if unknown:
            raise InvalidInputError(
                f"unknown input(s) {', '.join(map(repr, unknown[:10]))}; the model takes "
                f"{', '.join(schema.names[:10])}" + (" ..." if len(schema.names) > 10 else "")
            )
    return schema.check(schema.read_v2({"inputs": inputs}))


def _split(raw: bytes, header_length: str | None) -> tuple[Any, bytes]:
    if header_length is None:
        return decode(raw), b""
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 <= length <= len(raw):
        raise InvalidInputError(
            f"{HEADER_LENGTH} is {header_length!r}; it must be the length of the JSON part "
            f"of the body, at most the body's {len(raw)} bytes"
        )
    return decode(raw[:length]), raw[length:]


def _with_binary_data(inputs: list[Any], tail: bytes) -> list[Any]:
    """The inputs, those sent as binary data given their values as lists."""
    decoded, offset = [], 0
    for index, tensor in enumerate(inputs):
        parameters = tensor.get("parameters") if isinstance(tensor, Mapping) else None
        size = parameters.get("binary_data_size") if isinstance(parameters, Mapping) else None
        if size is None:
            decoded.append(tensor)
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidInputError(f"inputs[{index}]: binary_data_size must be a byte count")
        if offset + size > len(tail):
            raise InvalidInputError(
                f"inputs[{index}] says it has {size} bytes of binary data, but the body "
                f"holds only {len(tail) - offset} more"
            )
        values = from_bytes(tail[offset : offset + size], tensor.get("datatype"), index)
        decoded.append({**tensor, "data": values})
        offset += size
    if offset != len(tail):
        raise InvalidInputError(
            f"the body holds {len(tail) - offset} bytes of binary data that no input claims"
        )
    return decoded


def from_bytes(data: bytes, datatype: Any, index: int) -> list[Any]:
    """The values of input ``index`` sent as raw bytes of ``datatype``."""
    if datatype == "BYTES":
        texts, offset = [], 0
        while offset < len(data):
            if offset + _LENGTH.size > len(data):
                raise InvalidInputError(f"inputs[{index}]: a BYTES element is cut short")
            (length,) = _LENGTH.unpack_from(data, offset)
            offset += _LENGTH.size
            if offset + length > len(data):
                raise InvalidInputError(f"inputs[{index}]: a BYTES element is cut short")
            try:
                texts.append(data[offset : offset + length].decode())
            except UnicodeDecodeError:
                raise InvalidInputError(f"inputs[{index}]: BYTES elements must be UTF-8") from None
            offset += length
        return texts
    dtype = _DTYPES.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise InvalidInputError(
            f"inputs[{index}] has datatype {datatype!r}; use one of {', '.join(_DTYPES)}, BYTES"
        )
    if len(data) % np.dtype(dtype).itemsize:
        raise InvalidInputError(
            f"inputs[{index}]: {len(data)} bytes is not a whole number of {datatype} values"
        )
    values: list[Any] = np.frombuffer(data, dtype=dtype).tolist()
    return values


def _outputs(body: Mapping[str, Any]) -> tuple[tuple[str, ...], frozenset[str]]:
    requested = body.get("outputs", [])
    parameters = body.get("parameters")
    all_binary = isinstance(parameters, Mapping) and parameters.get("binary_data_output") is True
    if not isinstance(requested, list) or not all(
        isinstance(o, Mapping) and isinstance(o.get("name"), str) for o in requested
    ):
        raise InvalidInputError('"outputs" must be a list of {"name": "..."} objects')
    names = tuple(o["name"] for o in requested)
    unknown = [n for n in names if n not in (PREDICT, PREDICT_PROBA)]
    if unknown:
        raise InvalidInputError(
            f"unknown output(s) {', '.join(map(repr, unknown))}; "
            f"the model's outputs are {PREDICT} and, for a classifier, {PREDICT_PROBA}"
        )
    binary = {
        o["name"]
        for o in requested
        if all_binary
        or (isinstance(o.get("parameters"), Mapping) and o["parameters"].get("binary_data"))
    }
    if all_binary and not names:
        binary = {PREDICT, PREDICT_PROBA}
    return names, frozenset(binary)


def output_tensors(
    predictions: Sequence[Any],
    scores: Sequence[Sequence[float]] | None,
    wanted: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """The ``wanted`` outputs (all the model gave, by default) as v2 tensors."""
    tensors = []
    if not wanted or PREDICT in wanted:
        tensors.append(
            {
                "name": PREDICT,
                "shape": [len(predictions)],
                "datatype": datatype_of(predictions),
                "data": list(predictions),
            }
        )
    if scores is not None and (not wanted or PREDICT_PROBA in wanted):
        tensors.append(
            {
                "name": PREDICT_PROBA,
                "shape": [len(scores), len(scores[0]) if scores else 0],
                "datatype": "FP64",
                "data": [p for row in scores for p in row],
            }
        )
    if wanted:
        tensors.sort(key=lambda t: wanted.index(t["name"]))
    return tensors


def datatype_of(values: Sequence[Any]) -> str:
    """The v2 datatype of a list of predictions."""
    first = values[0] if values else 0.0
    if isinstance(first, bool):
        return "BOOL"
    if isinstance(first, int):
        return "INT64"
    if isinstance(first, float):
        return "FP64"
    return "BYTES"


def encode_answer(answer: dict[str, Any], binary: frozenset[str]) -> tuple[bytes, dict[str, str]]:
    """The answer's body and extra headers: plain JSON, or with ``binary`` outputs' data
    after a JSON header (``Inference-Header-Content-Length`` says where it ends)."""
    blobs = []
    for tensor in answer["outputs"]:
        if tensor["name"] in binary:
            blob = to_bytes(tensor.pop("data"), tensor["datatype"])
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
    header = json.dumps(answer, separators=(",", ":"), allow_nan=False).encode()
    if not blobs:
        return header, {}
    return header + b"".join(blobs), {HEADER_LENGTH: str(len(header))}


def to_bytes(values: list[Any], datatype: str) -> bytes:
    """``values`` as the raw bytes of a ``datatype`` tensor."""
    if datatype == "BYTES":
        parts = []
        for value in values:
            encoded = str(value).encode()
            parts += [_LENGTH.pack(len(encoded)), encoded]
        return b"".join(parts)
    return np.asarray(values, dtype=_DTYPES[datatype]).tobytes()
