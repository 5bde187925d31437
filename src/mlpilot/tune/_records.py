"""Studies, trials and trial reports in the metadata store.

A study is a row of ``runs`` (so ``mlpilot runs`` lists it) with a ``studies`` row for
what it was started with. Each trial is a child run with its params as run params and
its results as metrics, plus a ``trials`` row for its state and values; what a running
trial reports goes to ``trial_reports``, where pruners in other processes read it.
The driver writes trials in batches, one transaction per batch.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Connection, bindparam, func, insert, select, update

from mlpilot.errors import InvalidInputError, NotFoundError
from mlpilot.store import MetadataStore, now_ms
from mlpilot.store import _schema as db
from mlpilot.store._inputs import text_rows
from mlpilot.store.base._tracking import Series
from mlpilot.store.sql._liveness import HOST
from mlpilot.store.sql._metrics import write_series
from mlpilot.store.sql._queries import resolve_run_id

#: How a trial can end, and the status its run ends with.
RUN_STATUS = {"complete": "finished", "pruned": "pruned", "failed": "failed", "killed": "killed"}
#: Trial states that use up the budget: the trial ran to an end of its own.
FINISHED = ("complete", "pruned", "failed")


@dataclasses.dataclass(frozen=True)
class StudyRecord:
    """A stored study: what it was started with, and how it stands."""

    run_id: str
    name: str
    experiment: str
    status: str
    objective: str
    space: dict[str, Any]
    directions: list[str]
    metrics: list[str]
    sampler: dict[str, Any]
    pruner: dict[str, Any]
    budget: dict[str, Any]
    trial_resources: dict[str, Any]
    executor: str
    spent_s: float
    objective_kwargs: dict[str, Any] | None
    start_ms: int
    end_ms: int | None


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """One trial: its point, how it ended and its objective values."""

    run_id: str
    number: int
    state: str
    params: dict[str, Any]
    values: list[float] | None
    cpus: int
    start_ms: int
    end_ms: int | None
    error: str

    @property
    def seconds(self) -> float | None:
        return None if self.end_ms is None else (self.end_ms - self.start_ms) / 1000


class TrialStart(NamedTuple):
    """A trial about to start: its run, number, point and cores."""

    run_id: str
    number: int
    params: dict[str, Any]
    cpus: int
    experiment_id: int
    study_name: str


@dataclasses.dataclass(frozen=True)
class TrialEnd:
    """How a trial ended, as the driver records it."""

    run_id: str
    number: int
    state: str
    values: list[float] | None = None
    error: str = ""
    #: ``(step, value)`` of every report, written as the run's metric history.
    reports: Sequence[tuple[int, float]] = ()


class StudyRecords:
    """Reads and writes the tuning tables of one metadata store."""

    def __init__(self, metadata: MetadataStore, actor: str = "") -> None:
        self.metadata = metadata
        self.actor = actor

    # -- the driver's writes ---------------------------------------------------------

    def create(self, run_id: str, **fields: Any) -> None:
        with self.metadata.write() as conn:
            conn.execute(insert(db.studies).values(run_id=run_id, spent_s=0.0, **fields))
            self.metadata.record_event(
                conn, "study.started", "run", run_id, self.actor, name=fields["name"]
            )

    def record(
        self,
        study_id: str,
        metrics: Sequence[str],
        ends: Sequence[TrialEnd] = (),
        starts: Sequence[TrialStart] = (),
    ) -> None:
        """Record, in one transaction, how trials ended and which ones start now."""
        if not ends and not starts:
            return
        with self.metadata.write() as conn:
            if ends:
                self._end(conn, study_id, metrics, ends)
            if starts:
                self._start(conn, study_id, starts)

    def end_trials(self, study_id: str, metrics: Sequence[str], ends: Sequence[TrialEnd]) -> None:
        self.record(study_id, metrics, ends=ends)

    def _start(self, conn: Connection, study_id: str, trials: Sequence[TrialStart]) -> None:
        """Record trials as running child runs of the study's run."""
        start = now_ms()
        runs, params, tags, rows = [], [], [], []
        for run_id, number, values, cpus, experiment_id, study_name in trials:
            runs.append(
                {
                    "id": run_id,
                    "experiment_id": experiment_id,
                    "name": f"{study_name}-{number}",
                    "status": "running",
                    "parent_id": study_id,
                    "user": self.actor,
                    "host": HOST,
                    "pid": os.getpid(),
                    "start_ms": start,
                    "heartbeat_ms": start,
                }
            )
            params.extend(text_rows(run_id, values, "param"))
            tags.extend(
                text_rows(run_id, {"mlpilot.study": study_id, "mlpilot.trial": number}, "tag")
            )
            rows.append(
                {
                    "run_id": run_id,
                    "study_id": study_id,
                    "number": number,
                    "state": "running",
                    "params": values,
                    "cpus": cpus,
                    "start_ms": start,
                    "error": "",
                }
            )
        conn.execute(insert(db.runs), runs)
        if params:
            conn.execute(insert(db.params), params)
        conn.execute(insert(db.tags), tags)
        conn.execute(insert(db.trials), rows)

    def _end(
        self, conn: Connection, study_id: str, metrics: Sequence[str], ends: Sequence[TrialEnd]
    ) -> None:
        """Record how trials ended: their runs, values, metric history and an event each."""
        end = now_ms()
        series: dict[tuple[str, str], Series] = {}
        for e in ends:
            if e.reports:
                steps, values = zip(*e.reports, strict=True)
                series[(e.run_id, metrics[0])] = Series.of(
                    np.asarray(steps), np.full(len(steps), end), np.asarray(values)
                )
            for key, value in zip(metrics, e.values or (), strict=False):
                points = series.setdefault((e.run_id, key), Series())
                points.append(max(points.steps, default=-1) + 1, end, value)
        conn.execute(
            update(db.runs)
            .where(db.runs.c.id == bindparam("b_id"))
            .values(status=bindparam("b_status"), end_ms=end),
            [{"b_id": e.run_id, "b_status": RUN_STATUS[e.state]} for e in ends],
        )
        conn.execute(
            update(db.trials)
            .where(db.trials.c.run_id == bindparam("b_id"))
            .values(
                state=bindparam("b_state"),
                values=bindparam("b_values"),
                error=bindparam("b_error"),
                end_ms=end,
            ),
            [
                {
                    "b_id": e.run_id,
                    "b_state": e.state,
                    "b_values": e.values,
                    "b_error": e.error[-4000:],
                }
                for e in ends
            ],
        )
        write_series(self.metadata, conn, series)
        conn.execute(
            insert(db.events),
            [
                {
                    "ts_ms": end,
                    "kind": f"trial.{e.state}",
                    "object_type": "run",
                    "object_id": e.run_id,
                    "actor": self.actor,
                    "payload": {
                        "study": study_id,
                        "number": e.number,
                        "values": e.values,
                        "error": e.error[-500:],
                    },
                }
                for e in ends
            ],
        )

    def abandon_running(self, study_id: str, note: str) -> list[TrialRecord]:
        """End as ``killed`` the trials a stopped driver left running, and return them."""
        left = [t for t in self.trials(study_id) if t.state == "running"]
        self.end_trials(
            study_id, [], [TrialEnd(t.run_id, t.number, "killed", error=note) for t in left]
        )
        return left

    def add_spent(self, study_id: str, seconds: float) -> None:
        with self.metadata.write() as conn:
            conn.execute(
                update(db.studies)
                .where(db.studies.c.run_id == study_id)
                .values(spent_s=db.studies.c.spent_s + seconds)
            )

    # -- what running trials write and pruners read ----------------------------------

    def report(self, study_id: str, trial_id: str, step: int, value: float) -> None:
        with self.metadata.write() as conn:
            conn.execute(
                insert(db.trial_reports).values(
                    trial_id=trial_id, step=step, study_id=study_id, value=value
                )
            )

    def mark_rung(self, trial_id: str, step: int, rung: int) -> None:
        with self.metadata.write() as conn:
            conn.execute(
                update(db.trial_reports)
                .where(db.trial_reports.c.trial_id == trial_id, db.trial_reports.c.step == step)
                .values(rung=rung)
            )

    def rung_values(self, study_id: str, rung: int) -> list[float]:
        # A report that passed several rungs at once holds the highest; for each trial,
        # its value at ``rung`` is its report with the lowest rung at or above it.
        r, q = db.trial_reports.alias("r"), db.trial_reports.alias("q")
        lowest = (
            select(func.min(q.c.rung))
            .where(q.c.trial_id == r.c.trial_id, q.c.rung >= rung)
            .scalar_subquery()
        )
        query = select(r.c.value).where(
            r.c.study_id == study_id, r.c.rung >= rung, r.c.rung == lowest
        )
        with self.metadata.read() as conn:
            return [float(v) for v in conn.execute(query).scalars()]

    def finished_values_at(self, study_id: str, step: int) -> list[float]:
        query = (
            select(db.trial_reports.c.value)
            .join(db.trials, db.trials.c.run_id == db.trial_reports.c.trial_id)
            .where(
                db.trial_reports.c.study_id == study_id,
                db.trial_reports.c.step == step,
                db.trials.c.state == "complete",
            )
        )
        with self.metadata.read() as conn:
            return [float(v) for v in conn.execute(query).scalars()]

    def finished_count(self, study_id: str) -> int:
        query = select(func.count()).where(
            db.trials.c.study_id == study_id, db.trials.c.state == "complete"
        )
        with self.metadata.read() as conn:
            return int(conn.execute(query).scalar_one())

    # -- reads -----------------------------------------------------------------------

    def get(self, ref: str) -> StudyRecord:
        """The study ``ref`` names: its run id (or a prefix), or its name (the latest)."""
        with self.metadata.read() as conn:
            run_id = _study_id(conn, ref)
            row = conn.execute(_study_query().where(db.studies.c.run_id == run_id)).one()
        return _study(row)

    def recent(self, limit: int = 100) -> list[StudyRecord]:
        query = _study_query().order_by(db.runs.c.start_ms.desc()).limit(limit)
        with self.metadata.read() as conn:
            return [_study(row) for row in conn.execute(query)]

    def trials(self, study_id: str) -> list[TrialRecord]:
        query = (
            select(
                db.trials.c.run_id,
                db.trials.c.number,
                db.trials.c.state,
                db.trials.c.params,
                db.trials.c["values"],
                db.trials.c.cpus,
                db.trials.c.start_ms,
                db.trials.c.end_ms,
                db.trials.c.error,
            )
            .where(db.trials.c.study_id == study_id)
            .order_by(db.trials.c.number)
        )
        with self.metadata.read() as conn:
            return [TrialRecord(*row) for row in conn.execute(query)]

    def reports(self, study_id: str) -> dict[str, dict[int, float]]:
        """Every trial's reports, ``{run_id: {step: value}}``."""
        query = select(
            db.trial_reports.c.trial_id, db.trial_reports.c.step, db.trial_reports.c.value
        ).where(db.trial_reports.c.study_id == study_id)
        out: dict[str, dict[int, float]] = {}
        with self.metadata.read() as conn:
            for trial_id, step, value in conn.execute(query):
                out.setdefault(trial_id, {})[int(step)] = float(value)
        return out

    def counts(self, study_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Trials by state, for each study."""
        query = (
            select(db.trials.c.study_id, db.trials.c.state, func.count())
            .where(db.trials.c.study_id.in_(list(study_ids)))
            .group_by(db.trials.c.study_id, db.trials.c.state)
        )
        counts: dict[str, dict[str, int]] = {s: {} for s in study_ids}
        with self.metadata.read() as conn:
            for study_id, state, n in conn.execute(query):
                counts[study_id][state] = int(n)
        return counts


def _study_id(conn: Connection, ref: str) -> str:
    if not isinstance(ref, str) or not ref:
        raise InvalidInputError(f"name a study by its name or run id, not {ref!r}")
    by_name = conn.execute(
        select(db.studies.c.run_id)
        .join(db.runs, db.runs.c.id == db.studies.c.run_id)
        .where(db.studies.c.name == ref)
        .order_by(db.runs.c.start_ms.desc())
        .limit(1)
    ).scalar()
    if by_name is not None:
        return str(by_name)
    try:
        run_id = resolve_run_id(conn, ref)
    except (InvalidInputError, NotFoundError):
        run_id = None
    found = (
        run_id
        and conn.execute(select(db.studies.c.run_id).where(db.studies.c.run_id == run_id)).scalar()
    )
    if not found:
        raise NotFoundError(
            f"no study named {ref!r} or with that run id; list them with `mlpilot tune list`"
        )
    return str(found)


def _study_query() -> Any:
    return select(
        db.studies.c.run_id,
        db.studies.c.name,
        db.experiments.c.name,
        db.runs.c.status,
        db.studies.c.objective,
        db.studies.c.space,
        db.studies.c.directions,
        db.studies.c.metrics,
        db.studies.c.sampler,
        db.studies.c.pruner,
        db.studies.c.budget,
        db.studies.c.trial_resources,
        db.studies.c.executor,
        db.studies.c.spent_s,
        db.studies.c.objective_kwargs,
        db.runs.c.start_ms,
        db.runs.c.end_ms,
    ).select_from(
        db.studies.join(db.runs, db.runs.c.id == db.studies.c.run_id).join(
            db.experiments, db.experiments.c.id == db.runs.c.experiment_id
        )
    )


def _study(row: Any) -> StudyRecord:
    return StudyRecord(*row)
