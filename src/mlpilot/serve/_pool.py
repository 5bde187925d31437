"""The worker processes of one model version, and the queue of requests they share."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import itertools
import multiprocessing
import signal
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from mlpilot.errors import MlpilotError
from mlpilot.serve import _worker
from mlpilot.serve._batching import BatchPolicy
from mlpilot.serve._channel import Channel
from mlpilot.serve._codec import Columns
from mlpilot.serve._metrics import Metrics

Answer = tuple[list[Any], list[list[float]] | None]

_SPAWN = multiprocessing.get_context("spawn")


class LoadFailed(MlpilotError, RuntimeError):
    """A version's worker could not load its model."""


class WorkerLost(RuntimeError):
    """The worker predicting a request died before answering: the server says 503."""


class PredictFailed(RuntimeError):
    """The model raised on a batch: the server says 422 with the model's message."""


@dataclasses.dataclass
class _Request:
    columns: Columns
    rows: int
    scores: bool
    arrived: float
    future: asyncio.Future[Answer]
    #: Predicted in a batch of its own: a batch it shared failed, and the pool is
    #: finding which of its requests the model refuses.
    alone: bool = False


@dataclasses.dataclass(eq=False)
class _Worker:
    process: BaseProcess
    channel: Channel | None = None
    batch: list[_Request] | None = None
    batch_id: int = 0
    sent: float = 0.0
    retiring: bool = False
    #: A worker's first batch pays for lazy imports and caches: not a measure of it.
    warm: bool = False


