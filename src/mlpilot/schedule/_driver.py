"""The driver: runs a pipeline's graph on an executor under an allocation policy.

It keeps every task in one of a few states and moves them on events: a task whose
inputs are all stored is looked up in the cache or becomes ready; whenever cores are
free, the allocation policy sizes the ready tasks and the chosen ones are submitted; an
attempt that ends either completes its task, schedules a retry after a backoff, or
fails it and skips what depended on it. Each move is written to the store before the
next one is made, so a killed driver leaves rows that say exactly what is done.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import heapq
import json
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from mlpilot.compute import Executor, TaskOutcome
from mlpilot.schedule._graph import Graph, Task
from mlpilot.schedule._speedup import Amdahl, Measured, SpeedupCurve
from mlpilot.schedule._step import Step
from mlpilot.schedule._worker import StoredOutput, TaskSpec, run_task
from mlpilot.schedule.policies import AllocationPolicy, Job, Waiting
from mlpilot.store import ArtifactStore, now_ms
from mlpilot.store.base._pipelines import AttemptEnd, AttemptStart, PipelineRecords, StepHistory

#: Core-seconds assumed for a step that has never run.
DEFAULT_WORK = 1.0
#: How often a running driver looks for a cancel request.
CANCEL_POLL_S = 0.5
#: A measured attempt shorter than this says too little about how many cores it used.
MIN_MEASURED_S = 0.5
#: Worker deaths rescheduled even for a step with no retries.
DEATH_RETRIES = 2

Observer = Callable[[str, str], None]


@dataclasses.dataclass
class TaskState:
    task: Task
    id: str
    status: str = "pending"
    attempt: int = 0  # attempts ever made, over every drive of this run
    tries: int = 0  # attempts made by this drive, which the retry budget counts
    ready_at: float = 0.0
    cores: int = 0
    key: str | None = None  # cache key, once the inputs are known
    digest: str | None = None
    size: int = 0

    @property
    def complete(self) -> bool:
        return self.status in ("done", "cached")


class Driver:
    """Drives one pipeline run to its end; see the module docstring."""

    def __init__(
        self,
        graph: Graph,
        states: dict[str, TaskState],
        *,
        run_id: str,
        pipeline: str,
        records: PipelineRecords,
        artifacts: ArtifactStore,
        executor: Executor,
        owns_executor: bool,
        policy: AllocationPolicy,
        deadline_s: float | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.graph, self.states, self.run_id = graph, states, run_id
        self.records, self.artifacts = records, artifacts
        self.executor, self.owns_executor, self.policy = executor, owns_executor, policy
        self.deadline_s, self.observer = deadline_s, observer
        self.capacity = executor.capacity.cpus
        self.widest = executor.largest_task.cpus  # no task is sized past one node
        self._below = graph.downstream()
        self._blocked = {
            name: {up for up in s.task.upstream if not states[up].complete}
            for name, s in states.items()
        }
        self._unblocked: deque[str] = deque(
            name
            for name in graph.order()
            if states[name].status == "pending" and not self._blocked[name]
        )
        self._ready: dict[str, TaskState] = {}
        self._running: dict[Future[TaskOutcome], TaskState] = {}
        self._caps: dict[str, int] = {}
        self._history = records.history(
            pipeline, sorted({t.step.name for t in graph.tasks.values()})
        )
        self._t0 = time.time()
        self._tail = graph.longest_path_after(self._estimated_seconds)
        self._polled = 0.0
        self._position = {name: i for i, name in enumerate(graph.tasks)}
        self._jobs: dict[str, Job] = {}  # the policy's view of each task, made once
        self._starting: list[tuple[TaskState, int]] = []

    # -- planning ----------------------------------------------------------------------

    def late_tasks(self) -> list[str]:
        """Tasks that, by the estimates, cannot finish by the deadline even at full speed."""
        if self.deadline_s is None:
            return []
        left = self.deadline_s - time.time()
        return [
            name
            for name, s in self.states.items()
            if not s.complete and self._estimated_seconds(s.task) + self._tail[name] > left
        ]

    def _job(self, state: TaskState) -> Job:
        cached = self._jobs.get(state.task.name)
        if cached is None:
            cached = self._jobs[state.task.name] = self._make_job(state)
        return cached

    def _make_job(self, state: TaskState) -> Job:
        step = state.task.step
        most = min(self._caps.get(step.name, step.max_cpus), step.max_cpus, self.widest)
        deadline = None
        if self.deadline_s is not None:
            deadline = self.deadline_s - self._t0 - self._tail[state.task.name]
        return Job(
            id=state.task.name,
            work=self._work(state.task),
            min_cores=min(step.min_cpus, most),
            max_cores=most,
            curve=self._curve(state.task),
            requested=most,
            deadline=deadline,
            submitted=float(self._position[state.task.name]),
        )

    def _work(self, task: Task) -> float:
        history = self._history.get(task.step.name)
        return history.work if history and history.work else DEFAULT_WORK

    def _curve(self, task: Task) -> SpeedupCurve:
        history: StepHistory | None = self._history.get(task.step.name)
        if history and 1 in history.seconds_by_cores and len(history.seconds_by_cores) > 1:
            one = history.seconds_by_cores[1]
            return Measured({c: one / s for c, s in history.seconds_by_cores.items()})
        return Amdahl(task.step.parallel)

    def _estimated_seconds(self, task: Task) -> float:
        most = min(task.step.max_cpus, self.widest)
        return self._work(task) / max(self._curve(task).speedup(most), 1e-9)

    # -- the loop ----------------------------------------------------------------------

    def drive(self) -> str:
        """Run until every task is complete, failed or skipped; returns the run's status."""
        try:
            while self._unblocked or self._ready or self._running:
                if self._cancel_requested():
                    self._cancel("cancelled on request")
                    return "killed"
                self._promote()
                self._launch()
                self._collect()
        except BaseException:
            self._cancel("the driver was interrupted")
            raise
        failed = any(s.status in ("failed", "skipped") for s in self.states.values())
        return "failed" if failed else "finished"

    def _promote(self) -> None:
        """Tasks whose inputs are all stored: reuse a cached output, or get ready."""
        while self._unblocked:
            state = self.states[self._unblocked.popleft()]
            key = state.key = self._cache_key(state)
            hit = self.records.cached(key) if state.task.step.cache else None
            if hit is not None and self.artifacts.exists(hit.digest):
                self.records.mark_cached(state.id, key, hit)
                state.digest, state.size = hit.digest, hit.size
                self._set(state, "cached")
                self._completed(state)
            else:
                state.ready_at = time.time()
                self._ready[state.task.name] = state

    def _launch(self) -> None:
        now = time.time()
        free = self.capacity - sum(s.cores for s in self._running.values())
        if free <= 0 or not self._ready:
            return
        # The policy plans for the most urgent ready tasks: enough to fill the cores
        # several times over, and few enough that planning stays cheap per event.
        window = heapq.nsmallest(
            max(4 * self.capacity, 64),
            (s for s in self._ready.values() if s.ready_at <= now),
            key=self._urgency,
        )
        if not window:
            return
        jobs = {s.task.name: (s, self._job(s)) for s in window}
        plan = self.policy.allocate(
            [Waiting(job, job.work) for _, job in jobs.values()], free, now - self._t0
        )
        if not plan and not self._running:  # never stall with cores free and work waiting
            job = jobs[window[0].task.name][1]
            plan = {job.id: job.min_cores}
        chosen = [(jobs[name][0], cores) for name, cores in plan.items() if cores > 0]
        self.records.start_attempts([self._start(s, cores) for s, cores in chosen])
        # Attempts stored as started but maybe not yet submitted, for a cancel that
        # interrupts the submitting (Ctrl-C while an executor starts its workers).
        self._starting = [(s, s.attempt + 1) for s, _ in chosen]
        for state, cores in chosen:
            self._submit(state, cores)
        self._starting = []

    def _start(self, state: TaskState, cores: int) -> AttemptStart:
        asked = state.task.step.resources(cores)
        return AttemptStart(
            state.id, state.attempt + 1, asked.cpus, asked.gpus, asked.memory_mb, state.key
        )

    def _urgency(self, state: TaskState) -> tuple[float, float, int]:
        """Earliest deadline first, then the longest work, then the order of the graph."""
        name = state.task.name
        deadline = math.inf if self.deadline_s is None else self.deadline_s - self._tail[name]
        return (deadline, -self._work(state.task), self._position[name])

    def _submit(self, state: TaskState, cores: int) -> None:
        task = state.task
        state.attempt += 1
        state.tries += 1
        state.cores = cores
        del self._ready[task.name]
        resources = task.step.resources(cores)
        spec = TaskSpec(
            run_id=self.run_id,
            task=task.name,
            step=task.step.name,
            attempt=state.attempt,
            ref=task.step.ref,
            arguments=task.arguments,
            inputs={up: self._digest(up) for up in task.upstream},
            artifacts_uri=self.artifacts.url,
            resources=resources,
        )
        future = self.executor.submit(
            f"{task.name}#{state.attempt}",
            run_task,
            (spec,),
            resources=resources,
            timeout_s=task.step.timeout_s,
        )
        self._running[future] = state
        self._set(state, "running")

    def _collect(self) -> None:
        # Wake for a finished attempt, a retry whose backoff ends, or a cancel request.
        # Tasks ready now but short of cores wait for a finished attempt.
        now = time.time()
        backoffs = [s.ready_at for s in self._ready.values() if s.ready_at > now]
        timeout = min([CANCEL_POLL_S, *(at - now for at in backoffs)])
        if not self._running:
            if not self._unblocked and timeout > 0:
                time.sleep(timeout)
            return
        done, _ = concurrent.futures.wait(
            list(self._running), timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED
        )
        settled = [(s := self._running.pop(f), self._settle(s, f.result())) for f in done]
        self.records.end_attempts([end for _, end in settled])
        for state, _ in settled:
            self._after(state)

    def _settle(self, state: TaskState, outcome: TaskOutcome) -> AttemptEnd:
        """Decide what an attempt's outcome makes of its task."""
        step = state.task.step
        cores, state.cores = state.cores, 0
        measured = {
            "node": outcome.node,
            "end_ms": now_ms(),
            "cpu_seconds": outcome.cpu_seconds,
            "peak_rss_mb": outcome.peak_rss_mb,
        }
        stored = outcome.value if outcome.ok else None
        if isinstance(stored, StoredOutput) and stored.digest is not None:
            state.digest, state.size = stored.digest, stored.size
            state.status = "done"
            self._learn_usage(step, cores, outcome)
            return AttemptEnd(
                state.id,
                state.attempt,
                "ok",
                "done",
                digest=stored.digest,
                size=stored.size,
                **measured,  # type: ignore[arg-type]
            )
        if isinstance(stored, StoredOutput):  # ran, but its output cannot be stored
            state.status = "failed"
            return AttemptEnd(
                state.id,
                state.attempt,
                "error",
                "failed",
                error=stored.error,
                **measured,  # type: ignore[arg-type]
            )
        budget = max(step.retries, DEATH_RETRIES) if outcome.status == "died" else step.retries
        if state.tries <= budget:
            state.status = "retrying"
            state.ready_at = time.time() + step.backoff(state.tries)
        else:
            state.status = "failed"
        return AttemptEnd(
            state.id,
            state.attempt,
            outcome.status,
            state.status,
            error=outcome.error,
            **measured,  # type: ignore[arg-type]
        )

    def _after(self, state: TaskState) -> None:
        self._set(state, state.status)
        if state.status == "done":
            self._completed(state)
        elif state.status == "retrying":
            self._ready[state.task.name] = state
        elif state.status == "failed":
            self._skip_below(state.task.name)

    def _learn_usage(self, step: Step[..., Any], cores: int, outcome: TaskOutcome) -> None:
        """A task that used far fewer cores than it held sizes down its step's next tasks."""
        wall = outcome.ended_s - outcome.started_s
        if cores <= 1 or wall < MIN_MEASURED_S:
            return
        used = outcome.cpu_seconds / wall
        # A range's minimum is a floor; a fixed request is only what the step asked for.
        floor = step.min_cpus if step.min_cpus < step.max_cpus else 1
        enough = max(floor, math.ceil(used - 0.1))
        if enough < min(cores, self._caps.get(step.name, cores)):
            self._caps[step.name] = enough
            self._jobs = {n: j for n, j in self._jobs.items() if self.states[n].task.step != step}
            self.records.record_resize(self.run_id, step.name, cores, used, enough)

    def _completed(self, state: TaskState) -> None:
        for name in self._below[state.task.name]:
            blocked = self._blocked[name]
            blocked.discard(state.task.name)
            if not blocked and self.states[name].status == "pending":
                self._unblocked.append(name)

    def _skip_below(self, name: str) -> None:
        skipped: list[TaskState] = []
        pending = list(self._below[name])
        while pending:
            state = self.states[pending.pop()]
            if state.status == "pending":
                state.status = "skipped"
                skipped.append(state)
                pending.extend(self._below[state.task.name])
        self.records.set_status(
            [s.id for s in skipped], "skipped", f"an upstream task ({name}) failed"
        )
        for state in skipped:
            self._set(state, "skipped")

    def _cancel(self, reason: str) -> None:
        running = list(self._running.values())
        self._running.clear()
        attempts = {(s.id, s.attempt): s for s in running}
        attempts |= {(s.id, n): s for s, n in self._starting if s not in running}
        running += [s for s, _ in self._starting if s not in running]
        self._starting = []
        if self.owns_executor:  # stops the running tasks; a caller's executor is its own
            self.executor.shutdown()
        self.records.end_attempts(
            [
                AttemptEnd(task_id, n, "cancelled", "cancelled", end_ms=now_ms(), error=reason)
                for task_id, n in attempts
            ]
        )
        waiting = [s for s in self.states.values() if s.status in ("pending", "retrying")]
        waiting += list(self._ready.values())
        self.records.set_status(list({s.id for s in waiting}), "cancelled", reason)
        for state in running + waiting:
            self._set(state, "cancelled")
        self._ready.clear()
        self._unblocked.clear()

    def _cancel_requested(self) -> bool:
        if time.monotonic() - self._polled < CANCEL_POLL_S:
            return False
        self._polled = time.monotonic()
        return self.records.cancel_requested(self.run_id)

    # -- helpers -----------------------------------------------------------------------

    def _set(self, state: TaskState, status: str) -> None:
        state.status = status
        if self.observer is not None:
            self.observer(state.task.name, status)

    def _digest(self, name: str) -> str:
        digest = self.states[name].digest
        assert digest is not None, f"{name} has no stored output"
        return digest

    def _cache_key(self, state: TaskState) -> str:
        task = state.task
        material = [
            task.step.name,
            task.step.fingerprint,
            task.literal_digest,
            [self._digest(up) for up in task.upstream],
        ]
        return hashlib.sha256(json.dumps(material).encode()).hexdigest()
