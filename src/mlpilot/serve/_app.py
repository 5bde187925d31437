"""The HTTP API over a :class:`~mlpilot.serve._server.Server` (the simple JSON form,
the Open Inference Protocol, Prometheus metrics), and running it under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import signal
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlpilot.errors import ConfigError, InvalidInputError, NotFoundError
from mlpilot.serve import _openapi
from mlpilot.serve._config import ServeConfig
from mlpilot.serve._server import JSON, OCTET_STREAM, HttpError, Server
from mlpilot.serve._v2 import (
    HEADER_LENGTH,
    PREDICT_PROBA,
    deployment_of,
    encode_answer,
    model_metadata,
    output_tensors,
    read_request,
)
from mlpilot.tracking import TrackingClient


def create_app(server: Server) -> FastAPI:
    """The HTTP API over ``server``: the simple JSON form, the Open Inference Protocol
    (KServe v2), KServe's v1 protocol, and Prometheus metrics."""
    from mlpilot import __version__

    app = FastAPI(
        title="mlpilot inference server", version=__version__, docs_url="/docs", redoc_url=None
    )
    _openapi.install(app)

    @app.exception_handler(HttpError)
    async def _http_error(request: Request, exc: HttpError) -> Response:
        server.metrics.rejected(exc.status)
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(InvalidInputError)
    async def _invalid(request: Request, exc: InvalidInputError) -> Response:
        server.metrics.rejected(422)
        return JSONResponse({"error": str(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _routing(request: Request, exc: StarletteHTTPException) -> Response:
        # An unknown path or method: the same {"error": ...} body as every other refusal.
        server.metrics.rejected(exc.status_code)
        return JSONResponse(
            {"error": f"{exc.detail}: {request.method} {request.url.path}"},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=404)

    # The two prediction routes are plain Starlette routes: FastAPI's parameter
    # machinery costs more per request than everything else the server does.
    async def predict(request: Request) -> Response:
        """Predict rows sent as ``{"records": [...]}`` or ``{"columns": {...}}``; with
        ``"scores": true``, a classifier's class probabilities too."""
        name = request.path_params["name"]
        deployment = server.deployment(name)
        body = await server.body(request)
        columns = deployment.primary.schema.read(body)
        request_id = _request_id(request.headers.get("x-request-id"))
        scores = body.get("scores", False)
        if not isinstance(scores, bool):
            raise HttpError(422, '"scores" is true or false')
        served = await server.predict(name, columns, request_id, scores)
        answer = {
            "id": request_id,
            "model": name,
            "version": served.version,
            "role": served.role,
            "predictions": served.predictions,
        }
        if served.scores is not None:
            answer["scores"] = served.scores
        return _json(answer, request_id)

    async def infer(request: Request) -> Response:
        """The Open Inference Protocol's inference request, JSON or binary."""
        name = request.path_params["name"]
        deployment = deployment_of(server, name, request.path_params.get("version"))
        raw = await server.raw_body(request, binary=True)
        decoded = read_request(raw, request.headers.get(HEADER_LENGTH), deployment.primary.schema)
        request_id = _request_id(decoded.request_id or request.headers.get("x-request-id"))
        pool = deployment.primary.pool
        if PREDICT_PROBA in decoded.outputs and pool is not None and not pool.scores:
            raise HttpError(400, f"model {name!r} gives no {PREDICT_PROBA}: it is no classifier")
        scores = not decoded.outputs or PREDICT_PROBA in decoded.outputs
        served = await server.predict(name, decoded.columns, request_id, scores)
        answer = {
            "model_name": name,
            "model_version": str(served.version),
            "id": request_id,
            "outputs": output_tensors(served.predictions, served.scores, decoded.outputs),
        }
        try:
            content, headers = encode_answer(answer, decoded.binary)
        except ValueError:
            raise HttpError(422, _NOT_FINITE) from None
        media_type = OCTET_STREAM if headers else JSON
        return Response(
            content, media_type=media_type, headers={"x-request-id": request_id, **headers}
        )

    app.add_route("/models/{name}/predict", predict, methods=["POST"])
    for prefix in _V2_MODEL_PATHS:
        app.add_route(f"{prefix}/infer", infer, methods=["POST"])

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready", responses=_UNAVAILABLE)
    async def ready() -> Response:
        return JSONResponse({"ready": server.ready}, status_code=200 if server.ready else 503)

    @app.get("/v2")
    async def metadata() -> dict[str, Any]:
        return {"name": "mlpilot", "version": __version__, "extensions": []}

    async def metadata_v2(request: Request) -> Response:
        """A model's v2 metadata: its versions, inputs and outputs."""
        name = request.path_params["name"]
        deployment = deployment_of(server, name, request.path_params.get("version"))
        return JSONResponse(model_metadata(deployment))

    async def model_ready(request: Request) -> Response:
        """Whether a model (or one version of it) has a worker ready to predict."""
        name = request.path_params["name"]
        loaded = deployment_of(server, name, request.path_params.get("version")).primary.pool
        ready = loaded is not None
        return JSONResponse({"name": name, "ready": ready}, status_code=200 if ready else 503)

    for prefix in _V2_MODEL_PATHS:
        app.add_route(prefix, metadata_v2, methods=["GET"])
        app.add_route(f"{prefix}/ready", model_ready, methods=["GET"])

    async def predict_v1(request: Request) -> Response:
        """KServe's v1 protocol: ``{"instances": [...]}`` in, ``{"predictions": [...]}`` out."""
        name = request.path_params["name"]
        deployment = server.deployment(name)
        columns = deployment.primary.schema.read_v1(await server.body(request))
        request_id = _request_id(request.headers.get("x-request-id"))
        served = await server.predict(name, columns, request_id, False)
        return _json({"predictions": served.predictions}, request_id)

    app.add_route("/v1/models/{name}:predict", predict_v1, methods=["POST"])

    @app.get("/v1/models")
    async def models_v1() -> dict[str, list[str]]:
        return {"models": list(server.deployments)}

    @app.get("/v1/models/{name}", responses={**_NOT_SERVED, **_UNAVAILABLE})
    async def model_v1(name: str) -> Response:
        ready = server.deployment(name).primary.pool is not None
        return JSONResponse({"name": name, "ready": ready}, status_code=200 if ready else 503)

    @app.get("/models")
    async def models() -> list[dict[str, Any]]:
        return server.describe()

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
    )
    async def metrics() -> Response:
        return Response(server.metrics.exposition(), media_type="text/plain; version=0.0.4")

    return app


def _request_id(given: Any) -> str:
    """The client's id for the request (``X-Request-ID``, or a v2 body's ``id``), by
    which labels join its predictions later; a new one where none was given."""
    if given is None or given == "":
        return uuid.uuid4().hex
    if not isinstance(given, str) or len(given) > 64 or not given.isprintable():
        raise HttpError(
            422, "a request id (x-request-id, or a v2 body's id) is text of 1 to 64 characters"
        )
    return given


_NOT_SERVED: dict[int | str, dict[str, Any]] = {
    404: {"model": _openapi.ErrorBody, "description": "No such model is served here."}
}
_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "Not ready: the models are loading."}
}

