"""Pipeline rows: checks on what is written, and records built from what is read."""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, select, update

from mlpilot.errors import InvalidInputError, NotFoundError
from mlpilot.store._schema import experiments, pipeline_runs, runs, task_attempts, task_runs
from mlpilot.store._validate import check_key
from mlpilot.store.base._pipelines import (
    AttemptRecord,
    NewTask,
    PipelineRunRecord,
    StepHistory,
    TaskRecord,
)

#: Longest policy or executor name the store keeps.
MAX_NAME_LENGTH = 32


def not_a_pipeline_run(run_id: str) -> NotFoundError:
    return NotFoundError(
        f"run {run_id} is not a pipeline run; list them with `mlpilot pipelines list`"
    )


def is_pipeline_run(conn: Connection, run_id: str) -> bool:
    query = select(pipeline_runs.c.run_id).where(pipeline_runs.c.run_id == run_id)
    return conn.execute(query).first() is not None


def require_pipeline_run(conn: Connection, run_id: str) -> None:
    if not is_pipeline_run(conn, run_id):
        raise not_a_pipeline_run(run_id)


def require_tasks(conn: Connection, task_ids: Sequence[str]) -> None:
    wanted = set(task_ids)
    found = set(conn.execute(select(task_runs.c.id).where(task_runs.c.id.in_(wanted))).scalars())
    if wanted - found:
        raise NotFoundError(f"no pipeline task with id {min(wanted - found)!r}")


def require_attempts(conn: Connection, attempts: Sequence[tuple[str, int]]) -> None:
    wanted = set(attempts)
    query = select(task_attempts.c.task_id, task_attempts.c.attempt).where(
        task_attempts.c.task_id.in_({task for task, _ in wanted})
    )
    found = {(task, int(n)) for task, n in conn.execute(query)}
    if wanted - found:
        task, n = min(wanted - found)
        raise NotFoundError(f"task {task!r} has no attempt {n}")


def check_name(value: Any, what: str) -> None:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_LENGTH:
        raise InvalidInputError(
            f"a pipeline run's {what} must be a name of 1 to {MAX_NAME_LENGTH} characters, "
            f"got {value!r}"
        )


def check_state(value: Any, known: Sequence[str], what: str) -> None:
    if value not in known:
        raise InvalidInputError(f"unknown {what} state {value!r}; one of: {', '.join(known)}")


def check_count(value: Any, what: str, *, least: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise InvalidInputError(f"{what} must be a whole number >= {least}, got {value!r}")


def json_params(params: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(dict(params), allow_nan=False))  # type: ignore[no-any-return]
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"pipeline parameters must be JSON values: {exc}") from None


def task_rows(run_id: str, tasks: Sequence[NewTask]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    names: set[str] = set()
    ids: set[str] = set()
    for position, task in enumerate(tasks):
        if not isinstance(task.id, str) or not 0 < len(task.id) <= 32 or task.id in ids:
            raise InvalidInputError(f"task ids must be unique, of 1 to 32 characters: {task.id!r}")
        check_key(task.name, "task name")
        check_key(task.step, "step name")
        if task.name in names:
            raise InvalidInputError(f"two tasks are named {task.name!r}")
        unknown = [up for up in task.upstream if up not in names]
        if unknown:
            raise InvalidInputError(
                f"task {task.name!r} takes {unknown[0]!r}, which is not a task before it"
            )
        names.add(task.name)
        ids.add(task.id)
        rows.append(
            {
                "id": task.id,
                "run_id": run_id,
                "position": position,
                "name": task.name,
                "step": task.step,
                "status": "pending",
                "upstream": list(task.upstream),
                "attempts": 0,
                "error": "",
            }
        )
    return rows


def summarise(rows: Sequence[Any]) -> StepHistory:
    work = [r.cpu_seconds for r in rows if r.cpu_seconds is not None]
    by_cores: dict[int, list[float]] = {}
    for r in rows:
        by_cores.setdefault(int(r.cpus), []).append(max(r.end_ms - r.start_ms, 1) / 1000)
    return StepHistory(
        # A no-op measures zero CPU time; its work is small, not unknown.
        work=max(statistics.median(work), 1e-3) if work else None,
        seconds_by_cores={c: statistics.median(s) for c, s in by_cores.items()},
    )


def run_query() -> Any:
    return select(
        runs.c.id,
        runs.c.name,
        experiments.c.name,
        pipeline_runs.c.pipeline,
        pipeline_runs.c.source,
        pipeline_runs.c.params,
        pipeline_runs.c.policy,
        pipeline_runs.c.executor,
        pipeline_runs.c.deadline_ms,
        runs.c.status,
        runs.c.start_ms,
        runs.c.end_ms,
        pipeline_runs.c.cancel_requested,
    ).select_from(
        pipeline_runs.join(runs, runs.c.id == pipeline_runs.c.run_id).join(
            experiments, experiments.c.id == runs.c.experiment_id
        )
    )


def run_record(row: Any) -> PipelineRunRecord:
    values = list(row)
    values[-1] = bool(values[-1])
    return PipelineRunRecord(*values)


def tasks(conn: Connection, run_id: str) -> list[TaskRecord]:
    t, a = task_runs, task_attempts
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
                row.cpus,
                row.gpus,
                row.memory_mb,
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


def settle_unfinished(conn: Connection, run_id: str, end_ms: int, why: str) -> None:
    """As a pipeline run ends other than finished, in the same transaction: its running
    attempts and tasks are ``lost`` and its waiting tasks ``cancelled``, so that nothing
    stays running after the run (``resume`` starts them again). No-op for other runs."""
    ids = select(task_runs.c.id).where(task_runs.c.run_id == run_id).scalar_subquery()
    conn.execute(
        update(task_attempts)
        .where(task_attempts.c.task_id.in_(ids), task_attempts.c.status == "running")
        .values(status="lost", end_ms=end_ms, error=why)
    )
    for before, after in ((("running", "retrying"), "lost"), (("pending",), "cancelled")):
        conn.execute(
            update(task_runs)
            .where(task_runs.c.run_id == run_id, task_runs.c.status.in_(before))
            .values(status=after, end_ms=end_ms, error=why)
        )
