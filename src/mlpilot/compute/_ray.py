"""Running tasks as Ray tasks, on this machine or on a Ray cluster.

The twin of :class:`~mlpilot.compute.LocalExecutor`: the same pickled payload and the
same measurements (:mod:`mlpilot.compute._measure` runs inside the Ray worker). Given the
whole cluster, the executor hands every task to Ray at once and Ray's scheduler keeps
within the cluster's resources. Given less than the cluster has, it keeps a ledger of
free cores, GPUs and memory like the local executor's, and hands Ray a task only when
what it asks for is free. Ray never retries a task (``max_retries=0``): retrying is
mlpilot's decision.

One thread owns all the state. Ray's completion callbacks only queue an event for it,
because calling back into Ray from Ray's own callback thread can deadlock. A task whose
worker vanishes ends as ``died``. A task with a timeout runs as a streaming generator
whose first item is the time it started on its worker; its deadline is checked only
when it may have passed (``timeout_s`` after the submission, then after each check that
found it not yet started), so time spent queued in a busy cluster is not held against
it. Past the deadline the task is cancelled with ``force=True``, which kills its worker.

Ray is imported only when an executor is made, so ``import mlpilot.compute`` works
without it.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import os
import pickle
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from types import ModuleType
from typing import Any

from mlpilot.compute._base import ONE_CORE, Executor, Resources, TaskOutcome
from mlpilot.compute._measure import pack, run_packed
from mlpilot.errors import InvalidInputError

#: How long shutdown waits for Ray to confirm that cancelled tasks have stopped.
_SHUTDOWN_GRACE_S = 10.0


@dataclasses.dataclass(eq=False)
class _Task:
    task_id: str
    payload: bytes
    resources: Resources
    timeout_s: float | None
    future: Future[TaskOutcome]
    handle: Any = None  # an ObjectRef, or an ObjectRefGenerator for a task with a timeout
    done: Future[Any] | None = None  # resolves when Ray reports the task finished
    seen: list[Any] = dataclasses.field(default_factory=list)  # generator items read
    submitted_s: float = 0.0
    started_s: float | None = None
    ending: str = ""  # "timeout" or "shutdown" once this executor has cancelled it


class RayExecutor(Executor):
    """Ray tasks, within ``cpus``, ``gpus`` and ``memory_mb`` of a Ray cluster.

    Connects to Ray unless this process already has; with no ``address`` (and no
    ``RAY_ADDRESS`` in the environment) that starts a Ray on this machine, which
    :meth:`shutdown` stops again.

    Args:
        address: A Ray cluster to join (``"auto"``, ``"ray://host:10001"``, ...).
        cpus: Cores to use (default: every core of the cluster). When Ray is started
            here, it is started with this many.
        gpus: GPUs to hand out (default: every GPU of the cluster).
        memory_mb: Memory to hand out (default: the cluster's ``memory`` resource).

    Raises:
        InvalidInputError: Ray is not installed, or a limit exceeds what the cluster has.

    Example::

        with RayExecutor(cpus=4) as executor:
            outcome = executor.submit("fit", fit, (data,), timeout_s=600).result()
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        cpus: int | None = None,
        gpus: int | None = None,
        memory_mb: int | None = None,
    ) -> None:
        Resources(cpus or 0, gpus or 0, memory_mb or 0)  # bad limits fail before Ray starts
        ray = _import_ray()
        self._ray = ray
        self._started_ray = False
        if not ray.is_initialized():
            local = address is None and not os.environ.get("RAY_ADDRESS")
            ray.init(
                address=address,
                ignore_reinit_error=True,
                include_dashboard=False,
                **({"num_cpus": cpus} if local and cpus is not None else {}),
            )
            self._started_ray = True
        try:
            cluster = ray.cluster_resources()
            self.capacity = _capacity(cluster, cpus, gpus, memory_mb)
            # Given the whole cluster, Ray's own scheduler keeps the limit; a ledger here
            # would only add a round trip through this process between tasks.
            self._ledger = self.capacity != _capacity(cluster, None, None, None)
            self._largest = _largest_node(ray.nodes(), self.capacity)
        except InvalidInputError:
            if self._started_ray:
                ray.shutdown()
            raise
        self._run = ray.remote(_run)
        self._run_timed = ray.remote(_run_timed)
        self._events: queue.SimpleQueue[tuple[str, _Task | None]] = queue.SimpleQueue()
        self._closed = False
        self._closing = threading.Lock()  # so that no task is queued after "close"
        # Only the loop thread touches these.
        self._waiting: deque[_Task] = deque()
        self._running: set[_Task] = set()
        self._free = self.capacity
        self._checks: list[tuple[float, int, _Task]] = []  # (when, tie-breaker, task)
        self._order = itertools.count()
        self._loop_thread = threading.Thread(
            target=self._loop, name="mlpilot-ray-executor", daemon=True
        )
        self._loop_thread.start()

    @property
    def largest_task(self) -> Resources:
        return self._largest

    def submit(
        self,
        task_id: str,
        fn: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        resources: Resources = ONE_CORE,
        timeout_s: float | None = None,
    ) -> Future[TaskOutcome]:
        self.check(resources)
        payload = pack(task_id, fn, args, kwargs)
        future: Future[TaskOutcome] = Future()
        with self._closing:
            if self._closed:
                raise InvalidInputError("this executor has been shut down")
            self._events.put(("new", _Task(task_id, payload, resources, timeout_s, future)))
        return future

    def shutdown(self) -> None:
        """Cancel what still runs or waits (it ends as ``died``), and stop Ray if this
        executor started it."""
        with self._closing:
            if not self._closed:
                self._closed = True
                self._events.put(("close", None))
        self._loop_thread.join()
        if self._started_ray:
            self._started_ray = False
            self._ray.shutdown()

    # ------------------------------------------------------------------ the loop

    def _loop(self) -> None:
        try:
            while self._serve_one_event():
                pass
        finally:  # also when this thread fails: no future may be left waiting forever
            with self._closing:
                self._closed = True
            self._stop()

    def _serve_one_event(self) -> bool:
        """Take the next event (or the next deadline check); False once told to close."""
        timeout = max(self._checks[0][0] - time.time(), 0.0) if self._checks else None
        try:
            kind, task = self._events.get(timeout=timeout)
        except queue.Empty:
            kind, task = "tick", None
        if kind == "close":
            return False
        if kind == "new" and task is not None:
            self._waiting.append(task)
        elif kind == "done" and task is not None:
            self._running.discard(task)
            if self._ledger:
                self._free = self._free + task.resources
            task.future.set_result(self._outcome(task))
        while self._checks and self._checks[0][0] <= time.time():
            task = heapq.heappop(self._checks)[2]
            if task in self._running and not task.ending:
                self._check_deadline(task)
        if kind != "tick":
            self._start_what_fits()
        return True

    def _start_what_fits(self) -> None:
        for task in list(self._waiting):
            if self._ledger and not task.resources.fits_in(self._free):
                continue  # smaller tasks behind it may still fit
            self._waiting.remove(task)
            try:
                self._launch(task)
            except Exception as exc:  # e.g. Ray lost its connection to the cluster
                task.future.set_result(self._ended(task, "died", f"Ray refused it: {exc}"))
                continue
            if self._ledger:
                self._free = self._free - task.resources
            self._running.add(task)
            if task.timeout_s is not None:
                self._check_at(task.submitted_s + task.timeout_s, task)

    def _check_at(self, when: float, task: _Task) -> None:
        heapq.heappush(self._checks, (when, next(self._order), task))

    def _launch(self, task: _Task) -> None:
        options: dict[str, Any] = {
            "num_cpus": task.resources.cpus,
            "num_gpus": task.resources.gpus,
            "max_retries": 0,
        }
        if task.resources.memory_mb:
            options["memory"] = task.resources.memory_mb * (1 << 20)
        task.submitted_s = time.time()
        if task.timeout_s is None:
            task.handle = self._run.options(**options).remote(task.payload)
            task.done = task.handle.future()
        else:
            options["num_returns"] = "streaming"
            task.handle = self._run_timed.options(**options).remote(task.payload)
            task.done = task.handle.completed().future()
        assert task.done is not None
        task.done.add_done_callback(lambda _: self._events.put(("done", task)))

    def _check_deadline(self, task: _Task) -> None:
        """Cancel ``task`` if it has run past its timeout; else look again when it may."""
        assert task.timeout_s is not None
        if task.started_s is None:
            if not task.handle.next_ready():
                self._check_at(time.time() + task.timeout_s, task)  # not started before now
                return
            task.seen.append(next(task.handle))
            try:
                task.started_s = float(self._ray.get(task.seen[-1]))
            except Exception:
                return  # it failed before it started: its "done" event says how
        deadline = task.started_s + task.timeout_s
        if time.time() < deadline:
            self._check_at(deadline, task)
            return
        task.ending = "timeout"
        self._ray.cancel(task.handle, force=True)

    def _outcome(self, task: _Task) -> TaskOutcome:
        """How ``task`` ended, once Ray says it has; never raises."""
        exceptions = self._ray.exceptions
        try:
            if task.timeout_s is None:
                assert task.done is not None
                result = task.done.result()
            else:
                refs = task.seen + list(task.handle)
                if not refs:
                    raise exceptions.RayError("the task ended without a result")
                result = self._ray.get(refs[-1])
        except exceptions.RayTaskError as exc:
            return self._ended(task, "error", f"Ray could not run the task: {exc}")
        except Exception as exc:
            summary = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
            if task.ending == "timeout":
                return self._ended(task, "timeout", f"ran past its timeout of {task.timeout_s} s")
            if task.ending == "shutdown":
                return self._ended(task, "died", "the executor shut down")
            return self._ended(task, "died", f"the Ray worker died ({summary})")
        status, body, cpu_seconds, rss_mb, node, started_s, ended_s = result
        value, error = None, ""
        if status == "ok":
            try:
                value = pickle.loads(body)
            except Exception as exc:
                status = "error"
                error = f"the task's result cannot be unpickled here ({type(exc).__name__}: {exc})"
        else:
            error = body
        return TaskOutcome(
            task.task_id,
            status,
            value=value,
            error=error,
            node=node,
            started_s=started_s,
            ended_s=ended_s,
            cpu_seconds=cpu_seconds,
            peak_rss_mb=rss_mb,
        )

    def _ended(self, task: _Task, status: str, error: str) -> TaskOutcome:
        started_s = task.submitted_s if task.started_s is None else task.started_s
        return TaskOutcome(
            task.task_id, status, error=error, started_s=started_s, ended_s=time.time()
        )

    def _stop(self) -> None:
        """End every task: cancel those Ray runs, and wait a while for Ray to confirm."""
        while True:  # tasks queued before "close" but not yet read
            try:
                kind, task = self._events.get_nowait()
            except queue.Empty:
                break
            if kind == "new" and task is not None:
                self._waiting.append(task)
            elif kind == "done" and task is not None:
                self._running.discard(task)
                task.future.set_result(self._outcome(task))
        for task in self._waiting:
            task.future.set_result(
                TaskOutcome(task.task_id, "died", error="the executor shut down first")
            )
        self._waiting.clear()
        for task in self._running:
            task.ending = "shutdown"
            self._ray.cancel(task.handle, force=True)
        give_up = time.time() + _SHUTDOWN_GRACE_S
        while self._running:
            try:
                kind, task = self._events.get(timeout=max(give_up - time.time(), 0.0))
            except queue.Empty:
                break
            if kind == "done" and task is not None:
                self._running.discard(task)
                task.future.set_result(self._outcome(task))
        for task in self._running:
            task.future.set_result(self._ended(task, "died", "the executor shut down"))
        self._running.clear()