class Pool:
    """Runs ``model`` version ``version`` in worker processes and batches the requests
    queued for it onto whichever worker is free."""

    def __init__(
        self,
        model: str,
        version: int,
        settings: dict[str, Any],
        policy: BatchPolicy,
        metrics: Metrics,
        *,
        load_timeout_s: float = 120.0,
    ) -> None:
        self.model, self.version = model, version
        self.policy = policy
        self._settings = settings
        self._metrics = metrics
        self._load_timeout_s = load_timeout_s
        self._workers: list[_Worker] = []
        self._queue: collections.deque[_Request] = collections.deque()
        self._queued_rows = 0
        self._ids = itertools.count(1)
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False
        self._wanted = 0
        self._resizing = asyncio.Lock()
        # For the capacity manager: request latencies and worker busy time since the
        # last look.
        self.latencies: list[float] = []
        self.busy_s = 0.0
        self.last_request = time.monotonic()
        #: Whether the model gives class probabilities (known once a worker loaded it).
        self.scores = False

    @property
    def workers(self) -> int:
        return sum(not w.retiring for w in self._workers)

    @property
    def wanted(self) -> int:
        """The workers the pool is meant to have (0: unloaded for want of traffic)."""
        return self._wanted

    async def start(self, workers: int = 1) -> None:
        """Start ``workers`` processes; raises :class:`LoadFailed` if the model does not
        load (and stops any that did)."""
        self._wanted = workers
        try:
            await asyncio.gather(*(self._spawn() for _ in range(workers)))
        except BaseException:
            await self.close(drain=False)
            raise

    async def resize(self, workers: int) -> None:
        """Grow or shrink to ``workers`` processes; a retired worker finishes its batch."""
        async with self._resizing:
            self._wanted = workers
            while self.workers < workers and not self._closing:
                await self._spawn()
        for worker in [w for w in self._workers if not w.retiring][workers:]:
            worker.retiring = True
            if worker.batch is None:
                self._stop(worker)

    async def predict(self, columns: Columns, rows: int, scores: bool = False) -> Answer:
        """The predictions for ``rows`` rows of ``columns`` (and with ``scores``, the class
        probabilities of a classifier)."""
        loop = asyncio.get_running_loop()
        now = time.perf_counter()
        self.last_request = time.monotonic()
        request = _Request(columns, rows, scores, now, loop.create_future())
        self.policy.arrived(now)
        self._queue.append(request)
        self._queued_rows += rows
        self._dispatch()
        try:
            return await request.future
        finally:
            self.latencies.append(time.perf_counter() - now)

    def fail_queued(self, error: Exception) -> None:
        """Answer every queued request with ``error`` (its model could not be loaded)."""
        while self._queue:
            request = self._queue.popleft()
            if not request.future.done():
                request.future.set_exception(error)
        self._queued_rows = 0

    async def close(self, *, drain: bool = True, timeout_s: float = 30.0) -> None:
        """Stop the workers; with ``drain``, after the queued and in-flight requests
        are answered."""
        self._closing = True
        if drain:
            deadline = time.monotonic() + timeout_s
            while (self._queue or any(w.batch for w in self._workers)) and (
                time.monotonic() < deadline
            ):
                await asyncio.sleep(0.01)
        for worker in list(self._workers):
            self._stop(worker, WorkerLost(f"{self.model} version {self.version} was unloaded"))
        self.fail_queued(WorkerLost(f"{self.model} version {self.version} was unloaded"))

    # -- workers -------------------------------------------------------------------

    async def _spawn(self) -> None:
        parent, child = _SPAWN.Pipe()
        process = _SPAWN.Process(
            target=_worker.main,
            args=(child, self._settings, self.model, self.version),
            name=f"mlpilot-serve {self.model}/{self.version}",
            daemon=True,
        )
        process.start()
        child.close()
        loop = asyncio.get_running_loop()
        try:
            ready = await asyncio.wait_for(
                loop.run_in_executor(None, _first_message, parent, self._load_timeout_s),
                self._load_timeout_s + 5,
            )
        except (EOFError, OSError, TimeoutError) as exc:
            process.kill()
            raise LoadFailed(
                f"{self.model} version {self.version}: its worker died while loading "
                f"({type(exc).__name__} {exc}; exit code {process.exitcode})"
            ) from None
        if ready[0] != _worker.READY:
            process.join(5)
            raise LoadFailed(f"{self.model} version {self.version} did not load: {ready[1]}")
        self.scores = bool(ready[2])
        worker = _Worker(process)
        worker.channel = Channel(
            parent, lambda answer: self._answered(worker, answer), lambda: self._lost(worker)
        )
        self._workers.append(worker)
        self._metrics.workers(self.model, self.version, self.workers)
        self._dispatch()

    def _stop(self, worker: _Worker, error: Exception | None = None) -> None:
        if worker not in self._workers:
            return
        self._workers.remove(worker)
        if worker.channel is not None:
            worker.channel.close()
        if worker.process.is_alive():
            worker.process.terminate()
        for request in worker.batch or []:
            if not request.future.done():
                request.future.set_exception(error or WorkerLost("the worker stopped"))
        worker.batch = None
        self._metrics.workers(self.model, self.version, self.workers)

    def _answered(self, worker: _Worker, answer: Any) -> None:
        batch_id, status, payload, scores, predict_s = answer
        batch = worker.batch or []
        worker.batch = None
        elapsed = time.perf_counter() - worker.sent
        self.busy_s += elapsed
        if worker.warm:
            self.policy.finished(sum(r.rows for r in batch), elapsed)
            self._metrics.predicted(self.model, self.version, predict_s, elapsed)
        worker.warm = True
        if batch_id == worker.batch_id:
            if status == "ok":
                _split(batch, payload, scores)
            elif len(batch) > 1:
                # One request's rows can make the model raise for the whole batch: try
                # each again on its own, so that only the requests it refuses fail.
                for request in reversed(batch):
                    request.alone = True
                    self._queue.appendleft(request)
                    self._queued_rows += request.rows
            else:
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(PredictFailed(payload))
        if worker.retiring:
            self._stop(worker)
        self._dispatch()

    def _lost(self, worker: _Worker) -> None:
        # The pipe breaks as the process ends: a moment's wait reaps it, so that it leaves
        # no zombie behind and its exit status can be told.
        worker.process.join(0.5)
        self._stop(
            worker,
            WorkerLost(
                f"the worker serving {self.model} version {self.version} "
                f"{_death(worker.process.exitcode)}; the request was not answered"
            ),
        )
        self._metrics.worker_lost(self.model, self.version)
        if not self._closing and self.workers < self._wanted:
            asyncio.get_running_loop().create_task(self._replace())

    async def _replace(self) -> None:
        # The model loaded before, so a failure now is the machine's (memory, disk):
        # keep trying, a second apart, while the pool is wanted.
        while not self._closing and self.workers < self._wanted:
            try:
                # Through resize's lock: two workers lost at once are replaced by two.
                await self.resize(self._wanted)
            except LoadFailed:
                await asyncio.sleep(1.0)

    # -- batching ------------------------------------------------------------------

    def _dispatch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._queue:
            worker = next((w for w in self._workers if w.batch is None and not w.retiring), None)
            if worker is None:
                return
            now = time.perf_counter()
            first = self._queue[0]
            wait = 0.0 if first.alone else self.policy.wait_s(self._queued_rows, first.arrived, now)
            if wait > 0:
                self._timer = asyncio.get_running_loop().call_later(wait, self._dispatch)
                return
            self._send(worker, self._take())

    def _take(self) -> list[_Request]:
        batch = [self._queue.popleft()]
        rows = batch[0].rows
        while (
            not batch[0].alone
            and self._queue
            and not self._queue[0].alone
            and rows + self._queue[0].rows <= self.policy.size
        ):
            request = self._queue.popleft()
            batch.append(request)
            rows += request.rows
        self._queued_rows -= rows
        return batch

    def _send(self, worker: _Worker, batch: list[_Request]) -> None:
        if len(batch) == 1:
            columns = batch[0].columns
        else:
            columns = {name: [] for name in batch[0].columns}
            for request in batch:
                for name, values in request.columns.items():
                    columns[name].extend(values)
        worker.batch_id = next(self._ids)
        worker.batch = batch
        worker.sent = time.perf_counter()
        self._metrics.batch(self.model, self.version, sum(r.rows for r in batch))
        assert worker.channel is not None
        try:
            worker.channel.send((worker.batch_id, columns, any(r.scores for r in batch)))
        except BrokenPipeError:
            self._lost(worker)


def _death(exit_code: int | None) -> str:
    if exit_code is None:
        return "stopped answering"
    if exit_code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-exit_code).name}"
    return f"exited with status {exit_code}"


def _first_message(conn: Connection, timeout_s: float) -> Any:
    if not conn.poll(timeout_s):
        raise TimeoutError(f"no answer in {timeout_s:.0f} s")
    return conn.recv()


def _split(batch: list[_Request], predictions: list[Any], scores: Any) -> None:
    start = 0
    for request in batch:
        end = start + request.rows
        if not request.future.done():
            wanted = scores is not None and request.scores
            request.future.set_result(
                (predictions[start:end], scores[start:end] if wanted else None)
            )
        start = end
