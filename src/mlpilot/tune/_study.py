"""Studies: run an objective on the points a sampler picks, in parallel, under a budget.

The driver keeps an in-memory Optuna study for the sampler and the store for the
record. It asks for a point only when a slot is free, so the sampler always learns from
every trial that has ended; it submits each trial to an executor as a task with the
resources a trial needs, and it writes trials' starts and ends in batches. A study
killed mid-way is rebuilt from the store by :func:`resume_study`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

import optuna
from optuna.trial import TrialState

from mlpilot.compute import Executor, Resources, TaskOutcome, executor_kind, open_executor
from mlpilot.errors import ConflictError, InvalidInputError
from mlpilot.schedule._deadline import parse_duration
from mlpilot.schedule._load import load_named
from mlpilot.schedule._step import StepRef, ref_of, refuse_in_worker
from mlpilot.schedule._worker import source_of
from mlpilot.store.base._studies import (
    FINISHED,
    StudyRecord,
    StudyRecords,
    StudySetup,
    TrialEnd,
    TrialRecord,
    TrialStart,
)
from mlpilot.tracking import Run, TrackingClient
from mlpilot.tune._report import warm_up, write_report
from mlpilot.tune._results import Study, frozen
from mlpilot.tune._samplers import make_sampler, quiet, sampler_name
from mlpilot.tune._space import Param, Space, as_space
from mlpilot.tune._trial import TrialResult, TrialSpec, run_trial
from mlpilot.tune.pruners import Pruner, make_pruner

DEFAULT_EXPERIMENT = "tuning"
#: How often the driver looks at the clock while every slot is busy.
_POLL_S = 0.5
#: A study that ran this long draws its report by default: the few seconds of imports
#: and drawing would more than double the cost of a small one.
_REPORT_AFTER_S = 60.0

#: ``observer(number, state, values)``: called when a trial starts and when it ends.
Observer = Callable[[int, str, "list[float] | None"], None]


@dataclasses.dataclass(frozen=True)
class Budget:
    """When a study stops starting trials: after ``trials`` trials have ended, after
    ``timeout_s`` seconds, or once its trials have used ``core_hours``; whichever comes
    first. Trials running at that moment finish."""

    trials: int | None = None
    timeout_s: float | None = None
    core_hours: float | None = None

    def __post_init__(self) -> None:
        if self.trials is not None and (
            isinstance(self.trials, bool) or not isinstance(self.trials, int) or self.trials < 1
        ):
            raise InvalidInputError(f"trials must be a whole number >= 1, got {self.trials!r}")
        for name in ("timeout_s", "core_hours"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and value > 0):
                raise InvalidInputError(f"{name} must be a number > 0, got {value!r}")


@dataclasses.dataclass(frozen=True)
class _Setup:
    """What a study runs with, as stored so that a resumed study runs the same."""

    name: str
    objective: StepRef
    space: Space
    directions: list[str]
    metrics: list[str]
    sampler: str | optuna.samplers.BaseSampler
    seed: int | None
    pruner: Pruner | None
    budget: Budget
    resources: Resources
    trial_timeout_s: float | None
    parallel: int | None
    kwargs: dict[str, Any]


def tune(
    objective: Callable[..., Any] | str,
    space: Space | Mapping[str, Param] | str,
    *,
    kwargs: Mapping[str, Any] | None = None,
    name: str | None = None,
    direction: str = "maximize",
    directions: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    sampler: str | optuna.samplers.BaseSampler = "tpe",
    seed: int | None = None,
    pruner: str | Pruner | None = None,
    trials: int | None = None,
    timeout: float | str | None = None,
    core_hours: float | None = None,
    parallel: int | None = None,
    cpus_per_trial: int = 1,
    gpus_per_trial: int = 0,
    memory_mb_per_trial: int = 0,
    trial_timeout_s: float | None = None,
    executor: str | Executor = "local",
    cpus: int | None = None,
    experiment: str | None = None,
    client: TrackingClient | None = None,
    observer: Observer | None = None,
    report: bool | None = None,
) -> Study:
    """Search ``space`` for the parameters that optimise ``objective``; return the study.

    The objective takes a :class:`Trial` and returns a number (a tuple of numbers, one
    per direction, for several objectives); it may call ``trial.report(value, step)``
    as it goes, which is where a pruner stops a hopeless trial. Each trial runs in a
    worker process as a task with ``cpus_per_trial`` cores (and GPUs and memory), as
    many at once as the executor has room for or ``parallel`` allows, and is recorded
    as a child run of the study's run.

    Args:
        objective: A function defined at the top level of a module, or ``FILE:NAME``.
        space: A :class:`Space`, a mapping of parameters, or a TOML file's path.
        kwargs: Keyword arguments every call of the objective gets besides the trial
            (``objective(trial, **kwargs)``), such as the dataset version to train on;
            JSON values, stored with the study so that a resumed study gets them too.
        direction: ``maximize`` or ``minimize`` the one objective.
        directions: One direction per objective, for a multi-objective study.
        metrics: Names for the objectives' values (``value``, or ``value_0`` ...).
        sampler: ``tpe`` (default), ``gp``, ``cmaes``, ``nsga2``, ``random``, ``grid``,
            a sampler a plug-in adds, or an Optuna ``BaseSampler``.
        seed: Makes the sampler's choices repeatable.
        pruner: ``asha``, ``median``, a :class:`~mlpilot.tune.pruners.Pruner`, or none.
        trials, timeout, core_hours: The budget (see :class:`Budget`); at least one,
            except for ``grid``, which stops when every point has been tried. The
            timeout is seconds or text such as ``"30m"``.
        parallel: Most trials at once (by default, as many as the executor fits).
        trial_timeout_s: A trial running longer is stopped and fails.
        executor: ``local``, ``ray``, or an :class:`~mlpilot.compute.Executor`.
        cpus: Cores the local executor may use (all of them by default).
        observer: Called with ``(number, state, values)`` as trials start and end.
        report: Store plots, importances and an HTML page with the study when it ends:
            always when true, never when false, and by default only for a study that
            ran a minute or more, beside which the seconds a report takes to draw are
            small. ``mlpilot studies report`` (or :func:`~mlpilot.tune.write_report`)
            draws one for any study later.
    """
    refuse_in_worker("study")
    dirs = list(directions) if directions is not None else [direction]
    for d in dirs:
        if d not in ("maximize", "minimize"):
            raise InvalidInputError(f"a direction is 'maximize' or 'minimize', not {d!r}")
    if not dirs:
        raise InvalidInputError("give at least one direction")
    if metrics is None:
        metrics = ["value"] if len(dirs) == 1 else [f"value_{i}" for i in range(len(dirs))]
    if len(metrics) != len(dirs) or len(set(metrics)) != len(metrics):
        raise InvalidInputError(
            f"give one distinct metric name per direction: {len(dirs)} directions, "
            f"metrics {list(metrics)!r}"
        )
    ref, source = _objective(objective)
    the_space = as_space(space)
    the_pruner = make_pruner(pruner)
    if the_pruner is not None and len(dirs) > 1:
        raise InvalidInputError(
            "pruning compares one objective's reports; a study with several directions "
            "cannot use a pruner"
        )
    timeout_s = None if timeout is None else parse_duration(timeout, "the timeout")
    budget = Budget(trials, timeout_s, core_hours)
    if sampler != "grid" and budget == Budget():
        raise InvalidInputError(
            "give the study a budget: trials=N, timeout=SECONDS or core_hours=H "
            "(--trials, --timeout, --core-hours)"
        )
    if trial_timeout_s is not None and not trial_timeout_s > 0:
        raise InvalidInputError(f"trial_timeout_s must be > 0, got {trial_timeout_s!r}")
    if parallel is not None and (not isinstance(parallel, int) or parallel < 1):
        raise InvalidInputError(f"parallel must be a whole number >= 1, got {parallel!r}")
    setup = _Setup(
        name=name or source.rpartition(":")[2].rpartition(".")[2],
        objective=ref,
        space=the_space,
        directions=dirs,
        metrics=list(metrics),
        sampler=sampler,
        seed=seed,
        pruner=the_pruner,
        budget=budget,
        resources=Resources(cpus_per_trial, gpus_per_trial, memory_mb_per_trial),
        trial_timeout_s=trial_timeout_s,
        parallel=parallel,
        kwargs=_jsonable(kwargs or {}),
    )
    make_sampler(sampler, seed=seed, space=the_space, objectives=len(dirs))  # checks it
    grid = the_space.grid() if sampler == "grid" else None
    client = client or TrackingClient()
    records = client.store.studies
    if report:
        warm_up()  # the default waits to see whether the study is long enough
    pool, owned = open_executor(executor, cpus)
    try:
        pool.check(setup.resources)
        run = client.create_run(
            experiment or DEFAULT_EXPERIMENT,
            name=setup.name,
            params={
                "sampler": sampler_name(sampler),
                "pruner": the_pruner.name if the_pruner else "none",
                "directions": ",".join(dirs),
            },
            tags={"mlpilot.study": setup.name},
        )
        with _failing(run):
            records.create(
                run.id,
                StudySetup(
                    name=setup.name,
                    objective=source,
                    space=the_space.to_dict(),
                    directions=dirs,
                    metrics=setup.metrics,
                    sampler={
                        "name": sampler_name(sampler),
                        "seed": seed,
                        "grid_size": len(grid) if grid else None,
                    },
                    pruner=(
                        {"name": the_pruner.name, **the_pruner.options()}
                        if the_pruner
                        else {"name": None}
                    ),
                    budget=dataclasses.asdict(budget),
                    trial_resources={
                        **dataclasses.asdict(setup.resources),
                        "timeout_s": trial_timeout_s,
                        "parallel": parallel,
                    },
                    executor=executor_kind(pool),
                    objective_kwargs=setup.kwargs,
                ),
            )
            driver = _Driver(setup, run.id, client, records, pool, observer, [], [])
        with _ending(run, driver, report):
            status = driver.drive()
        return Study.load(run.id, client=client, status=status, sampler_s=driver.sampler_s)
    finally:
        if owned:
            pool.shutdown()


def resume_study(
    ref: str,
    *,
    executor: str | Executor | None = None,
    cpus: int | None = None,
    sampler: str | optuna.samplers.BaseSampler | None = None,
    client: TrackingClient | None = None,
    observer: Observer | None = None,
    report: bool | None = None,
) -> Study:
    """Go on with a study that was stopped or killed, from what the store holds.

    Every trial that ended is kept and counts against the budget; trials that were
    running when the study stopped are marked ``killed`` and their points are tried
    again first. Refused while the study is running in another process. ``sampler``
    replaces the one the study ran with: a study started with a sampler object needs
    one, since the store holds only its class. ``report`` is as for :func:`tune`,
    counting the time the study ran before.
    """
    refuse_in_worker("study")
    client = client or TrackingClient()
    client.mark_dead_runs()
    records = client.store.studies
    record = records.get(ref)
    if record.status == "running":
        raise ConflictError(
            f"study {record.name!r} ({record.run_id}) is running; it can be resumed once it "
            "has stopped"
        )
    setup = _setup_of(record, sampler)
    if report:
        warm_up()
    pool, owned = open_executor(executor or record.executor, cpus)
    try:
        run = client.reopen_run(record.run_id)
        with _failing(run):
            records.abandon_running(
                record.run_id, "the study stopped while this trial ran; its point runs again"
            )
            trials = records.trials(record.run_id)
            driver = _Driver(
                setup,
                record.run_id,
                client,
                records,
                pool,
                observer,
                trials,
                _interrupted(trials),
                spent_s=record.spent_s,
            )
        with _ending(run, driver, report):
            status = driver.drive()
        return Study.load(record.run_id, client=client, status=status, sampler_s=driver.sampler_s)
    finally:
        if owned:
            pool.shutdown()


class _Driver:
    """Runs one study's trials to the end of its budget."""

    def __init__(
        self,
        setup: _Setup,
        study_id: str,
        client: TrackingClient,
        records: StudyRecords,
        pool: Executor,
        observer: Observer | None,
        done: list[TrialRecord],
        rerun: list[dict[str, Any]],
        spent_s: float = 0.0,
    ) -> None:
        self.setup, self.study_id, self.client, self.records = setup, study_id, client, records
        self.pool, self.observer = pool, observer
        self.spent_s = spent_s
        self.sampler_s = 0.0
        self.maximize = setup.directions[0] == "maximize"
        self.finished = [t for t in done if t.state in FINISHED]
        self.core_s = sum(t.cpus * (t.seconds or 0.0) for t in self.finished)
        self.next_number = max((t.number for t in done), default=-1) + 1
        self.running: dict[Future[TaskOutcome], tuple[optuna.trial.Trial, str, int, float]] = {}
        with quiet():
            self.study = optuna.create_study(
                directions=setup.directions,  # type: ignore[arg-type]
                sampler=make_sampler(
                    setup.sampler,
                    seed=setup.seed,
                    space=setup.space,
                    objectives=len(setup.directions),
                ),
            )
            reports = records.reports(study_id) if self.finished else {}
            for trial in self.finished:
                self.study.add_trial(frozen(trial, setup.space, reports.get(trial.run_id, {})))
        self.queue: list[dict[str, Any]] = list(rerun)
        self.grid = setup.sampler == "grid"
        if self.grid:
            tried = {_key(t.params) for t in self.finished} | {_key(p) for p in rerun}
            points = [p for p in setup.space.grid() if _key(p) not in tried]
            random.Random(setup.seed).shuffle(points)
            self.queue.extend(points)
        limit = setup.parallel or max(
            1,
            min(
                pool.capacity.cpus // max(setup.resources.cpus, 1),
                pool.capacity.gpus // setup.resources.gpus if setup.resources.gpus else 1 << 30,
            ),
        )
        self.parallel = limit
        self.started_at = time.monotonic()
        self.error: InvalidInputError | None = None
        #: Trials that ended since the last write: recorded with the next turn's starts.
        self.ended: list[TrialEnd] = []
        #: How the study ended: ``failed`` when every trial failed.
        self.status = "failed"

    # -- budget ------------------------------------------------------------------------

    def may_start(self, asked: int) -> bool:
        """Whether the budget allows one more trial, with ``asked`` about to start."""
        budget = self.setup.budget
        if self.error is not None or (self.grid and not self.queue):
            return False
        started = len(self.finished) + len(self.running) + asked
        if budget.trials is not None and started >= budget.trials:
            return False
        now = time.monotonic()
        if budget.timeout_s is not None and self.elapsed(now) >= budget.timeout_s:
            return False
        if budget.core_hours is not None:
            running = sum(now - t0 for _, _, _, t0 in self.running.values())
            running *= self.setup.resources.cpus
            if self.core_s + running >= budget.core_hours * 3600:
                return False
        return True

    def elapsed(self, now: float) -> float:
        return self.spent_s + now - self.started_at

    # -- the loop ----------------------------------------------------------------------

    def drive(self) -> str:
        while True:
            asked = self.ask()
            # What ended and what starts now, in one transaction: one commit per turn.
            self.records.record(
                self.study_id,
                ends=self.ended,
                starts=[
                    TrialStart(run_id, number, params, self.setup.resources.cpus)
                    for _, run_id, number, params in asked
                ],
            )
            ended, self.ended = self.ended, []
            if self.observer is not None:
                for end in ended:
                    self.observer(end.number, end.state, end.values)
            self.submit(asked)
            if not self.running:
                break
            done, _ = wait(list(self.running), timeout=_POLL_S, return_when=FIRST_COMPLETED)
            self.ended = self.land(done)
        if self.error is not None:
            raise self.error
        complete = sum(t.state == "complete" for t in self.finished)
        self.status = "finished" if complete or not self.finished else "failed"
        return self.status

    def running_ids(self) -> list[str]:
        return [run_id for _, run_id, _, _ in self.running.values()]

    def ask(self) -> list[tuple[optuna.trial.Trial, str, int, dict[str, Any]]]:
        """Points for as many new trials as slots are free and the budget allows."""
        asked: list[tuple[optuna.trial.Trial, str, int, dict[str, Any]]] = []
        while len(self.running) + len(asked) < self.parallel and self.may_start(len(asked)):
            t0 = time.perf_counter()
            with quiet():
                if self.queue:
                    self.study.enqueue_trial(self.queue.pop(0), skip_if_exists=False)
                trial = self.study.ask()
                params = self.setup.space.suggest(trial)
            self.sampler_s += time.perf_counter() - t0
            asked.append((trial, uuid.uuid4().hex, self.next_number, params))
            self.next_number += 1
        return asked

    def submit(self, asked: list[tuple[optuna.trial.Trial, str, int, dict[str, Any]]]) -> None:
        settings = self.client.settings
        now = time.monotonic()
        for trial, run_id, number, params in asked:
            spec = TrialSpec(
                self.study_id,
                run_id,
                number,
                self.setup.objective,
                params,
                settings,
                self.setup.pruner,
                self.maximize,
                len(self.setup.directions),
                self.setup.resources,
                self.setup.kwargs,
            )
            future = self.pool.submit(
                run_id,
                run_trial,
                (spec,),
                resources=self.setup.resources,
                timeout_s=self.setup.trial_timeout_s,
            )
            self.running[future] = (trial, run_id, number, now)
            self.client.keep_alive(run_id)
            if self.observer is not None:
                self.observer(number, "running", None)

    def land(self, done: set[Future[TaskOutcome]]) -> list[TrialEnd]:
        """Tell the sampler how the ``done`` trials ended; they are recorded next turn."""
        ends: list[TrialEnd] = []
        now = time.monotonic()
        t_sampler = 0.0
        for future in done:
            trial, run_id, number, t0 = self.running.pop(future)
            self.client.keep_alive(run_id, False)
            result = _result(future.result(), self.setup.trial_timeout_s)
            end = TrialEnd(
                run_id, number, result.state, result.values, result.error, result.reports
            )
            ends.append(end)
            self.core_s += self.setup.resources.cpus * (now - t0)
            self.finished.append(_as_record(end, self.setup.resources.cpus))
            started = time.perf_counter()
            with quiet():
                for step, value in end.reports:
                    if math.isfinite(value):
                        trial.report(value, step)
                if end.state == "complete":
                    self.study.tell(trial, end.values)
                else:
                    failed = TrialState.PRUNED if end.state == "pruned" else TrialState.FAIL
                    self.study.tell(trial, state=failed)
            t_sampler += time.perf_counter() - started
            if (
                self.setup.pruner is not None
                and end.state == "complete"
                and not end.reports
                and self.error is None
            ):
                self.error = InvalidInputError(
                    f"pruner {self.setup.pruner.name!r} needs intermediate values, but trial "
                    f"{end.number} finished without reporting any; call "
                    "trial.report(value, step) in the objective, or tune without a pruner"
                )
        self.sampler_s += t_sampler
        return ends

    def stop(self, status: str) -> None:
        """Record the trials that ended, and end every running one as ``status``."""
        ends = self.ended + [
            TrialEnd(run_id, number, status, error="the study was stopped while it ran")
            for _, run_id, number, _ in self.running.values()
        ]
        for run_id in self.running_ids():
            self.client.keep_alive(run_id, False)
        self.running.clear()
        self.ended = []
        self.records.record(self.study_id, ends=ends)