#: The paths of a model in the Open Inference Protocol: any version, or one version.
_V2_MODEL_PATHS = ("/v2/models/{name}", "/v2/models/{name}/versions/{version}")

_NOT_FINITE = (
    "the model's answer holds a number that is infinite or not a number, which JSON "
    "cannot carry; check that the inputs are within the ranges it was trained on"
)


def _json(answer: dict[str, Any], request_id: str) -> Response:
    try:
        # Strict JSON: a bare Infinity or NaN breaks the parsers of most clients.
        content = json.dumps(answer, separators=(",", ":"), allow_nan=False)
    except ValueError:
        raise HttpError(422, _NOT_FINITE) from None
    return Response(
        content,
        media_type=JSON,
        headers={"x-request-id": request_id},
    )


def _web_server(config: Any) -> Any:
    """uvicorn's server, made to return on SIGINT or SIGTERM: uvicorn raises the signal
    again once it stops, which would end the process before the models are unloaded
    and the prediction log is written."""
    import uvicorn

    class Web(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            stops = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in stops}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Web(config)


def run(
    config: ServeConfig,
    client: TrackingClient | None = None,
    on_ready: Callable[[Server], None] | None = None,
) -> None:
    """:func:`serve` on the event loop uvicorn would pick for itself (uvloop where it
    is installed), which uvicorn cannot do here because :func:`serve` starts the loop."""
    try:
        import uvloop
    except ImportError:  # not built for every platform (Windows)
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(config, client, on_ready))


async def serve(
    config: ServeConfig,
    client: TrackingClient | None = None,
    on_ready: Callable[[Server], None] | None = None,
) -> None:
    """Load the models, then answer HTTP on ``config.host:config.port`` (and gRPC on
    ``config.grpc_port``, if set) until stopped (Ctrl-C or SIGTERM); ``on_ready`` is
    called once every model has loaded.

    Raises:
        ConfigError: The address cannot be listened on (a port in use, say).
    """
    import uvicorn

    # Take the port first: a port in use is found before minutes of model loading.
    # IPPROTO_TCP named outright: the event loop turns Nagle's algorithm off only on
    # sockets that say they are TCP, and with it on a small answer waits ~40 ms.
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((config.host, config.port))
    except OSError as exc:
        listener.close()
        raise ConfigError(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}; "
            "choose another --port"
        ) from None
    server = Server(config, client)
    grpc_server = None if config.grpc_port is None else _grpc_server(server, config)
    try:
        await server.start()
        if grpc_server is not None:
            await grpc_server.start()
        web = _web_server(
            uvicorn.Config(
                create_app(server), log_level="warning", lifespan="off", access_log=False
            )
        )
        # What loading created lives as long as the server: moving it out of the
        # collector's sight keeps full collections, and their pauses, short.
        gc.freeze()
        if on_ready is not None:
            on_ready(server)
        await web.serve(sockets=[listener])
    finally:
        if grpc_server is not None:
            await grpc_server.stop(grace=5)
        await server.stop()
        listener.close()


def _grpc_server(server: Server, config: ServeConfig) -> Any:
    assert config.grpc_port is not None
    try:
        from mlpilot.serve import _grpc
    except ImportError as exc:
        raise ConfigError(
            f"serving gRPC needs grpcio and protobuf ({exc}); pip install 'mlpilot[grpc]'"
        ) from None
    return _grpc.bind(server, config.host, config.grpc_port)
