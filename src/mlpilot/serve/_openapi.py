"""The inference server's OpenAPI document, prediction routes included.

The prediction routes are plain Starlette routes (FastAPI's parameter machinery costs
more per request than the rest of the server), so FastAPI does not see them: their
operations are declared here, with the bodies they take and give as pydantic models, and
merged into the document FastAPI builds for the other routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every refusal: what was wrong, and how to put it right."""

    error: str


class PredictRequest(BaseModel):
    """Rows as records or as columns; ``scores`` asks a classifier for probabilities."""

    records: list[dict[str, Any]] | None = Field(None, min_length=1)
    columns: dict[str, list[Any]] | None = None
    scores: bool = False


class PredictAnswer(BaseModel):
    id: str
    model: str
    version: int
    role: str = Field(description="primary or canary: which version answered")
    predictions: list[Any]
    scores: list[list[float]] | None = None


class Tensor(BaseModel):
    """A v2 tensor; with the binary extension, ``parameters.binary_data_size`` replaces
    ``data``."""

    name: str
    shape: list[int]
    datatype: str
    data: list[Any] | None = None
    parameters: dict[str, Any] | None = None


class RequestedOutput(BaseModel):
    name: str = Field(description="predict, or predict_proba for a classifier")
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    id: str | None = None
    inputs: list[Tensor]
    outputs: list[RequestedOutput] | None = None
    parameters: dict[str, Any] | None = None


class InferAnswer(BaseModel):
    model_name: str
    model_version: str
    id: str
    outputs: list[Tensor]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]


class Readiness(BaseModel):
    name: str
    ready: bool


class V1Request(BaseModel):
    """Rows as lists in the signature's order, or as objects by column."""

    instances: list[Any] | None = Field(None, min_length=1)
    inputs: list[Any] | None = None


class V1Answer(BaseModel):
    predictions: list[Any]


_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}
_REFUSALS = {
    404: "No such model (or version) is served here.",
    413: "The body is over max_body_mb.",
    415: "The body is neither JSON nor, for v2, binary tensors.",
    422: "The body is malformed, or a value does not fit the model's signature.",
    503: "The worker predicting the request died before it answered.",
}

#: (path, method, summary, request body, answer, refusals) of each plain route.
_OPERATIONS: list[tuple[str, str, str, type[BaseModel] | None, type[BaseModel], tuple[int, ...]]]
_OPERATIONS = [
    (
        "/models/{name}/predict",
        "post",
        "Predict rows sent as records or columns",
        PredictRequest,
        PredictAnswer,
        (404, 413, 415, 422, 503),
    ),
    (
        "/v1/models/{name}:predict",
        "post",
        "Predict instances (KServe v1)",
        V1Request,
        V1Answer,
        (404, 413, 415, 422, 503),
    ),
]
for _prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
    _OPERATIONS += [
        (
            f"{_prefix}/infer",
            "post",
            "Infer (Open Inference Protocol, JSON or binary tensors)",
            InferRequest,
            InferAnswer,
            (400, 404, 413, 415, 422, 503),
        ),
        (_prefix, "get", "A model's inputs and outputs", None, ModelMetadata, (404,)),
        (f"{_prefix}/ready", "get", "Whether a model is ready", None, Readiness, (404, 503)),
    ]


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` describe the plain prediction routes too."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def _document(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(title=app.title, version=app.version, routes=app.routes)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    models: set[type[BaseModel]] = {ErrorBody}
    for _, _, _, body, answer, _ in _OPERATIONS:
        models |= {answer} if body is None else {body, answer}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    for path, method, summary, body, answer, refusals in _OPERATIONS:
        operation: dict[str, Any] = {
            "summary": summary,
            "operationId": f"{method}_{path.strip('/').replace('/', '_')}",
            "parameters": [_NAME, _VERSION] if "{version}" in path else [_NAME],
            "responses": {
                "200": {"description": "The answer.", "content": _json(answer.__name__)},
                **{
                    str(code): {
                        "description": _REFUSALS.get(
                            code, "The request asks for what the model does not give."
                        ),
                        "content": _json("ErrorBody"),
                    }
                    for code in refusals
                },
            },
        }
        if body is not None:
            content = _json(body.__name__)
            if body is InferRequest:
                content["application/octet-stream"] = {
                    "schema": {"type": "string", "format": "binary"}
                }
            operation["requestBody"] = {"required": True, "content": content}
        spec["paths"].setdefault(path, {})[method] = operation
    return spec


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
