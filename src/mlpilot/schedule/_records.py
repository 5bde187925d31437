"""Pipeline runs, tasks and attempts in the metadata store.

A pipeline run is a row of ``runs`` like any other (so ``mlpilot runs`` lists it), with
a ``pipeline_runs`` row for what it was started with, one ``task_runs`` row per task and
one ``task_attempts`` row per attempt. The driver writes each change in a transaction,
so whatever it was doing when it was killed, the rows say which tasks finished and
where their outputs are.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, desc, func, insert, select, update

from mlpilot.compute import Resources
from mlpilot.errors import NotFoundError
from mlpilot.store import MetadataStore, now_ms
from mlpilot.store import _schema as db

#: Task states in which a task's output is stored and final.
COMPLETE = ("done", "cached")
#: Task states in which a task has stopped for good (in this drive).
_ENDED = ("done", "failed", "cancelled")
#: Task states from which a resumed run starts the task again.
UNFINISHED = ("pending", "running", "retrying", "failed", "skipped", "cancelled")


@dataclasses.dataclass(frozen=True)
class PipelineRunRecord:
    run_id: str
    name: str
    experiment: str
    pipeline: str
    source: str
    params: dict[str, Any]
    policy: str
    executor: str
    deadline_ms: int | None
    status: str
    start_ms: int
    end_ms: int | None
    cancel_requested: bool


@dataclasses.dataclass(frozen=True)
class AttemptRecord:
    attempt: int
    status: str
    node: str
    resources: Resources
    start_ms: int
    end_ms: int | None
    cpu_seconds: float | None
    peak_rss_mb: float | None
    error: str

    @property
    def seconds(self) -> float | None:
        return None if self.end_ms is None else (self.end_ms - self.start_ms) / 1000


@dataclasses.dataclass(frozen=True)
class TaskRecord:
    id: str
    name: str
    step: str
    status: str
    upstream: list[str]
    cache_key: str | None
    output_digest: str | None
    output_size: int | None
    cached_from: str | None
    start_ms: int | None
    end_ms: int | None
    error: str
    attempts: list[AttemptRecord]

    @property
    def seconds(self) -> float | None:
        if self.start_ms is None or self.end_ms is None:
            return None
        return (self.end_ms - self.start_ms) / 1000


@dataclasses.dataclass(frozen=True)
class StepHistory:
    """What earlier attempts of a step measured: its work and how it scaled."""

    work: float | None
    #: Median seconds of a successful attempt, by the cores it ran on.
    seconds_by_cores: dict[int, float]


class PipelineRecords:
    """Reads and writes the pipeline tables of one metadata store."""

    def __init__(self, metadata: MetadataStore, actor: str) -> None:
        self.metadata = metadata
        self.actor = actor

    # -- writes ------------------------------------------------------------------------

    def create(
        self,
        run_id: str,
        *,
        pipeline: str,
        source: str,
        params: dict[str, Any],
        policy: str,
        executor: str,
        deadline_ms: int | None,
        tasks: Sequence[dict[str, Any]],
    ) -> None:
        with self.metadata.write() as conn:
            conn.execute(
                insert(db.pipeline_runs).values(
                    run_id=run_id,
                    pipeline=pipeline,
                    source=source,
                    params=params,
                    policy=policy,
                    executor=executor,
                    deadline_ms=deadline_ms,
                    cancel_requested=0,
                )
            )
            conn.execute(insert(db.task_runs), [{**t, "run_id": run_id} for t in tasks])
            self.metadata.record_event(
                conn,
                "pipeline.started",
                "run",
                run_id,
                self.actor,
                pipeline=pipeline,
                tasks=len(tasks),
                policy=policy,
                executor=executor,
            )

    def start_attempts(self, starts: Sequence[tuple[str, int, Resources, str | None]]) -> None:
        """Record attempts ``(task_id, attempt, resources, cache_key)`` as started."""
        if not starts:
            return
        now = now_ms()
        t = db.task_runs
        with self.metadata.write() as conn:
            conn.execute(
                insert(db.task_attempts),
                [
                    {
                        "task_id": task_id,
                        "attempt": attempt,
                        "status": "running",
                        "node": "",
                        "cpus": r.cpus,
                        "gpus": r.gpus,
                        "memory_mb": r.memory_mb,
                        "start_ms": now,
                        "error": "",
                    }
                    for task_id, attempt, r, _ in starts
                ],
            )
            conn.execute(
                update(t)
                .where(t.c.id == bindparam("b_task"))
                .values(
                    status="running",
                    attempts=bindparam("b_attempt"),
                    cache_key=bindparam("b_key"),
                    start_ms=func.coalesce(t.c.start_ms, now),
                    end_ms=None,
                ),
                [{"b_task": i, "b_attempt": a, "b_key": k} for i, a, _, k in starts],
            )

    def end_attempts(self, ends: Sequence[AttemptEnd]) -> None:
        """Record how attempts ended and what that made of their tasks, in one go."""
        if not ends:
            return
        a, t = db.task_attempts, db.task_runs
        with self.metadata.write() as conn:
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
                        "b_end": e.end_ms if e.task_status in _ENDED else None,
                    }
                    for e in ends
                ],
            )
            for end in ends:
                if end.task_status != "done":
                    self.metadata.record_event(
                        conn,
                        f"task.{end.task_status}",
                        "task",
                        end.task_id,
                        self.actor,
                        attempt=end.attempt,
                        outcome=end.status,
                        error=end.error[-2000:],
                    )

    def mark_cached(self, task_id: str, key: str, source: TaskRecordLite) -> None:
        now = now_ms()
        with self.metadata.write() as conn:
            conn.execute(
                update(db.task_runs)
                .where(db.task_runs.c.id == task_id)
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

    def set_status(self, task_ids: Sequence[str], status: str, error: str = "") -> None:
        if not task_ids:
            return
        with self.metadata.write() as conn:
            conn.execute(
                update(db.task_runs)
                .where(db.task_runs.c.id.in_(list(task_ids)))
                .values(status=status, error=error, end_ms=now_ms())
            )

    def resized(self, run_id: str, step: str, asked: int, used: float, now_cores: int) -> None:
        with self.metadata.write() as conn:
            self.metadata.record_event(
                conn,
                "task.resized",
                "run",
                run_id,
                self.actor,
                step=step,
                asked=asked,
                used=round(used, 2),
                cores=now_cores,
            )

    def deadline_at_risk(self, run_id: str, late: Sequence[str]) -> None:
        with self.metadata.write() as conn:
            self.metadata.record_event(
                conn, "pipeline.deadline_at_risk", "run", run_id, self.actor, tasks=list(late)
            )

    def abandon_running(self, run_id: str) -> int:
        """Mark the attempts a dead driver left running as lost; returns how many."""
        with self.metadata.write() as conn:
            tasks = select(db.task_runs.c.id).where(db.task_runs.c.run_id == run_id)
            lost = conn.execute(
                update(db.task_attempts)
                .where(
                    db.task_attempts.c.task_id.in_(tasks.scalar_subquery()),
                    db.task_attempts.c.status == "running",
                )
                .values(status="lost", end_ms=now_ms(), error="the driver stopped")
            ).rowcount
            conn.execute(
                update(db.task_runs)
                .where(
                    db.task_runs.c.run_id == run_id,
                    db.task_runs.c.status.in_([s for s in UNFINISHED if s != "pending"]),
                )
                .values(status="pending", end_ms=None)
            )
            conn.execute(
                update(db.pipeline_runs)
                .where(db.pipeline_runs.c.run_id == run_id)
                .values(cancel_requested=0)
            )
        return int(lost or 0)

    def request_cancel(self, run_id: str) -> None:
        with self.metadata.write() as conn:
            conn.execute(
                update(db.pipeline_runs)
                .where(db.pipeline_runs.c.run_id == run_id)
                .values(cancel_requested=1)
            )
            self.metadata.record_event(conn, "pipeline.cancel_requested", "run", run_id, self.actor)

    # -- reads -------------------------------------------------------------------------

    def cancel_requested(self, run_id: str) -> bool:
        with self.metadata.read() as conn:
            flag = conn.execute(
                select(db.pipeline_runs.c.cancel_requested).where(
                    db.pipeline_runs.c.run_id == run_id
                )
            ).scalar()
        return bool(flag)

    def cached(self, key: str) -> TaskRecordLite | None:
        """A completed task with this cache key, from any run."""
        query = (
            select(db.task_runs.c.id, db.task_runs.c.output_digest, db.task_runs.c.output_size)
            .where(db.task_runs.c.cache_key == key, db.task_runs.c.status == "done")
            .limit(1)
        )
        with self.metadata.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else TaskRecordLite(row[0], row[1], int(row[2]))

    def history(
        self, pipeline: str, steps: Sequence[str], limit: int = 50
    ) -> dict[str, StepHistory]:
        """What the latest successful attempts of each step of ``pipeline`` measured."""
        found: dict[str, StepHistory] = {}
        with self.metadata.read() as conn:
            for step_name in steps:
                rows = conn.execute(
                    select(
                        db.task_attempts.c.cpus,
                        db.task_attempts.c.start_ms,
                        db.task_attempts.c.end_ms,
                        db.task_attempts.c.cpu_seconds,
                    )
                    .join(db.task_runs, db.task_runs.c.id == db.task_attempts.c.task_id)
                    .join(db.pipeline_runs, db.pipeline_runs.c.run_id == db.task_runs.c.run_id)
                    .where(
                        db.pipeline_runs.c.pipeline == pipeline,
                        db.task_runs.c.step == step_name,
                        db.task_attempts.c.status == "ok",
                    )
                    .order_by(desc(db.task_attempts.c.start_ms))
                    .limit(limit)
                ).all()
                if rows:
                    found[step_name] = _summarise(rows)
        return found

    def get(self, run_id: str) -> PipelineRunRecord:
        with self.metadata.read() as conn:
            row = conn.execute(_run_query().where(db.pipeline_runs.c.run_id == run_id)).first()
        if row is None:
            raise NotFoundError(
                f"run {run_id} is not a pipeline run; list them with `mlpilot pipelines list`"
            )
        return _run_record(row)

    def list_runs(self, pipeline: str | None = None, limit: int = 50) -> list[PipelineRunRecord]:
        query = _run_query().order_by(desc(db.runs.c.start_ms)).limit(limit)
        if pipeline is not None:
            query = query.where(db.pipeline_runs.c.pipeline == pipeline)
        with self.metadata.read() as conn:
            return [_run_record(row) for row in conn.execute(query)]

    def tasks(self, run_id: str) -> list[TaskRecord]:
        with self.metadata.read() as conn:
            return _tasks(conn, run_id)

    def counts(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Tasks by status, for each run."""
        query = (
            select(db.task_runs.c.run_id, db.task_runs.c.status, func.count())
            .where(db.task_runs.c.run_id.in_(list(run_ids)))
            .group_by(db.task_runs.c.run_id, db.task_runs.c.status)
        )
        counts: dict[str, dict[str, int]] = {run_id: {} for run_id in run_ids}
        with self.metadata.read() as conn:
            for run_id, status, n in conn.execute(query):
                counts[run_id][status] = int(n)
        return counts