# ---------------------------------------------------------------------- on the worker


def _run(payload: bytes) -> tuple[Any, ...]:
    """A Ray task: run the call and say how it went, where, and when."""
    started_s = time.time()
    measured = run_packed(payload)
    return (*measured, socket.gethostname(), started_s, time.time())


def _run_timed(payload: bytes) -> Iterator[Any]:
    """A Ray task that first tells the driver when it started, so it can be timed."""
    yield time.time()
    yield _run(payload)


# ---------------------------------------------------------------------- helpers


def _import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise InvalidInputError(
            "the Ray executor needs Ray; install the extra: pip install 'mlpilot[ray]'"
        ) from None
    return ray


def _capacity(
    cluster: Mapping[str, float], cpus: int | None, gpus: int | None, memory_mb: int | None
) -> Resources:
    """The cluster's resources, or the limits given when the cluster has that much."""
    cluster_has = {
        "cpus": int(cluster.get("CPU", 0)),
        "gpus": int(cluster.get("GPU", 0)),
        "memory_mb": int(cluster.get("memory", 0)) >> 20,
    }
    limits = dict(cluster_has)
    for name, value in {"cpus": cpus, "gpus": gpus, "memory_mb": memory_mb}.items():
        if value is None:
            continue
        if isinstance(value, int) and value > cluster_has[name]:
            raise InvalidInputError(
                f"{name}={value} is more than the Ray cluster has ({cluster_has[name]}); "
                "ask for less or add nodes to the cluster"
            )
        limits[name] = value
    return Resources(**limits)


def _largest_node(nodes: Sequence[Mapping[str, Any]], capacity: Resources) -> Resources:
    """The most of each resource one live node has, within ``capacity``."""
    alive = [node.get("Resources", {}) for node in nodes if node.get("Alive")]
    if not alive:
        return capacity
    most = Resources(
        cpus=max(int(r.get("CPU", 0)) for r in alive),
        gpus=max(int(r.get("GPU", 0)) for r in alive),
        memory_mb=max(int(r.get("memory", 0)) >> 20 for r in alive),
    )
    return Resources(
        min(most.cpus, capacity.cpus),
        min(most.gpus, capacity.gpus),
        min(most.memory_mb, capacity.memory_mb),
    )
