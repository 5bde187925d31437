"""The inference server: an ASGI app over the deployments, and the loops that keep it
current (aliases that move) and balanced (workers that follow the load)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from typing import Any

import psutil
from fastapi import Request

from mlpilot.registry import ModelRegistry
from mlpilot.serve._capacity import plan
from mlpilot.serve._codec import Columns, decode
from mlpilot.serve._config import ServeConfig
from mlpilot.serve._deployment import Deployment, Served
from mlpilot.serve._metrics import Metrics
from mlpilot.serve._pool import PredictFailed, WorkerLost
from mlpilot.store import PredictionBatch, PredictionLog, now_ms
from mlpilot.tracking import TrackingClient

log = logging.getLogger("mlpilot.serve")
#: The one content type the prediction routes take.
JSON = "application/json"
OCTET_STREAM = "application/octet-stream"


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
        self.predictions = PredictionLog(self.client.store.predictions, sample=config.log_sample)
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
                404, f"no model {name!r} is served here; GET /models lists those that are"
            )
        return deployment

    async def body(self, request: Request) -> Any:
        """The request's JSON, refusing other content types and bodies over the limit."""
        return decode(await self.raw_body(request))

    async def raw_body(self, request: Request, *, binary: bool = False) -> bytes:
        """The request's bytes, refusing bodies over the limit and content types other
        than JSON (and, with ``binary``, ``application/octet-stream``)."""
        # A body sent without a content type is read as JSON, as standard inference
        # clients (tritonclient's among them) send it.
        content_type = request.headers.get("content-type", JSON)
        accepted = (JSON, OCTET_STREAM) if binary else (JSON,)
        if content_type.split(";")[0].strip().lower() not in accepted:
            raise HttpError(
                415, f"send the body as {' or '.join(accepted)}, not {content_type or 'nothing'!r}"
            )
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
        return b"".join(chunks)

    def _too_large(self) -> str:
        return (
            f"the body is over the server's limit of {self.config.max_body_mb:g} MB; "
            "send fewer rows per request or raise max_body_mb"
        )

    async def predict(
        self, name: str, columns: Columns, request_id: str, scores: bool = False
    ) -> Served:
        """Answer ``columns`` as sent (each version takes its own from them)."""
        deployment = self.deployment(name)
        started = time.perf_counter()
        try:
            served, shadow = await deployment.predict(columns, scores)
        except WorkerLost as exc:
            raise HttpError(503, str(exc)) from None
        except PredictFailed as exc:
            # What the model raised names its internals: it goes to the server's log, and
            # the client learns that its input was refused.
            log.warning("%s refused request %s: %s", name, request_id, exc)
            raise HttpError(
                422,
                f"the model could not predict on this input (request {request_id}); check "
                "the values against the model's signature (GET /v2/models/NAME)",
            ) from None
        latency = time.perf_counter() - started
        self.metrics.request(name, served.version, served.role, 200, latency)
        if self.predictions.sampled():
            self._log(request_id, name, served, latency)
            if shadow is not None:
                shadow.add_done_callback(lambda task: self._log_shadow(task, request_id, name))
        return served

    def _log(self, request_id: str, name: str, served: Served, latency: float) -> None:
        self.predictions.record(
            PredictionBatch(
                request_id=request_id,
                model=name,
                version=served.version,
                role=served.role,
                ts_ms=now_ms(),
                latency_ms=latency * 1000,
                features=served.features,
                predictions=served.predictions,
                scores=served.scores,
            )
        )

    def _log_shadow(self, task: asyncio.Task[Any], request_id: str, name: str) -> None:
        if not task.cancelled() and task.exception() is None and task.result() is not None:
            served, latency = task.result()
            self._log(request_id, name, served, latency)

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
        _spare_cores()  # the first interval starts now
        while True:
            await asyncio.sleep(interval)
            loads = [
                load
                for d in self.deployments.values()
                if (load := d.load(interval, time.monotonic())) is not None
            ]
            targets = plan(loads, self.budget, _spare_cores())
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
            self.client.store.events.record(kind, "model", name, **payload)

        task = asyncio.get_running_loop().create_task(asyncio.to_thread(write))
        self._events.add(task)
        task.add_done_callback(self._events.discard)


def _usable_cores() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _cores() -> int:
    return len(_usable_cores())


def _spare_cores() -> float:
    """How many of the cores this server may use were idle since the last call."""
    busy = psutil.cpu_percent(percpu=True)
    return sum(100 - busy[core] for core in _usable_cores() if core < len(busy)) / 100