@contextlib.contextmanager
def _failing(run: Run) -> Iterator[None]:
    """End the run as failed if the block raises (the study could not start)."""
    try:
        yield
    except BaseException:
        run.end("failed")
        raise


@contextlib.contextmanager
def _ending(run: Run, driver: _Driver, report: bool | None) -> Iterator[None]:
    """End the study's run however the drive ends, and record the time it took."""
    status = "failed"
    try:
        yield
        status = driver.status
    except KeyboardInterrupt:
        status = "killed"
        raise
    finally:
        if driver.running or driver.ended:
            driver.stop("killed")
        driver.records.add_spent(run.id, time.monotonic() - driver.started_at)
        long = driver.elapsed(time.monotonic()) >= _REPORT_AFTER_S
        if status == "finished" and (report or (report is None and long)):
            write_report(Study.load(run.id, client=run.client))
        run.end(status)


def _result(outcome: TaskOutcome, timeout_s: float | None) -> TrialResult:
    if outcome.ok:
        assert isinstance(outcome.value, TrialResult)
        return outcome.value
    if outcome.status == "timeout":
        return TrialResult("failed", error=f"the trial ran past its timeout of {timeout_s}s")
    if outcome.status == "died":
        return TrialResult(
            "failed", error=f"the worker running the trial died ({outcome.error or 'killed'})"
        )
    return TrialResult("failed", error=outcome.error)


