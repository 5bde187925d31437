"""Study records in SQL: studies, trials as child runs, and trial reports.

A study is a row of ``runs`` (so ``mlpilot runs`` lists it) with a ``studies`` row for
what it was started with. Each trial is a child run with its params as run params and
its results as metrics, plus a ``trials`` row for its state and values; what a running
trial reports goes to ``trial_reports``. The driver writes trials in batches: one
transaction for the ends and starts of one turn of its loop.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._inputs import text_rows
from mlpilot.store._metadata import MetadataStore, now_ms
from mlpilot.store._schema import events, experiments, runs, studies, trial_reports, trials
from mlpilot.store._schema import params as param_table
from mlpilot.store._schema import tags as tag_table
from mlpilot.store._validate import check_key
from mlpilot.store.base._studies import (
    END_STATES,
    StudyRecord,
    StudySetup,
    TrialEnd,
    TrialRecord,
    TrialStart,
)
from mlpilot.store.base._tracking import Series
from mlpilot.store.sql._liveness import HOST
from mlpilot.store.sql._metrics import write_series
from mlpilot.store.sql._queries import resolve_run_id
from mlpilot.store.sql._retry import write_retrying

#: The status a trial's run ends with, by how the trial ended.
_RUN_STATUS = {"complete": "finished", "pruned": "pruned", "failed": "failed", "killed": "killed"}
#: The end of a trial's error kept in its row, and in its event.
_ERROR_CHARS, _EVENT_ERROR_CHARS = 4000, 500


class SqlStudyRecords:
    """:class:`~mlpilot.store.base.StudyRecords` over the metadata database.

    Args:
        metadata: The database.
        actor: Who the events of writes name (the settings' user).
    """

    def __init__(self, metadata: MetadataStore, actor: str) -> None:
        self._metadata = metadata
        self._actor = actor

    # -- the driver's writes ---------------------------------------------------------

    def create(self, run_id: str, setup: StudySetup) -> None:
        check_key(setup.name, "study name")

        def work(conn: Connection) -> None:
            _check_run(conn, run_id)
            try:
                conn.execute(insert(studies).values(run_id=run_id, spent_s=0.0, **setup.to_dict()))
            except IntegrityError:
                raise ConflictError(f"run {run_id} is a study already") from None
            self._metadata.record_event(
                conn, "study.started", "run", run_id, self._actor, name=setup.name
            )

        write_retrying(self._metadata, work)

    def record(
        self,
        study_id: str,
        ends: Sequence[TrialEnd] = (),
        starts: Sequence[TrialStart] = (),
    ) -> None:
        if not ends and not starts:
            return
        for end in ends:
            _check_end(end)
        for start in starts:
            _check_start(start)

        def work(conn: Connection) -> None:
            study = conn.execute(
                select(runs.c.experiment_id, studies.c.name, studies.c.metrics)
                .join(runs, runs.c.id == studies.c.run_id)
                .where(studies.c.run_id == study_id)
            ).one_or_none()
            if study is None:
                raise _no_study(study_id)
            experiment_id, name, metrics = study
            if ends:
                self._end(conn, study_id, metrics, ends)
            if starts:
                try:
                    self._start(conn, study_id, experiment_id, name, starts)
                except IntegrityError:
                    raise ConflictError(
                        f"study {study_id} has a trial with one of the numbers or run ids "
                        f"{[(s.number, s.run_id) for s in starts]} already"
                    ) from None

        write_retrying(self._metadata, work)

    def _start(
        self,
        conn: Connection,
        study_id: str,
        experiment_id: int,
        study_name: str,
        starts: Sequence[TrialStart],
    ) -> None:
        start = now_ms()
        run_rows, params, tags, rows = [], [], [], []
        for trial in starts:
            run_rows.append(
                {
                    "id": trial.run_id,
                    "experiment_id": experiment_id,
                    "name": f"{study_name}-{trial.number}",
                    "status": "running",
                    "parent_id": study_id,
                    "user": self._actor,
                    "host": HOST,
                    "pid": os.getpid(),
                    "start_ms": start,
                    "heartbeat_ms": start,
                }
            )
            params.extend(text_rows(trial.run_id, trial.params, "param"))
            tags.extend(
                text_rows(
                    trial.run_id, {"mlpilot.study": study_id, "mlpilot.trial": trial.number}, "tag"
                )
            )
            rows.append(
                {
                    "run_id": trial.run_id,
                    "study_id": study_id,
                    "number": trial.number,
                    "state": "running",
                    "params": trial.params,
                    "cpus": trial.cpus,
                    "start_ms": start,
                    "error": "",
                }
            )
        conn.execute(insert(runs), run_rows)
        if params:
            conn.execute(insert(param_table), params)
        conn.execute(insert(tag_table), tags)
        conn.execute(insert(trials), rows)

    def _end(
        self, conn: Connection, study_id: str, metrics: Sequence[str], ends: Sequence[TrialEnd]
    ) -> None:
        """End trials: their runs, values, metric history and an event each."""
        ids = [e.run_id for e in ends]
        known = set(
            conn.execute(
                select(trials.c.run_id).where(
                    trials.c.study_id == study_id, trials.c.run_id.in_(ids)
                )
            ).scalars()
        )
        missing = [i for i in ids if i not in known]
        if missing:
            raise NotFoundError(f"study {study_id} has no trial with run id {missing[0]!r}")
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
        # In run id order, so that two writers lock the rows in one order.
        ordered = sorted(ends, key=lambda e: e.run_id)
        conn.execute(
            update(runs)
            .where(runs.c.id == bindparam("b_id"))
            .values(status=bindparam("b_status"), end_ms=end),
            [{"b_id": e.run_id, "b_status": _RUN_STATUS[e.state]} for e in ordered],
        )
        conn.execute(
            update(trials)
            .where(trials.c.run_id == bindparam("b_id"))
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
                    "b_error": e.error[-_ERROR_CHARS:],
                }
                for e in ordered
            ],
        )
        write_series(self._metadata, conn, series)
        conn.execute(
            insert(events),
            [
                {
                    "ts_ms": end,
                    "kind": f"trial.{e.state}",
                    "object_type": "run",
                    "object_id": e.run_id,
                    "actor": self._actor,
                    "payload": {
                        "study": study_id,
                        "number": e.number,
                        "values": e.values,
                        "error": e.error[-_EVENT_ERROR_CHARS:],
                    },
                }
                for e in ends
            ],
        )

    def abandon_running(self, study_id: str, note: str) -> list[TrialRecord]:
        def work(conn: Connection) -> list[TrialRecord]:
            found = _trials(conn, study_id)
            if not found:
                _check_study(conn, study_id)
            left = [t for t in found if t.state == "running"]
            if left:
                metrics = conn.execute(
                    select(studies.c.metrics).where(studies.c.run_id == study_id)
                ).scalar_one()
                ends = [TrialEnd(t.run_id, t.number, "killed", error=note) for t in left]
                self._end(conn, study_id, metrics, ends)
            return left

        found: list[TrialRecord] = write_retrying(self._metadata, work)
        return found

    def add_spent(self, study_id: str, seconds: float) -> None:
        if not _finite(seconds) or seconds < 0:
            raise InvalidInputError(f"seconds spent must be a number >= 0, got {seconds!r}")

        def work(conn: Connection) -> None:
            changed = conn.execute(
                update(studies)
                .where(studies.c.run_id == study_id)
                .values(spent_s=studies.c.spent_s + float(seconds))
            ).rowcount
            if not changed:
                raise _no_study(study_id)

        write_retrying(self._metadata, work)

    # -- what running trials write and pruners read ----------------------------------

    def report(self, study_id: str, trial_id: str, step: int, value: float) -> None:
        step = _step(step)
        if not _finite(value):
            raise InvalidInputError(f"a reported value must be a finite number, got {value!r}")

        row = {"trial_id": trial_id, "step": step, "study_id": study_id, "value": float(value)}
        try:
            write_retrying(self._metadata, lambda conn: conn.execute(insert(trial_reports), row))
        except IntegrityError:
            # The transaction is gone; a read says which key the row clashed on.
            with self._metadata.read() as conn:
                known = conn.execute(
                    select(trials.c.run_id).where(
                        trials.c.run_id == trial_id, trials.c.study_id == study_id
                    )
                ).scalar()
            if known is None:
                raise NotFoundError(
                    f"study {study_id} has no trial with run id {trial_id!r}"
                ) from None
            raise ConflictError(f"trial {trial_id} reported step {step} already") from None

    def mark_rung(self, trial_id: str, step: int, rung: int) -> None:
        step, rung = _step(step), _step(rung)

        def work(conn: Connection) -> None:
            changed = conn.execute(
                update(trial_reports)
                .where(trial_reports.c.trial_id == trial_id, trial_reports.c.step == step)
                .values(rung=rung)
            ).rowcount
            if not changed:
                raise NotFoundError(f"trial {trial_id!r} has no report at step {step}")

        write_retrying(self._metadata, work)

    def rung_values(self, study_id: str, rung: int) -> list[float]:
        # A report that passed several rungs at once holds the highest; for each trial,
        # its value at ``rung`` is its report with the lowest rung at or above it.
        r, q = trial_reports.alias("r"), trial_reports.alias("q")
        lowest = (
            select(func.min(q.c.rung))
            .where(q.c.trial_id == r.c.trial_id, q.c.rung >= rung)
            .scalar_subquery()
        )
        query = select(r.c.value).where(
            r.c.study_id == study_id, r.c.rung >= rung, r.c.rung == lowest
        )
        with self._metadata.read() as conn:
            return [float(v) for v in conn.execute(query).scalars()]

    def finished_values_at(self, study_id: str, step: int) -> list[float]:
        query = (
            select(trial_reports.c.value)
            .join(trials, trials.c.run_id == trial_reports.c.trial_id)
            .where(
                trial_reports.c.study_id == study_id,
                trial_reports.c.step == step,
                trials.c.state == "complete",
            )
        )
        with self._metadata.read() as conn:
            return [float(v) for v in conn.execute(query).scalars()]

    def finished_count(self, study_id: str) -> int:
        query = select(func.count()).where(
            trials.c.study_id == study_id, trials.c.state == "complete"
        )
        with self._metadata.read() as conn:
            return int(conn.execute(query).scalar_one())

    # -- reads -----------------------------------------------------------------------

    def get(self, ref: str) -> StudyRecord:
        with self._metadata.read() as conn:
            run_id = _study_id(conn, ref)
            row = conn.execute(_study_query().where(studies.c.run_id == run_id)).one()
        return StudyRecord(*row)

    def recent(self, limit: int = 100) -> list[StudyRecord]:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInputError(f"limit must be a whole number >= 1, got {limit!r}")
        query = _study_query().order_by(runs.c.start_ms.desc(), runs.c.id).limit(limit)
        with self._metadata.read() as conn:
            return [StudyRecord(*row) for row in conn.execute(query)]

    def trials(self, study_id: str) -> list[TrialRecord]:
        with self._metadata.read() as conn:
            found = _trials(conn, study_id)
            if not found:
                _check_study(conn, study_id)
        return found

    def reports(self, study_id: str) -> dict[str, dict[int, float]]:
        query = select(trial_reports.c.trial_id, trial_reports.c.step, trial_reports.c.value).where(
            trial_reports.c.study_id == study_id
        )
        out: dict[str, dict[int, float]] = {}
        with self._metadata.read() as conn:
            for trial_id, step, value in conn.execute(query):
                out.setdefault(trial_id, {})[int(step)] = float(value)
            if not out:
                _check_study(conn, study_id)
        return out


def _trials(conn: Connection, study_id: str) -> list[TrialRecord]:
    query = (
        select(
            trials.c.run_id,
            trials.c.number,
            trials.c.state,
            trials.c.params,
            trials.c["values"],
            trials.c.cpus,
            trials.c.start_ms,
            trials.c.end_ms,
            trials.c.error,
        )
        .where(trials.c.study_id == study_id)
        .order_by(trials.c.number)
    )
    return [TrialRecord(*row) for row in conn.execute(query)]


def _no_study(study_id: str) -> NotFoundError:
    return NotFoundError(f"no study with run id {study_id!r}; list them with `mlpilot tune list`")


def _check_study(conn: Connection, study_id: str) -> None:
    if conn.execute(select(studies.c.run_id).where(studies.c.run_id == study_id)).scalar() is None:
        raise _no_study(study_id)


def _check_run(conn: Connection, run_id: str) -> None:
    if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).scalar() is None:
        raise NotFoundError(f"no run with id {run_id!r}")


def _study_id(conn: Connection, ref: str) -> str:
    if not isinstance(ref, str) or not ref:
        raise InvalidInputError(f"name a study by its name or run id, not {ref!r}")
    by_name = conn.execute(
        select(studies.c.run_id)
        .join(runs, runs.c.id == studies.c.run_id)
        .where(studies.c.name == ref)
        .order_by(runs.c.start_ms.desc())
        .limit(1)
    ).scalar()
    if by_name is not None:
        return str(by_name)
    try:
        run_id = resolve_run_id(conn, ref)
    except (InvalidInputError, NotFoundError):
        run_id = None
    found = (
        run_id and conn.execute(select(studies.c.run_id).where(studies.c.run_id == run_id)).scalar()
    )
    if not found:
        raise NotFoundError(
            f"no study named {ref!r} or with that run id; list them with `mlpilot tune list`"
        )
    return str(found)


def _study_query() -> Any:
    return select(
        studies.c.run_id,
        studies.c.name,
        experiments.c.name,
        runs.c.status,
        studies.c.objective,
        studies.c.space,
        studies.c.directions,
        studies.c.metrics,
        studies.c.sampler,
        studies.c.pruner,
        studies.c.budget,
        studies.c.trial_resources,
        studies.c.executor,
        studies.c.spent_s,
        studies.c.objective_kwargs,
        runs.c.start_ms,
        runs.c.end_ms,
    ).select_from(
        studies.join(runs, runs.c.id == studies.c.run_id).join(
            experiments, experiments.c.id == runs.c.experiment_id
        )
    )


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)


def _step(step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise InvalidInputError(f"a step or rung must be a whole number >= 0, got {step!r}")
    return int(step)


def _check_start(start: TrialStart) -> None:
    if isinstance(start.number, bool) or not isinstance(start.number, int) or start.number < 0:
        raise InvalidInputError(f"a trial number is a whole number >= 0, got {start.number!r}")
    if isinstance(start.cpus, bool) or not isinstance(start.cpus, int) or start.cpus < 0:
        raise InvalidInputError(f"a trial's cores are a whole number >= 0, got {start.cpus!r}")


def _check_end(end: TrialEnd) -> None:
    if end.state not in END_STATES:
        raise InvalidInputError(
            f"a trial ends as one of {', '.join(END_STATES)}, not {end.state!r}"
        )
    if end.values is not None and not all(_finite(v) for v in end.values):
        raise InvalidInputError(f"a trial's values must be finite numbers, got {end.values!r}")
    for step, value in end.reports:
        _step(step)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isinf(value):
            raise InvalidInputError(f"a reported value must be a number, got {value!r}")
