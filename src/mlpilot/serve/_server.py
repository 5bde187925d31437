"""The inference server: an ASGI app over the deployments, and the loops that keep it
current (aliases that move) and balanced (workers that follow the load)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import logging
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from mlpilot.errors import ConfigError, InvalidInputError, NotFoundError
from mlpilot.registry import ModelRegistry
from mlpilot.serve._capacity import plan
from mlpilot.serve._codec import Columns, decode, v2_outputs
from mlpilot.serve._config import ServeConfig
from mlpilot.serve._deployment import Deployment, Served
from mlpilot.serve._metrics import Metrics
from mlpilot.serve._pool import PredictFailed, WorkerLost
from mlpilot.store import PredictionBatch, PredictionLog, now_ms
from mlpilot.tracking import TrackingClient

log = logging.getLogger("mlpilot.serve")
_JSON = "application/json"


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Server:
    """Serves the models of ``config`` from the store ``client`` opens."""

    def __init__(self, config: ServeConfig, client: TrackingClient | None = None) -> None:
        self.config = config
        self.client = client or TrackingClient()
        self.registry = ModelRegistry(self.client)
        self.metrics = Metrics()
        self.budget = config.workers or _cores()
        settings = dataclasses.asdict(self.client.settings)
        self.deployments = {
            m.name: Deployment(m, self.registry, settings, self.metrics, self._event)
            for m in config.models
        }
        self.predictions = PredictionLog(self.client.store.metadata, sample=config.log_sample)
        self._max_body = int(config.max_body_mb * 1024 * 1024)
        self._tasks: list[asyncio.Task[Any]] = []
        self._events: set[asyncio.Task[Any]] = set()
        self.ready = False

    async def start(self) -> None:
        """Load every model; raises if one does not load, after stopping the rest."""
        try:
            for deployment in self.deployments.values():
                await deployment.start()
        except BaseException:
            await self.stop()
            raise
        self._tasks = [
            asyncio.create_task(self._follow_aliases()),
            asyncio.create_task(self._rebalance()),
        ]
        self.ready = True
        self._event("serve.started", ",".join(self.deployments), {"models": self.describe()})

    async def stop(self) -> None:
        self.ready = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for deployment in self.deployments.values():
            await deployment.close()
        if self._events:
            await asyncio.wait(self._events, timeout=10)
        await asyncio.to_thread(self.predictions.close)

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "name": d.name,
                "slots": [
                    {
                        "uri": s.uri,
                        "version": s.version,
                        "workers": s.pool.workers if s.pool else 0,
                        "batch_size": s.pool.policy.size if s.pool else None,
                    }
                    for s in d.slots()
                ],
                "latency_target_ms": d.config.latency_target_ms,
                "mode": d.config.mode if d.challenger else None,
            }
            for d in self.deployments.values()
        ]

    # -- requests ------------------------------------------------------------------

    def deployment(self, name: str) -> Deployment:
        deployment = self.deployments.get(name)
        if deployment is None:
            raise HttpError(
                404, f"no model {name!r} is served here; served: {', '.join(self.deployments)}"
            )
        return deployment

    async def body(self, request: Request) -> Any:
        """The request's JSON, refusing other content types and bodies over the limit."""
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != _JSON:
            raise HttpError(415, f"send the body as {_JSON}, not {content_type or 'nothing'!r}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            # Read on past the limit (without keeping it) up to a hard stop: a client
            # still sending when the answer comes sees a reset, not the 413.
            if size > self._max_body * 4:
                break
            if size <= self._max_body:
                chunks.append(chunk)
        if size > self._max_body:
            raise HttpError(413, self._too_large())
        return decode(b"".join(chunks))

    def _too_large(self) -> str:
        return (
            f"the body is over the server's limit of {self.config.max_body_mb:g} MB; "
            "send fewer rows per request or raise max_body_mb"
        )

    async def predict(
        self, name: str, columns: Columns, request_id: str, scores: bool = False
    ) -> Served:
        deployment = self.deployment(name)
        rows = len(next(iter(columns.values())))
        started = time.perf_counter()
        try:
            served, shadow = await deployment.predict(columns, rows, scores)
        except WorkerLost as exc:
            raise HttpError(503, str(exc)) from None
        except PredictFailed as exc:
            raise HttpError(422, f"the model could not predict on this input: {exc}") from None
        latency = time.perf_counter() - started
        self.metrics.request(name, served.version, served.role, 200, latency)
        if self.predictions.sampled():
            self._log(request_id, name, served, columns, latency)
            if shadow is not None:
                shadow.add_done_callback(
                    lambda task: self._log_shadow(task, request_id, name, columns)
                )
        return served

    def _log(
        self, request_id: str, name: str, served: Served, columns: Columns, latency: float
    ) -> None:
        self.predictions.record(
            PredictionBatch(
                request_id=request_id,
                model=name,
                version=served.version,
                role=served.role,
                ts_ms=now_ms(),
                latency_ms=latency * 1000,
                features=columns,
                predictions=served.predictions,
                scores=served.scores,
            )
        )

    def _log_shadow(
        self, task: asyncio.Task[Any], request_id: str, name: str, columns: Columns
    ) -> None:
        if not task.cancelled() and task.exception() is None and task.result() is not None:
            self._log(request_id, name, task.result(), columns, 0.0)

    # -- loops ---------------------------------------------------------------------

    async def _follow_aliases(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_s)
            for deployment in self.deployments.values():
                for slot in deployment.slots():
                    if "@" in slot.uri:
                        await deployment.refresh(slot)

    async def _rebalance(self) -> None:
        interval = self.config.rebalance_s
        while True:
            await asyncio.sleep(interval)
            loads = [
                load
                for d in self.deployments.values()
                if (load := d.load(interval, time.monotonic())) is not None
            ]
            targets = plan(loads, self.budget)
            for load in loads:
                pool = self.deployments[load.name].primary.pool
                target = targets[load.name]
                if pool is not None and target != load.workers:
                    log.info("%s: %d -> %d workers", load.name, load.workers, target)
                    await pool.resize(target)
                    self._event(
                        "serve.rescaled",
                        load.name,
                        {"workers": target, "previous": load.workers, "pressure": load.pressure},
                    )

    def _event(self, kind: str, name: str, payload: dict[str, Any]) -> None:
        """Record an event without holding up the event loop."""

        def write() -> None:
            with self.client.store.metadata.write() as conn:
                self.client.store.metadata.record_event(
                    conn, kind, "model", name, self.client.settings.user, **payload
                )

        task = asyncio.get_running_loop().create_task(asyncio.to_thread(write))
        self._events.add(task)
        task.add_done_callback(self._events.discard)


def create_app(server: Server) -> FastAPI:
    """The HTTP API over ``server``: the simple JSON form, the Open Inference Protocol
    (KServe v2), and Prometheus metrics."""
    app = FastAPI(title="mlpilot inference server", docs_url="/docs", redoc_url=None)

    @app.exception_handler(HttpError)
    async def _http_error(request: Request, exc: HttpError) -> Response:
        server.metrics.rejected(exc.status)
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(InvalidInputError)
    async def _invalid(request: Request, exc: InvalidInputError) -> Response:
        server.metrics.rejected(422)
        return JSONResponse({"error": str(exc)}, status_code=422)

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
        columns = deployment.primary.schema.columns(body)
        request_id = _request_id(request.headers.get("x-request-id"))
        served = await server.predict(name, columns, request_id, body.get("scores") is True)
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
        """The Open Inference Protocol's inference request."""
        name = request.path_params["name"]
        deployment = server.deployment(name)
        body = await server.body(request)
        columns = deployment.primary.schema.v2_columns(body)
        request_id = _request_id(body.get("id") or request.headers.get("x-request-id"))
        # Class probabilities are computed when the request names them as an output.
        outputs = body.get("outputs") or []
        if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
            raise HttpError(422, '"outputs" must be a list of {"name": ...} objects')
        wanted = {o.get("name") for o in outputs}
        served = await server.predict(name, columns, request_id, "predict_proba" in wanted)
        answer = {
            "model_name": name,
            "model_version": str(served.version),
            "id": request_id,
            "outputs": v2_outputs(served.predictions, served.scores),
        }
        return _json(answer, request_id)

    app.add_route("/models/{name}/predict", predict, methods=["POST"])
    app.add_route("/v2/models/{name}/infer", infer, methods=["POST"])

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> Response:
        return JSONResponse({"ready": server.ready}, status_code=200 if server.ready else 503)

    @app.get("/v2")
    async def metadata() -> dict[str, Any]:
        from mlpilot import __version__

        return {"name": "mlpilot", "version": __version__, "extensions": []}

    @app.get("/v2/models/{name}")
    async def model_metadata(name: str) -> dict[str, Any]:
        slot = server.deployment(name).primary
        record = slot.record
        signature = record.signature if record else None
        inputs = [
            {"name": c.name, "datatype": _V2_KIND.get(c.kind, "BYTES"), "shape": [-1]}
            for c in (signature.inputs if signature else ())
        ]
        return {
            "name": name,
            "versions": [str(s.version) for s in server.deployment(name).slots() if s.version],
            "platform": f"mlpilot/{record.flavor}" if record else "mlpilot",
            "inputs": inputs,
            "outputs": [{"name": "predict", "datatype": "BYTES", "shape": [-1]}],
        }

    @app.get("/v2/models/{name}/ready")
    async def model_ready(name: str) -> Response:
        loaded = server.deployment(name).primary.pool is not None
        return JSONResponse({"name": name, "ready": loaded}, status_code=200 if loaded else 503)

    @app.get("/models")
    async def models() -> list[dict[str, Any]]:
        return server.describe()

    @app.get("/metrics")
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


_V2_KIND = {"number": "FP64", "integer": "INT64", "boolean": "BOOL", "string": "BYTES"}


def _json(answer: dict[str, Any], request_id: str) -> Response:
    return Response(
        json.dumps(answer, separators=(",", ":")),
        media_type=_JSON,
        headers={"x-request-id": request_id},
    )


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


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


async def serve(
    config: ServeConfig,
    client: TrackingClient | None = None,
    on_ready: Callable[[Server], None] | None = None,
) -> None:
    """Load the models, then answer HTTP on ``config.host:config.port`` until stopped
    (Ctrl-C or SIGTERM); ``on_ready`` is called once every model has loaded.

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
    try:
        await server.start()
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
        await server.stop()
        listener.close()