@dataclasses.dataclass(frozen=True)
class TaskRecordLite:
    """A stored task output: which task made it, its digest and size."""

    task_id: str
    digest: str
    size: int


@dataclasses.dataclass(frozen=True)
class AttemptEnd:
    task_id: str
    attempt: int
    status: str
    task_status: str
    node: str = ""
    end_ms: int = 0
    cpu_seconds: float | None = None
    peak_rss_mb: float | None = None
    error: str = ""
    digest: str | None = None
    size: int | None = None


def _summarise(rows: Sequence[Any]) -> StepHistory:
    work = [r.cpu_seconds for r in rows if r.cpu_seconds is not None]
    by_cores: dict[int, list[float]] = {}
    for r in rows:
        by_cores.setdefault(int(r.cpus), []).append(max(r.end_ms - r.start_ms, 1) / 1000)
    return StepHistory(
        # A no-op measures zero CPU time; its work is small, not unknown.
        work=max(statistics.median(work), 1e-3) if work else None,
        seconds_by_cores={c: statistics.median(s) for c, s in by_cores.items()},
    )


def _run_query() -> Any:
    return select(
        db.runs.c.id,
        db.runs.c.name,
        db.experiments.c.name,
        db.pipeline_runs.c.pipeline,
        db.pipeline_runs.c.source,
        db.pipeline_runs.c.params,
        db.pipeline_runs.c.policy,
        db.pipeline_runs.c.executor,
        db.pipeline_runs.c.deadline_ms,
        db.runs.c.status,
        db.runs.c.start_ms,
        db.runs.c.end_ms,
        db.pipeline_runs.c.cancel_requested,
    ).select_from(
        db.pipeline_runs.join(db.runs, db.runs.c.id == db.pipeline_runs.c.run_id).join(
            db.experiments, db.experiments.c.id == db.runs.c.experiment_id
        )
    )


