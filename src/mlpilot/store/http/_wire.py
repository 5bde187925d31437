"""The storage interfaces as HTTP operations: one typed ``POST`` per interface method.

Both ends read the same catalogue, built from the protocols of :mod:`mlpilot.store.base`
themselves: the server routes ``/api/v1/<domain>/<method>`` to the store's
implementation, and the HTTP client implements each protocol by calling those routes.
A method's parameters become the fields of its request body and its return annotation
the schema of its answer, so the OpenAPI document states every operation, and a method
added to an interface is served and called without a line here.

A few types have no JSON form of their own and get one: metric series (three arrays),
mappings keyed by tuples (lists of ``[key, value]`` pairs), and data frames (pandas'
table orientation, which keeps column types).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import io
import json
import types
import typing
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Annotated, Any

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    create_model,
)
from pydantic_core import PydanticSerializationError, to_json

from mlpilot import errors
from mlpilot.store.base._tracking import AsText, Series

#: The path every operation lives under.
PREFIX = "/api/v1"

#: Each domain of a :class:`~mlpilot.store.Store` and the protocol its records follow
#: (imported when the domain is first used: a client of one domain loads no other).
DOMAINS: dict[str, str] = {
    "tracking": "_tracking:TrackingRecords",
    "datasets": "_datasets:DatasetRecords",
    "pipelines": "_pipelines:PipelineRecords",
    "studies": "_studies:StudyRecords",
    "registry": "_registry:RegistryRecords",
    "predictions": "_predictions:PredictionRecords",
    "monitors": "_monitors:MonitorRecords",
    "events": "_events:EventRecords",
    "leases": "_leases:LeaseRecords",
    "triggers": "_triggers:TriggerRecords",
    "accounts": "_accounts:AccountRecords",
}


def protocol_of(domain: str) -> type:
    """The protocol ``domain``'s records follow."""
    module, _, name = DOMAINS[domain].partition(":")
    found: type = getattr(importlib.import_module(f"mlpilot.store.base.{module}"), name)
    return found


#: The answer's status for each error a store raises on purpose, most specific first;
#: the client raises the same class again from the body's ``error``.
STATUS: dict[type[errors.MlpilotError], int] = {
    errors.NotFoundError: 404,
    errors.AccessDeniedError: 403,
    errors.ConflictError: 409,
    errors.FilterError: 400,
    errors.InvalidInputError: 400,
    errors.ConfigError: 400,
    errors.ArtifactCorruptedError: 500,
    errors.StoreError: 503,
}
ERRORS: dict[str, type[errors.MlpilotError]] = {cls.__name__: cls for cls in STATUS}

#: Parameters that name the calling process: a client fills them with its own, since
#: the server's would make every run look like the server's.
PROCESS_PARAMETERS = {"host", "pid"}

#: The header that carries the warnings a call raised (a JSON list of [category, text]).
WARNINGS_HEADER = "x-mlpilot-warnings"
#: The header that names who makes the call on a server without authentication.
USER_HEADER = "x-mlpilot-user"


class ErrorBody(BaseModel):
    """What every failed operation answers."""

    error: str
    detail: str


# -- JSON forms of the types that have none ----------------------------------------------


def _series_to_json(series: Series) -> dict[str, list[Any]]:
    return {
        "steps": series.steps.tolist(),
        "stamps": series.stamps.tolist(),
        "values": series.values.tolist(),
    }


def _series_from_json(value: Any) -> Series:
    if isinstance(value, Series):
        return value
    if not isinstance(value, Mapping) or set(value) != {"steps", "stamps", "values"}:
        raise ValueError("a series is an object of three arrays: steps, stamps and values")
    try:
        return Series.of(
            np.asarray(value["steps"], dtype=np.int64),
            np.asarray(value["stamps"], dtype=np.int64),
            np.asarray(value["values"], dtype=np.float64),
        )
    except (OverflowError, TypeError) as exc:
        raise ValueError(f"steps and stamps are 64-bit integers, values numbers: {exc}") from None