def _as_record(end: TrialEnd, cpus: int) -> TrialRecord:
    return TrialRecord(end.run_id, end.number, end.state, {}, end.values, cpus, 0, 0, end.error)


def _jsonable(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return dict(json.loads(json.dumps(dict(kwargs), allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"the objective's kwargs must be JSON values (text, numbers, lists, mappings), "
            f"so that a resumed study gets them too: {exc}"
        ) from None


def _interrupted(trials: list[TrialRecord]) -> list[dict[str, Any]]:
    """The points of killed trials that no later trial has run to an end."""
    ended = {_key(t.params) for t in trials if t.state in FINISHED}
    points: dict[str, dict[str, Any]] = {}
    for trial in trials:
        if trial.state == "killed" and _key(trial.params) not in ended:
            points.setdefault(_key(trial.params), trial.params)
    return list(points.values())


def _key(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


def _objective(objective: Callable[..., Any] | str) -> tuple[StepRef, str]:
    if isinstance(objective, str):
        objective = load_objective(objective)
    if not callable(objective) or "<" in getattr(objective, "__qualname__", "<"):
        raise InvalidInputError(
            f"the objective must be a function defined at the top level of a module, "
            f"since worker processes import it by name; got {objective!r}"
        )
    return ref_of(objective), source_of(objective)


def load_objective(spec: str) -> Callable[..., Any]:
    """The function ``FILE:NAME`` or ``MODULE:NAME`` names."""
    found: Callable[..., Any] = load_named(
        spec, "objective", _is_function, "top-level function", "search.py:objective"
    )
    return found


def _is_function(value: Any) -> bool:
    return callable(value) and not isinstance(value, type) and hasattr(value, "__code__")


def _setup_of(
    record: StudyRecord, sampler: str | optuna.samplers.BaseSampler | None = None
) -> _Setup:
    resources = record.trial_resources
    pruner = dict(record.pruner)
    name = pruner.pop("name")
    return _Setup(
        name=record.name,
        objective=ref_of(load_objective(record.objective)),
        space=Space.from_dict(record.space),
        directions=record.directions,
        metrics=record.metrics,
        sampler=sampler or record.sampler["name"],
        seed=record.sampler.get("seed"),
        pruner=make_pruner(name, pruner),
        budget=Budget(**record.budget),
        resources=Resources(resources["cpus"], resources["gpus"], resources["memory_mb"]),
        trial_timeout_s=resources.get("timeout_s"),
        parallel=resources.get("parallel"),
        kwargs=record.objective_kwargs or {},
    )