def _run_record(row: Any) -> PipelineRunRecord:
    values = list(row)
    values[-1] = bool(values[-1])
    return PipelineRunRecord(*values)


def _tasks(conn: Connection, run_id: str) -> list[TaskRecord]:
    t, a = db.task_runs, db.task_attempts
    attempts: dict[str, list[AttemptRecord]] = {}
    for row in conn.execute(
        select(a)
        .join(t, and_(t.c.id == a.c.task_id, t.c.run_id == run_id))
        .order_by(a.c.task_id, a.c.attempt)
    ):
        attempts.setdefault(row.task_id, []).append(
            AttemptRecord(
                row.attempt,
                row.status,
                row.node,
                Resources(row.cpus, row.gpus, row.memory_mb),
                row.start_ms,
                row.end_ms,
                row.cpu_seconds,
                row.peak_rss_mb,
                row.error,
            )
        )
    return [
        TaskRecord(
            row.id,
            row.name,
            row.step,
            row.status,
            list(row.upstream),
            row.cache_key,
            row.output_digest,
            row.output_size,
            row.cached_from,
            row.start_ms,
            row.end_ms,
            row.error,
            attempts.get(row.id, []),
        )
        for row in conn.execute(select(t).where(t.c.run_id == run_id).order_by(t.c.position))
    ]