_SERIES = Annotated[
    Series,
    PlainValidator(_series_from_json),
    PlainSerializer(_series_to_json),
    WithJsonSchema(
        {
            "type": "object",
            "properties": {
                "steps": {"type": "array", "items": {"type": "integer"}},
                "stamps": {"type": "array", "items": {"type": "integer"}},
                "values": {"type": "array", "items": {"type": "number"}},
            },
            "required": ["steps", "stamps", "values"],
        }
    ),
]


def _is_frame(annotation: Any) -> bool:
    # By name: pandas loads only for the domains whose records hold frames.
    return getattr(annotation, "__module__", "").startswith("pandas") and (
        getattr(annotation, "__name__", "") == "DataFrame"
    )


def _frame_to_json(frame: Any) -> Any:
    return json.loads(frame.to_json(orient="table", index=False, date_unit="ns"))


def _frame_from_json(value: Any) -> Any:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return value
    frame = pd.read_json(io.StringIO(json.dumps(value)), orient="table")
    return frame.reset_index(drop=True)


def _frame(annotation: Any) -> Any:
    return Annotated[
        annotation,
        PlainValidator(_frame_from_json),
        PlainSerializer(_frame_to_json),
        WithJsonSchema({"type": "object", "description": "a table (pandas' orient='table')"}),
    ]


def _pairs(key: Any, value: Any) -> Any:
    """A mapping keyed by tuples, as a list of ``[key, value]`` pairs."""
    pair: TypeAdapter[Any] = TypeAdapter(list[tuple[key, value]])

    def validate(given: Any) -> dict[Any, Any]:
        if isinstance(given, Mapping):
            given = list(given.items())
        return dict(pair.validate_python(given))

    def serialize(mapping: Mapping[Any, Any]) -> Any:
        return pair.dump_python(list(mapping.items()), mode="json")

    return Annotated[
        Mapping[key, value],
        PlainValidator(validate),
        PlainSerializer(serialize),
        WithJsonSchema(pair.json_schema()),
    ]


def _labels(given: Any) -> Any:
    from mlpilot.store.base._predictions import label_rows

    # A frame of labels travels as the mapping it stands for.
    return _LABEL_PAIRS.validate_python(label_rows(given) if _is_frame(type(given)) else given)


def _labels_to_json(given: Any) -> Any:
    from mlpilot.store.base._predictions import label_rows

    # Checked here, as a local store checks them, so that a mistake reads the same.
    return _LABEL_PAIRS.dump_python(label_rows(given), mode="json")


def _as_text(values: Any) -> Any:
    if not isinstance(values, Mapping):
        return values  # not a mapping: the store says so
    return {key: value if isinstance(value, str) else str(value) for key, value in values.items()}


