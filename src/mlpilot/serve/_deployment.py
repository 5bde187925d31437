"""A served model: the version its alias points at, an optional challenger, and the
swap from one version to the next."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mlpilot.errors import InvalidInputError, MlpilotError
from mlpilot.registry import ModelRegistry, VersionRecord
from mlpilot.serve._batching import BatchPolicy
from mlpilot.serve._capacity import Load
from mlpilot.serve._codec import Columns, Schema
from mlpilot.serve._config import ModelConfig
from mlpilot.serve._metrics import Metrics
from mlpilot.serve._pool import Answer, LoadFailed, Pool, WorkerLost

log = logging.getLogger("mlpilot.serve")


@dataclasses.dataclass(frozen=True)
class Served:
    """What answered a request."""

    version: int
    role: str
    predictions: list[Any]
    scores: list[list[float]] | None
    #: The columns that version was given, by its own signature.
    features: Columns


class Slot:
    """The pool of one URI (``churn@champion``), swapped when its alias moves."""

    def __init__(self, uri: str, config: ModelConfig, deployment: Deployment) -> None:
        self.uri = uri
        self.config = config
        self.deployment = deployment
        self.pool: Pool | None = None
        self.record: VersionRecord | None = None
        self.schema = Schema(None)
        #: The last version that failed to load: not tried again until the alias moves.
        self.failed: int | None = None
        self._swap = asyncio.Lock()

    @property
    def version(self) -> int | None:
        return None if self.record is None else self.record.version

    async def load(self, record: VersionRecord, workers: int) -> None:
        """Start ``record``'s workers, then send new requests to them and let the old
        version's finish what they hold. If the new version does not load, the old
        one keeps serving and :class:`LoadFailed` says why."""
        async with self._swap:
            if self.record is not None and record.version == self.record.version:
                return
            policy = BatchPolicy(
                max_batch=self.config.max_batch,
                max_wait_s=self.config.max_wait_ms / 1000,
                target_s=self.config.latency_target_ms / 1000,
            )
            pool = self.deployment.new_pool(record.version, policy)
            try:
                await pool.start(max(workers, 1))
            except LoadFailed:
                self.failed = record.version
                raise
            old, self.pool, self.record = self.pool, pool, record
            self.schema = Schema(record.signature)
            self.failed = None
        if old is not None:
            await old.close(drain=True)

    async def predict(self, columns: Columns, rows: int, scores: bool) -> Answer:
        pool = self.pool
        if pool is None:
            raise WorkerLost(f"{self.uri} is not loaded")
        if pool.wanted == 0:
            self.deployment.wake(pool)
        return await pool.predict(columns, rows, scores)


class Deployment:
    """One model as the server serves it."""

    def __init__(
        self,
        config: ModelConfig,
        registry: ModelRegistry,
        settings: dict[str, Any],
        metrics: Metrics,
        on_event: Callable[[str, str, dict[str, Any]], None],
    ) -> None:
        self.config = config
        self.name = config.name
        self.registry = registry
        self.metrics = metrics
        self._settings = settings
        self._on_event = on_event
        self.primary = Slot(config.uri, config, self)
        self.challenger = (
            None if config.challenger is None else Slot(config.challenger, config, self)
        )
        self._waking: set[Pool] = set()
        self._rng = random.Random()
        #: The challenger version last warned about for refusing a request.
        self._warned_refusal: int | None = None
        self._background: set[asyncio.Task[Any]] = set()

    def slots(self) -> list[Slot]:
        return [self.primary] + ([self.challenger] if self.challenger else [])

    def new_pool(self, version: int, policy: BatchPolicy) -> Pool:
        return Pool(self.name, version, self._settings, policy, self.metrics)

    async def start(self) -> None:
        """Load the primary version (failing loudly) and the challenger (failing
        quietly: the primary serves alone until the challenger loads)."""
        record = await asyncio.to_thread(self.registry.resolve, self.primary.uri)
        await self.primary.load(record, self.config.min_workers or 1)
        if self.challenger is not None:
            await self.refresh(self.challenger)

    async def refresh(self, slot: Slot) -> None:
        """Follow ``slot``'s alias: load the version it points at now, if that is new."""
        try:
            record = await asyncio.to_thread(self.registry.resolve, slot.uri)
        except MlpilotError as exc:
            if slot.record is None:
                log.warning("%s: %s", slot.uri, exc)
            return
        if record.version in (slot.version, slot.failed):
            return
        previous = slot.version
        workers = slot.pool.workers if slot.pool is not None else 1
        started = time.perf_counter()
        try:
            await slot.load(record, workers)
        except LoadFailed as exc:
            log.error("%s", exc)
            self._on_event(
                "serve.load_failed",
                self.name,
                {
                    "uri": slot.uri,
                    "version": record.version,
                    "serving": previous,
                    "error": str(exc),
                },
            )
            return
        self._on_event(
            "serve.swapped",
            self.name,
            {
                "uri": slot.uri,
                "version": record.version,
                "previous": previous,
                "load_s": round(time.perf_counter() - started, 3),
            },
        )

    async def predict(
        self, sent: Columns, scores: bool = False
    ) -> tuple[Served, asyncio.Task[Any] | None]:
        """Answer from the primary, or from the challenger for a canary's share; in
        shadow mode, also start the challenger on a copy (the task returned).

        Each version takes its columns from those sent by its own signature. The
        primary's is the endpoint's contract: a request it refuses is refused. One that
        only the challenger refuses is answered by the primary and not copied, and
        counted in ``mlpilot_serve_challenger_refused``."""
        columns = self.primary.schema.check(sent)
        rows = len(next(iter(columns.values())))
        challenger = self.challenger
        theirs = None
        if (
            challenger is not None
            and challenger.pool is not None
            and self._rng.random() < self.config.split
        ):
            theirs = self._columns_for(challenger, sent)
        shadow = None
        if theirs is not None and self.config.mode == "canary":
            assert challenger is not None and challenger.version is not None
            predictions, probabilities = await challenger.predict(theirs, rows, scores)
            served = Served(challenger.version, "canary", predictions, probabilities, theirs)
            return served, None
        if theirs is not None:
            assert challenger is not None
            shadow = asyncio.get_running_loop().create_task(
                self._shadow(challenger, theirs, rows, scores)
            )
            self._background.add(shadow)
            shadow.add_done_callback(self._background.discard)
        version = self.primary.version
        predictions, probabilities = await self.primary.predict(columns, rows, scores)
        return Served(version or 0, "primary", predictions, probabilities, columns), shadow

    def _columns_for(self, challenger: Slot, sent: Columns) -> Columns | None:
        try:
            return challenger.schema.check(sent)
        except InvalidInputError as exc:
            version = challenger.version or 0
            self.metrics.challenger_refused(self.name, version)
            if self._warned_refusal != version:
                self._warned_refusal = version
                log.warning(
                    "%s version %s (%s) refuses requests its primary takes, which it "
                    "therefore does not see: %s",
                    self.name,
                    version,
                    self.config.mode,
                    exc,
                )
            return None

    async def _shadow(
        self, slot: Slot, columns: Columns, rows: int, scores: bool
    ) -> tuple[Served, float] | None:
        """The shadow's answer and how long it took, or None where it failed."""
        version = slot.version
        started = time.perf_counter()
        try:
            predictions, probabilities = await slot.predict(columns, rows, scores)
        except Exception as exc:  # a shadow's failure never reaches the client
            log.warning("shadow %s version %s failed: %s", self.name, version, exc)
            return None
        served = Served(version or 0, "shadow", predictions, probabilities, columns)
        return served, time.perf_counter() - started

    def wake(self, pool: Pool) -> None:
        """Load an unloaded model again for the request that is waiting for it."""
        if pool in self._waking:
            return
        self._waking.add(pool)

        async def _wake() -> None:
            try:
                await pool.resize(1)
                self._on_event("serve.reloaded", self.name, {"version": pool.version})
            except LoadFailed as exc:
                pool.fail_queued(WorkerLost(str(exc)))
            finally:
                self._waking.discard(pool)

        task = asyncio.get_running_loop().create_task(_wake())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def load(self, interval_s: float, now: float) -> Load | None:
        """The primary's measurements since the last call, for the capacity plan."""
        pool = self.primary.pool
        if pool is None:
            return None
        latencies, pool.latencies = pool.latencies, []
        busy, pool.busy_s = pool.busy_s, 0.0
        workers = pool.workers
        return Load(
            name=self.name,
            workers=workers,
            target_s=self.config.latency_target_ms / 1000,
            latency_s=(
                float(np.percentile(latencies, self.config.percentile)) if latencies else None
            ),
            utilisation=busy / (interval_s * workers) if workers else 0.0,
            idle_s=now - pool.last_request,
            min_workers=self.config.min_workers,
            max_workers=self.config.max_workers,
            idle_unload_s=self.config.idle_unload_s,
        )

    async def close(self) -> None:
        for slot in self.slots():
            if slot.pool is not None:
                await slot.pool.close(drain=True)
