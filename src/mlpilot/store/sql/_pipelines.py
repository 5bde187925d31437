"""Pipeline records in SQL: ``pipeline_runs``, ``task_runs`` and ``task_attempts``.

A pipeline run is a row of ``runs`` (made by the tracking records) with a
``pipeline_runs`` row for what it was started with, one ``task_runs`` row per task and
one ``task_attempts`` row per attempt. Each method is one transaction, so a driver
killed at any moment leaves rows that say which tasks finished and where their outputs
are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, desc, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._metadata import MetadataStore, now_ms
from mlpilot.store._schema import pipeline_runs, runs, task_attempts, task_runs
from mlpilot.store._validate import check_key
from mlpilot.store.base._pipelines import (
    ATTEMPT_STATES,
    ENDED,
    TASK_STATES,
    UNFINISHED,
    AttemptEnd,
    AttemptStart,
    CachedOutput,
    NewTask,
    PipelineRunRecord,
    StepHistory,
    TaskRecord,
)
from mlpilot.store.sql import _pipeline_rows as _rows
from mlpilot.store.sql._tracking import write_retrying

T = TypeVar("T")

#: Longest error text an event carries (the task row keeps all of it).
_EVENT_ERROR_CHARS = 2000


class SqlPipelineRecords:
    """:class:`~mlpilot.store.base.PipelineRecords` over the metadata database.

    Args:
        metadata: The database.
        actor: Who the events of writes name (the settings' user).
    """

    def __init__(self, metadata: MetadataStore, actor: str) -> None:
        self._metadata = metadata
        self._actor = actor

    # -- writes ------------------------------------------------------------------------

    def create(
        self,
        run_id: str,
        *,
        pipeline: str,
        source: str,
        params: Mapping[str, Any],
        policy: str,
        executor: str,
        deadline_ms: int | None,
        tasks: Sequence[NewTask],
    ) -> None:
        check_key(pipeline, "pipeline name")
        if not isinstance(source, str) or not source:
            raise InvalidInputError(f"a pipeline's source must be FILE:NAME, got {source!r}")
        _rows.check_name(policy, "policy")
        _rows.check_name(executor, "executor")
        if deadline_ms is not None and (isinstance(deadline_ms, bool) or deadline_ms < 0):
            raise InvalidInputError(f"deadline_ms must be a time in ms, got {deadline_ms!r}")
        stored_params = _rows.json_params(params)
        new_rows = _rows.task_rows(run_id, tasks)

        def create(conn: Connection) -> None:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFoundError(f"no run with id {run_id!r}")
            if _rows.is_pipeline_run(conn, run_id):
                raise ConflictError(f"run {run_id} is a pipeline run already")
            conn.execute(
                insert(pipeline_runs).values(
                    run_id=run_id,
                    pipeline=pipeline,
                    source=source,
                    params=stored_params,
                    policy=policy,
                    executor=executor,
                    deadline_ms=deadline_ms,
                    cancel_requested=0,
                )
            )
            if new_rows:
                conn.execute(insert(task_runs), new_rows)
            self._event(
                conn,
                "pipeline.started",
                "run",
                run_id,
                pipeline=pipeline,
                tasks=len(new_rows),
                policy=policy,
                executor=executor,
            )

        try:
            self._write(create)
        except IntegrityError:
            raise ConflictError(f"run {run_id} or one of its task ids exists already") from None

    def start_attempts(self, starts: Sequence[AttemptStart]) -> None:
        if not starts:
            return
        for start in starts:
            _rows.check_count(start.attempt, "attempt", least=1)
            for field in ("cpus", "gpus", "memory_mb"):
                _rows.check_count(getattr(start, field), field, least=0)
        starts = sorted(starts, key=lambda s: (s.task_id, s.attempt))  # one lock order
        now = now_ms()
        attempt_rows = [
            {
                "task_id": s.task_id,
                "attempt": s.attempt,
                "status": "running",
                "node": "",
                "cpus": s.cpus,
                "gpus": s.gpus,
                "memory_mb": s.memory_mb,
                "start_ms": now,
                "error": "",
            }
            for s in starts
        ]
        task_rows = [
            {"b_task": s.task_id, "b_attempt": s.attempt, "b_key": s.cache_key} for s in starts
        ]

        def write(conn: Connection) -> None:
            _rows.require_tasks(conn, [s.task_id for s in starts])
            conn.execute(insert(task_attempts), attempt_rows)
            conn.execute(
                update(task_runs)
                .where(task_runs.c.id == bindparam("b_task"))
                .values(
                    status="running",
                    attempts=bindparam("b_attempt"),
                    cache_key=bindparam("b_key"),
                    start_ms=func.coalesce(task_runs.c.start_ms, now),
                    end_ms=None,
                ),
                task_rows,
            )

        try:
            self._write(write)
        except IntegrityError:
            raise ConflictError("an attempt with that number was started already") from None

    def end_attempts(self, ends: Sequence[AttemptEnd]) -> None:
        if not ends:
            return
        for end in ends:
            _rows.check_state(end.status, ATTEMPT_STATES, "attempt")
            _rows.check_state(end.task_status, TASK_STATES, "task")
        ends = sorted(ends, key=lambda e: (e.task_id, e.attempt))  # one lock order
        a, t = task_attempts, task_runs

        def write(conn: Connection) -> None:
            _rows.require_attempts(conn, [(e.task_id, e.attempt) for e in ends])
            conn.execute(
                update(a)
                .where(a.c.task_id == bindparam("b_task"), a.c.attempt == bindparam("b_n"))
                .values(
                    status=bindparam("b_outcome"),
                    node=bindparam("b_node"),
                    end_ms=bindparam("b_end"),
                    cpu_seconds=bindparam("b_cpu"),
                    peak_rss_mb=bindparam("b_rss"),
                    error=bindparam("b_error"),
                ),
                [
                    {
                        "b_task": e.task_id,
                        "b_n": e.attempt,
                        "b_outcome": e.status,
                        "b_node": e.node,
                        "b_end": e.end_ms,
                        "b_cpu": e.cpu_seconds,
                        "b_rss": e.peak_rss_mb,
                        "b_error": e.error,
                    }
                    for e in ends
                ],
            )
            conn.execute(
                update(t)
                .where(t.c.id == bindparam("b_task"))
                .values(
                    status=bindparam("b_status"),
                    error=bindparam("b_error"),
                    output_digest=bindparam("b_digest"),
                    output_size=bindparam("b_size"),
                    end_ms=bindparam("b_end"),
                ),
                [
                    {
                        "b_task": e.task_id,
                        "b_status": e.task_status,
                        "b_error": e.error,
                        "b_digest": e.digest,
                        "b_size": e.size,
                        "b_end": e.end_ms if e.task_status in ENDED else None,
                    }
                    for e in ends
                ],
            )
            for e in ends:
                if e.task_status != "done":
                    self._event(
                        conn,
                        f"task.{e.task_status}",
                        "task",
                        e.task_id,
                        attempt=e.attempt,
                        outcome=e.status,
                        error=e.error[-_EVENT_ERROR_CHARS:],
                    )

        self._write(write)

    def mark_cached(self, task_id: str, key: str, source: CachedOutput) -> None:
        now = now_ms()

        def mark(conn: Connection) -> None:
            _rows.require_tasks(conn, [task_id])
            conn.execute(
                update(task_runs)
                .where(task_runs.c.id == task_id)
                .values(
                    status="cached",
                    cache_key=key,
                    output_digest=source.digest,
                    output_size=source.size,
                    cached_from=source.task_id,
                    start_ms=now,
                    end_ms=now,
                    error="",
                )
            )

        self._write(mark)

    def set_status(self, task_ids: Sequence[str], status: str, error: str = "") -> None:
        _rows.check_state(status, TASK_STATES, "task")
        if not task_ids:
            return
        ids = sorted(set(task_ids))

        def set_status(conn: Connection) -> None:
            _rows.require_tasks(conn, ids)
            conn.execute(
                update(task_runs)
                .where(task_runs.c.id.in_(ids))
                .values(status=status, error=error, end_ms=now_ms())
            )

        self._write(set_status)

    def record_resize(self, run_id: str, step: str, asked: int, used: float, cores: int) -> None:
        def record(conn: Connection) -> None:
            _rows.require_pipeline_run(conn, run_id)
            self._event(
                conn,
                "task.resized",
                "run",
                run_id,
                step=step,
                asked=asked,
                used=round(used, 2),
                cores=cores,
            )

        self._write(record)

    def record_deadline_risk(self, run_id: str, tasks: Sequence[str]) -> None:
        def record(conn: Connection) -> None:
            _rows.require_pipeline_run(conn, run_id)
            self._event(conn, "pipeline.deadline_at_risk", "run", run_id, tasks=list(tasks))

        self._write(record)

    def abandon_running(self, run_id: str) -> int:
        def abandon(conn: Connection) -> int:
            _rows.require_pipeline_run(conn, run_id)
            # The run's last heartbeat is the last moment its driver was seen alive: the
            # lost attempts ran until then, not until now.
            seen = conn.execute(select(runs.c.heartbeat_ms).where(runs.c.id == run_id)).scalar()
            ids = select(task_runs.c.id).where(task_runs.c.run_id == run_id).scalar_subquery()
            lost = conn.execute(
                select(task_attempts.c.task_id, task_attempts.c.attempt, task_attempts.c.start_ms)
                .where(task_attempts.c.task_id.in_(ids), task_attempts.c.status == "running")
                .order_by(task_attempts.c.task_id, task_attempts.c.attempt)
            ).all()
            if lost:
                conn.execute(
                    update(task_attempts)
                    .where(
                        task_attempts.c.task_id == bindparam("b_task"),
                        task_attempts.c.attempt == bindparam("b_n"),
                    )
                    .values(status="lost", end_ms=bindparam("b_end"), error="the driver stopped"),
                    [
                        {"b_task": task, "b_n": n, "b_end": max(start, seen or start)}
                        for task, n, start in lost
                    ],
                )
            conn.execute(
                update(task_runs)
                .where(
                    task_runs.c.run_id == run_id,
                    task_runs.c.status.in_([s for s in UNFINISHED if s != "pending"]),
                )
                .values(status="pending", end_ms=None)
            )
            conn.execute(
                update(pipeline_runs)
                .where(pipeline_runs.c.run_id == run_id)
                .values(cancel_requested=0)
            )
            return len(lost)

        return self._write(abandon)

    def request_cancel(self, run_id: str) -> None:
        def request(conn: Connection) -> None:
            _rows.require_pipeline_run(conn, run_id)
            conn.execute(
                update(pipeline_runs)
                .where(pipeline_runs.c.run_id == run_id)
                .values(cancel_requested=1)
            )
            self._event(conn, "pipeline.cancel_requested", "run", run_id)

        self._write(request)

    # -- reads -------------------------------------------------------------------------

    def cancel_requested(self, run_id: str) -> bool:
        with self._metadata.read() as conn:
            flag = conn.execute(
                select(pipeline_runs.c.cancel_requested).where(pipeline_runs.c.run_id == run_id)
            ).first()
        if flag is None:
            raise _rows.not_a_pipeline_run(run_id)
        return bool(flag[0])

    def cached(self, key: str) -> CachedOutput | None:
        query = (
            select(task_runs.c.id, task_runs.c.output_digest, task_runs.c.output_size)
            .where(task_runs.c.cache_key == key, task_runs.c.status == "done")
            .limit(1)
        )
        with self._metadata.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else CachedOutput(row[0], row[1], int(row[2]))

    def history(
        self, pipeline: str, steps: Sequence[str], limit: int = 50
    ) -> dict[str, StepHistory]:
        a, t = task_attempts, task_runs
        found: dict[str, StepHistory] = {}
        with self._metadata.read() as conn:
            for step_name in steps:
                rows = conn.execute(
                    select(a.c.cpus, a.c.start_ms, a.c.end_ms, a.c.cpu_seconds)
                    .join(t, t.c.id == a.c.task_id)
                    .join(pipeline_runs, pipeline_runs.c.run_id == t.c.run_id)
                    .where(
                        pipeline_runs.c.pipeline == pipeline,
                        t.c.step == step_name,
                        a.c.status == "ok",
                    )
                    .order_by(desc(a.c.start_ms))
                    .limit(limit)
                ).all()
                if rows:
                    found[step_name] = _rows.summarise(rows)
        return found

    def get(self, run_id: str) -> PipelineRunRecord:
        with self._metadata.read() as conn:
            row = conn.execute(_rows.run_query().where(pipeline_runs.c.run_id == run_id)).first()
        if row is None:
            raise _rows.not_a_pipeline_run(run_id)
        return _rows.run_record(row)

    def list_runs(self, pipeline: str | None = None, limit: int = 50) -> list[PipelineRunRecord]:
        query = _rows.run_query().order_by(desc(runs.c.start_ms), runs.c.id).limit(limit)
        if pipeline is not None:
            query = query.where(pipeline_runs.c.pipeline == pipeline)
        with self._metadata.read() as conn:
            return [_rows.run_record(row) for row in conn.execute(query)]

    def tasks(self, run_id: str) -> list[TaskRecord]:
        with self._metadata.read() as conn:
            _rows.require_pipeline_run(conn, run_id)
            return _rows.tasks(conn, run_id)

    def counts(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        ids = list(dict.fromkeys(run_ids))
        counts: dict[str, dict[str, int]] = {run_id: {} for run_id in ids}
        if not ids:
            return counts
        with self._metadata.read() as conn:
            known = set(
                conn.execute(
                    select(pipeline_runs.c.run_id).where(pipeline_runs.c.run_id.in_(ids))
                ).scalars()
            )
            missing = [run_id for run_id in ids if run_id not in known]
            if missing:
                raise _rows.not_a_pipeline_run(missing[0])
            for run_id, status, n in conn.execute(
                select(task_runs.c.run_id, task_runs.c.status, func.count())
                .where(task_runs.c.run_id.in_(ids))
                .group_by(task_runs.c.run_id, task_runs.c.status)
            ):
                counts[run_id][status] = int(n)
        return counts

    # -- helpers -----------------------------------------------------------------------

    def _write(self, work: Callable[[Connection], T]) -> T:
        return write_retrying(self._metadata, work)

    def _event(
        self, conn: Connection, kind: str, object_type: str, object_id: str, **payload: Any
    ) -> None:
        self._metadata.record_event(conn, kind, object_type, object_id, self._actor, **payload)