def wire_type(annotation: Any) -> Any:
    """``annotation`` with every type that has no JSON form replaced by one that has."""
    if typing.get_origin(annotation) is Annotated and any(
        isinstance(mark, AsText) for mark in annotation.__metadata__
    ):
        return Annotated[
            Mapping[str, Any],
            PlainSerializer(_as_text),
            WithJsonSchema({"type": "object", "additionalProperties": {"type": "string"}}),
        ]
    if annotation is Series:
        return _SERIES
    if _is_frame(annotation):
        return _frame(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is None or not args:
        return annotation
    if origin in (Mapping, dict) and typing.get_origin(args[0]) is tuple:
        return _pairs(args[0], wire_type(args[1]))
    if origin in (Iterable, Sequence, Collection):
        # Requests hold materialised lists: a generator is read once, to be sent.
        return list[wire_type(args[0])]  # type: ignore[misc]
    if origin in (typing.Union, types.UnionType):
        members = [wire_type(a) for a in args]
        if any(map(_is_frame, args)) and any(typing.get_origin(a) in (Mapping, dict) for a in args):
            # Labels: a mapping, or a frame that stands for one.
            return Annotated[Any, PlainValidator(_labels), _LABELS_SERIALIZER]
        return functools.reduce(lambda a, b: a | b, members)
    if origin is Annotated:
        return annotation
    if origin is tuple and Ellipsis not in args:
        # A fixed tuple: an array of that many items. (OpenAPI documents and the tools
        # that read them disagree about prefixItems, so the items are described alike.)
        schemas = [TypeAdapter(a).json_schema() for a in args]
        items = schemas[0] if all(s == schemas[0] for s in schemas) else {}
        return Annotated[
            annotation,
            WithJsonSchema(
                {"type": "array", "items": items, "minItems": len(args), "maxItems": len(args)}
            ),
        ]
    return origin[tuple(wire_type(a) for a in args)]


_LABEL_PAIRS = TypeAdapter(_pairs(tuple[str, int], Any))
_LABELS_SERIALIZER = PlainSerializer(_labels_to_json)


_JSON_SCALARS = (Any, str, int, float, bool, type(None))


def _plain_json(annotation: Any) -> bool:
    """Whether JSON's own values are already of ``annotation`` (no record, tuple or
    type with a form of its own anywhere inside it)."""
    if annotation in _JSON_SCALARS:
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (
        list,
        dict,
        Sequence,
        Mapping,
        Iterable,
        Collection,
        typing.Union,
        types.UnionType,
    ):
        if origin in (dict, Mapping) and args and args[0] is not str:
            return False
        return all(_plain_json(arg) for arg in args)
    return False


def _lenient(annotation: Any, adapter: TypeAdapter[Any]) -> Any:
    """``annotation`` (read by ``adapter``) for a request: documented as itself, but a
    value that does not fit reaches the store as sent, so that the store refuses it with
    the error, and the message, it gives a local caller (a name with a slash, a row
    without its model) rather than with a schema's."""
    if _plain_json(annotation):
        # JSON gives such a value its Python type already: checking would cost time (a
        # thousand metric points) and change nothing, as a misfit goes on as sent.
        return Annotated[Any, WithJsonSchema(adapter.json_schema())]

    def validate(value: Any) -> Any:
        try:
            return adapter.validate_python(value, strict=True)
        except ValidationError:
            if not isinstance(value, dict | list):
                return value  # a scalar of the wrong type: the store names it
        try:
            # Records and tuples arrive as JSON objects and arrays: strict JSON reads
            # them so, and still refuses "2" for a number.
            return adapter.validate_json(json.dumps(value), strict=True)
        except (ValidationError, TypeError, ValueError):
            return value

    return Annotated[
        Any,
        PlainValidator(validate),
        # Python values, which the request then writes as JSON with NaN kept as NaN.
        PlainSerializer(lambda value: adapter.dump_python(value, warnings=False)),
        WithJsonSchema(adapter.json_schema()),
    ]


# -- the catalogue -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Operation:
    """One interface method, as the server routes it and the client calls it."""

    domain: str
    name: str
    doc: str
    #: Parameter name -> (JSON-able type, default or ``...`` when required), in order.
    parameters: dict[str, tuple[Any, Any]]
    request: type[BaseModel]
    #: The answer's body: ``{"result": <the method's return value>}``.
    answer: type[BaseModel]
    #: Each parameter's type, to tell which arguments a store's failure came from.
    checks: dict[str, TypeAdapter[Any]] = dataclasses.field(default_factory=dict)
    #: The parameter that gathers keyword arguments (``**payload``), sent as an object.
    spread: str | None = None

    @property
    def path(self) -> str:
        return f"{PREFIX}/{self.domain}/{self.name}"

    def encode_request(self, arguments: Mapping[str, Any]) -> bytes:
        # Sent as given, not checked here: the server's store checks them, so that a
        # mistake raises the error, and the message, it raises in a local store. NaN
        # and infinities travel as their JavaScript literals, for the same reason.
        request = self.request.model_construct(**arguments)
        try:
            return request.model_dump_json(warnings=False, fallback=_plain).encode()
        except (PydanticSerializationError, _NotJson) as exc:
            reason = str(exc).removeprefix("Error serializing to JSON: ")
            raise errors.InvalidInputError(
                f"the arguments of {self.name} cannot be sent to the server: {reason}"
            ) from None

    def misfits(self, arguments: Mapping[str, Any]) -> list[str]:
        """What in ``arguments`` does not fit this operation's schema, one line each."""
        found = []
        for name, value in arguments.items():
            if name not in self.checks:
                continue  # a keyword of **payload: any JSON fits
            try:
                self.checks[name].validate_json(to_json(value, fallback=str), strict=True)
            except (ValidationError, PydanticSerializationError) as exc:
                first = exc.errors()[0] if isinstance(exc, ValidationError) else {"msg": str(exc)}
                where = ".".join(str(p) for p in (name, *first.get("loc", ())))
                found.append(f"{where}: {first['msg']}")
        return found

    def encode_answer(self, result: Any) -> bytes:
        return self.answer(result=result).model_dump_json().encode()

    def decode_answer(self, body: bytes) -> Any:
        return self.answer.model_validate_json(body).result  # type: ignore[attr-defined]


class _NotJson(TypeError):
    pass


def _plain(value: Any) -> Any:
    """The JSON form of a value pydantic does not know: NumPy's numbers and arrays as
    Python's; anything else cannot be sent."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise _NotJson(
        f"{value!r} ({type(value).__name__}) is not one of JSON's types (text, numbers, "
        "booleans, null, lists and objects of them)"
    )


class _Request(BaseModel):
    model_config = ConfigDict(
        arbitrary_types_allowed=True, extra="forbid", ser_json_inf_nan="constants"
    )


class _Answer(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, ser_json_inf_nan="constants")


def _operation(domain: str, protocol: type, name: str, method: Callable[..., Any]) -> Operation:
    module = inspect.getmodule(protocol)
    hints = typing.get_type_hints(method, vars(module), include_extras=True)
    parameters: dict[str, tuple[Any, Any]] = {}
    checks: dict[str, TypeAdapter[Any]] = {}
    spread = None
    for parameter in list(inspect.signature(method).parameters.values())[1:]:
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        annotation = wire_type(hints[parameter.name])
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            spread, annotation, default = parameter.name, dict[str, annotation], {}  # type: ignore[valid-type]
        checks[parameter.name] = TypeAdapter(annotation)
        parameters[parameter.name] = (_lenient(annotation, checks[parameter.name]), default)
    title = f"{domain.title()}{''.join(part.title() for part in name.split('_'))}"
    request = create_model(  # type: ignore[call-overload]
        f"{title}Request", __base__=_Request, **parameters
    )
    answer = create_model(
        f"{title}Answer", __base__=_Answer, result=(wire_type(hints.get("return")), ...)
    )
    return Operation(
        domain=domain,
        name=name,
        doc=inspect.cleandoc(method.__doc__ or ""),
        parameters=parameters,
        request=request,
        answer=answer,
        checks=checks,
        spread=spread,
    )


@functools.cache
def domain_operations(domain: str) -> dict[str, Operation]:
    """The operations of one domain, by method (built once per process)."""
    protocol = protocol_of(domain)
    return {
        name: _operation(domain, protocol, name, method)
        for name, method in vars(protocol).items()
        if not name.startswith("_") and inspect.isfunction(method)
    }


def operations() -> dict[tuple[str, str], Operation]:
    """Every operation of every domain, by ``(domain, method)``."""
    return {
        (domain, name): operation
        for domain in DOMAINS
        for name, operation in domain_operations(domain).items()
    }


def status_of(error: errors.MlpilotError) -> int:
    """The answer's status for ``error``: its class's ``http_status`` if it has one."""
    own = getattr(error, "http_status", None)
    if isinstance(own, int):
        return own
    for cls, status in STATUS.items():
        if isinstance(error, cls):
            return status
    return 400
