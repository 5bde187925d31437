"""Pipelines: functions that wire steps together, and running, resuming and cancelling them."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import pickle
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mlpilot.compute import EXECUTORS, Executor, open_executor
from mlpilot.errors import ConflictError, InvalidInputError
from mlpilot.schedule import _params
from mlpilot.schedule._deadline import parse_deadline
from mlpilot.schedule._driver import Driver, Observer, TaskState
from mlpilot.schedule._graph import Graph, outputs_in, substitute
from mlpilot.schedule._step import building, refuse_in_worker
from mlpilot.schedule._worker import source_of
from mlpilot.schedule.policies import POLICIES
from mlpilot.store.base._pipelines import COMPLETE, NewTask, TaskRecord
from mlpilot.tracking import Run, TrackingClient

DEFAULT_EXPERIMENT = "pipelines"
#: The longest executor name a run records.
_MAX_EXECUTOR_NAME = 32


class Pipeline:
    """A function that calls steps; its parameters are the pipeline's parameters.

    Made by the :func:`pipeline` decorator. Calling :meth:`run` builds the graph with
    the given parameters, checks it, and runs it.
    """

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.signature = inspect.signature(fn)
        self.__doc__ = fn.__doc__

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r})"

    @property
    def source(self) -> str:
        """How another process finds this pipeline again: ``FILE:NAME`` or ``MODULE:NAME``."""
        return source_of(self.fn)

    def params(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The parameters a run gets: ``given`` over the function's defaults.

        Raises:
            InvalidInputError: An unknown or missing parameter, or a value that does not
                match the parameter's annotation (text for a ``list[str]``).
        """
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.signature.parameters))
        if unknown:
            known = ", ".join(self.signature.parameters) or "none"
            raise InvalidInputError(
                f"pipeline {self.name!r} has no parameter {unknown[0]!r}; its parameters: {known}"
            )
        try:
            bound = self.signature.bind(**given)
        except TypeError as exc:
            raise InvalidInputError(
                f"pipeline {self.name!r}: {exc}; pass it with --param NAME=VALUE"
            ) from None
        bound.apply_defaults()
        hints = _params.annotations_of(self.fn)
        for name, value in given.items():
            if name in hints:
                _params.check_value(self.name, name, value, hints[name])
        return dict(bound.arguments)

    def parse_params(self, texts: Mapping[str, str]) -> dict[str, Any]:
        """Parameters given as text (``--param NAME=VALUE``), read by their annotations.

        A parameter annotated ``str`` gets the text as it is; any other reads it as JSON
        (``--param families='["logreg"]'``); one with no annotation reads it as JSON if
        it is JSON, else as text.

        Raises:
            InvalidInputError: Text that is not JSON for a parameter that is not text.
        """
        return _params.parse_texts(self.name, self.fn, texts)

    def build(self, params: Mapping[str, Any] | None = None) -> tuple[Graph, Any]:
        """The checked graph for ``params``, and what the function returned."""
        graph = Graph(self.name)
        token = building.set(graph)
        try:
            returned = self.fn(**self.params(params))
        finally:
            building.reset(token)
        graph.validate()
        for task in graph.tasks.values():
            qualname = task.step.fn.__qualname__
            if "<" in qualname:
                raise InvalidInputError(
                    f"step {task.step.name!r} is defined inside a function ({qualname}); worker "
                    "processes import steps by name, so define it at the top level of a module"
                )
        return graph, returned

    def run(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        executor: str | Executor = "local",
        policy: str = "makespan",
        deadline: Any = None,
        cpus: int | None = None,
        experiment: str | None = None,
        client: TrackingClient | None = None,
        observer: Observer | None = None,
        on_start: Callable[[PipelineRun], None] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> PipelineRun:
        """Run the pipeline to its end and return the run.

        Args:
            params: Values for the pipeline function's parameters.
            executor: ``"local"`` (worker processes here), ``"ray"`` (a local Ray, or the
                cluster ``RAY_ADDRESS`` names), or an :class:`~mlpilot.compute.Executor`.
            policy: How cores are shared: ``makespan``, ``deadline``, ``fair-share`` or
                ``fifo``.
            deadline: When the run must be done: a ``datetime``, a ``timedelta``, seconds
                from now, or text such as ``"30m"``, ``"2h"`` or an ISO time.
            cpus: Cores the local executor may use (all of them by default).
            experiment: The experiment the run is filed under (``pipelines``).
            observer: Called with ``(task, status)`` on every change, e.g. to draw
                progress.
            on_start: Called with the run once its rows exist, before any task runs.
            tags: More tags of the run (what started it, say), besides its pipeline's
                and policy's.
        """
        refuse_in_worker("pipeline")
        if policy not in POLICIES:
            raise InvalidInputError(
                f"unknown policy {policy!r}; choose one of {', '.join(sorted(POLICIES))}"
            )
        deadline_s = parse_deadline(deadline)
        # Built from what the store keeps, so that a resumed run rebuilds the same graph.
        params = _jsonable(self.params(params))
        graph, returned = self.build(params)
        client = client or TrackingClient()
        pool, owned = open_executor(executor, cpus)
        try:
            _check_fits(graph, pool)
            run = client.create_run(
                experiment or DEFAULT_EXPERIMENT,
                name=self.name,
                params=params,
                tags={
                    **(tags or {}),
                    "mlpilot.pipeline": self.name,
                    "mlpilot.policy": policy,
                },
            )
            with _ending(run):
                records = client.store.pipelines
                states = {
                    name: TaskState(task, uuid.uuid4().hex) for name, task in graph.tasks.items()
                }
                records.create(
                    run.id,
                    pipeline=self.name,
                    source=self.source,
                    params=params,
                    policy=policy,
                    executor=executor_name(pool),
                    deadline_ms=None if deadline_s is None else int(deadline_s * 1000),
                    tasks=[
                        NewTask(s.id, s.task.name, s.task.step.name, list(s.task.upstream))
                        for s in states.values()
                    ],
                )
                driver = Driver(
                    graph,
                    states,
                    run_id=run.id,
                    pipeline=self.name,
                    records=records,
                    artifacts=client.store.artifacts,
                    executor=pool,
                    owns_executor=owned,
                    policy=POLICIES[policy](),
                    deadline_s=deadline_s,
                    observer=observer,
                )
                result = PipelineRun(run.id, self.name, "running", client, returned)
                result.late = driver.late_tasks()
                if result.late:
                    records.record_deadline_risk(run.id, result.late)
                if on_start is not None:
                    on_start(result)
                result.status = driver.drive()
                run.end(result.status)
            return result
        finally:
            if owned:
                pool.shutdown()


@contextlib.contextmanager
def _ending(run: Run) -> Iterator[None]:
    """End ``run`` however the block ends: as the driver said, killed, or failed."""
    try:
        yield
    except KeyboardInterrupt:
        run.end("killed")
        raise
    except BaseException:
        run.end("failed")
        raise


def executor_name(pool: Executor) -> str:
    """The name a run records for ``pool``: the one that makes it again by name.

    An executor class without a ``name`` is recorded by its class name; resuming its
    runs then needs the executor passed again.
    """
    name = getattr(pool, "name", None)
    if not isinstance(name, str) or not name:
        name = type(pool).__name__
    return name[:_MAX_EXECUTOR_NAME]


def _check_fits(graph: Graph, pool: Executor) -> None:
    for task in graph.tasks.values():
        pool.check(task.step.resources(task.step.min_cpus))


def pipeline(fn: Callable[..., Any] | None = None, /, *, name: str | None = None) -> Any:
    """Mark a function as a pipeline: it calls steps, passing outputs to inputs.

    Example::

        @pipeline
        def churn(families=("logreg", "forest")):
            data = load()
            models = train.map(families, data)   # one task per family
            return pick_best(models)             # takes them all
    """
    if fn is not None:
        return Pipeline(fn)
    return lambda inner: Pipeline(inner, name=name)


@dataclasses.dataclass
class PipelineRun:
    """A pipeline run: its id, how it ended, and its tasks' outputs."""

    id: str
    pipeline: str
    status: str
    client: TrackingClient
    returned: Any = None
    #: Tasks that, by the estimates made when the run started, would miss its deadline.
    late: list[str] = dataclasses.field(default_factory=list)

    def tasks(self) -> list[TaskRecord]:
        return self.client.store.pipelines.tasks(self.id)

    def output(self, task: str) -> Any:
        """The stored output of ``task``."""
        return load_output(self.id, task, client=self.client)

    def value(self) -> Any:
        """What the pipeline function returned, with each output replaced by its value."""
        names = {o.task for o in outputs_in(self.returned)}
        return substitute(self.returned, {n: self.output(n) for n in names})


def load_output(run_id: str, task: str, *, client: TrackingClient | None = None) -> Any:
    """The stored output of task ``task`` of pipeline run ``run_id``."""
    client = client or TrackingClient()
    run_id = client.resolve_run_id(run_id)
    found = {t.name: t for t in client.store.pipelines.tasks(run_id)}
    if task not in found:
        raise InvalidInputError(
            f"run {run_id} has no task {task!r}; its tasks: {', '.join(found) or 'none'}"
        )
    record = found[task]
    if record.status not in COMPLETE or record.output_digest is None:
        raise ConflictError(f"task {task!r} of run {run_id} is {record.status}: it has no output")
    return pickle.loads(client.store.artifacts.get_bytes(record.output_digest))


def resume_pipeline(
    run_id: str,
    *,
    executor: str | Executor | None = None,
    cpus: int | None = None,
    client: TrackingClient | None = None,
    observer: Observer | None = None,
) -> PipelineRun:
    """Run again what a stopped pipeline run left unfinished, reusing every stored output.

    Args:
        executor: What to run the rest on; by default an executor of the kind the run
            was started on, made by its name.

    Raises:
        ConflictError: The run is running, finished, or its pipeline no longer makes
            the same tasks.
        InvalidInputError: No ``executor`` was given, and the run's executor cannot be
            made by name (an instance of a class that no plug-in provides).
    """
    from mlpilot.schedule._load import load_pipeline

    client = client or TrackingClient()
    client.mark_dead_runs()
    run_id = client.resolve_run_id(run_id)
    records = client.store.pipelines
    record = records.get(run_id)
    if record.status == "running":
        raise ConflictError(
            f"run {run_id} is still running; cancel it first with `mlpilot pipelines cancel`"
        )
    stored = records.tasks(run_id)
    found = load_pipeline(record.source)
    graph, returned = found.build(record.params)
    made = [(t.name, t.step.name, list(t.upstream)) for t in graph.tasks.values()]
    if [(t.name, t.step, t.upstream) for t in stored] != made:
        raise ConflictError(
            f"{record.source} no longer makes the tasks run {run_id} was started with (their "
            "names, steps or inputs changed); start a new run instead of resuming this one"
        )
    if all(t.status in COMPLETE for t in stored):
        if record.status != "finished":  # its driver died after the last task
            client.reopen_run(run_id).end("finished")
            return PipelineRun(run_id, record.pipeline, "finished", client, returned)
        raise ConflictError(f"run {run_id} finished every task; there is nothing to resume")
    if executor is None and record.executor not in EXECUTORS:
        raise InvalidInputError(
            f"run {run_id} ran on the executor {record.executor!r}, which no installed "
            "plug-in makes by name; pass the executor to resume it on (executor= here, "
            "--executor on the command line)"
        )
    pool, owned = open_executor(executor or record.executor, cpus)
    try:
        _check_fits(graph, pool)
        run = client.reopen_run(run_id)  # refuses if another resume got there first
        with _ending(run):
            records.abandon_running(run_id)
            states: dict[str, TaskState] = {}
            for task_record in stored:
                state = TaskState(graph.tasks[task_record.name], task_record.id)
                state.attempt = max((a.attempt for a in task_record.attempts), default=0)
                if task_record.status in COMPLETE:
                    state.status, state.digest = task_record.status, task_record.output_digest
                    state.size = task_record.output_size or 0
                states[task_record.name] = state
            driver = Driver(
                graph,
                states,
                run_id=run_id,
                pipeline=record.pipeline,
                records=records,
                artifacts=client.store.artifacts,
                executor=pool,
                owns_executor=owned,
                policy=POLICIES[record.policy](),
                deadline_s=None if record.deadline_ms is None else record.deadline_ms / 1000,
                observer=observer,
            )
            status = driver.drive()
            run.end(status)
        return PipelineRun(run_id, record.pipeline, status, client, returned)
    finally:
        if owned:
            pool.shutdown()


def cancel_pipeline(run_id: str, *, client: TrackingClient | None = None) -> str:
    """Ask a running pipeline run to stop; returns its status after the request.

    A live driver sees the request within half a second, stops its tasks and ends the
    run as ``killed``. A run whose driver died is not running (it was marked
    ``failed``); resume it, or leave it.
    """
    client = client or TrackingClient()
    client.mark_dead_runs()
    run_id = client.resolve_run_id(run_id)
    records = client.store.pipelines
    record = records.get(run_id)
    if record.status != "running":
        raise ConflictError(f"run {run_id} is not running (it is {record.status})")
    records.request_cancel(run_id)
    return "cancelling"


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(dict(params), allow_nan=False))  # type: ignore[no-any-return]
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"pipeline parameters must be JSON values (numbers, text, lists, mappings) so a "
            f"run can be resumed with them: {exc}"
        ) from None
