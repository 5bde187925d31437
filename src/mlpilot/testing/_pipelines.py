"""The contract of :class:`~mlpilot.store.base.PipelineRecords`, as pytest tests.

An implementation proves itself by subclassing :class:`PipelineRecordsContract` in a
test module that provides a ``store`` fixture (a fresh, empty
:class:`~mlpilot.store.Store` whose ``pipelines`` is the implementation)::

    class TestMyPipelineRecords(PipelineRecordsContract):
        pass
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from mlpilot.config import Settings
from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._store import Store
from mlpilot.store.base._pipelines import (
    AttemptEnd,
    AttemptStart,
    CachedOutput,
    NewTask,
    PipelineRecords,
)
from mlpilot.testing._processes import race

UNKNOWN = "0" * 32
#: Attempts each of two processes starts and ends in the concurrency test.
ROUNDS = 15
TASKS_PER_WORKER = 4


def make_run(
    store: Store, pipeline: str = "flow", tasks: int = 3, executor: str = "local"
) -> tuple[str, list[NewTask]]:
    """A pipeline run of a chain of ``tasks`` tasks; returns its id and its tasks."""
    run_id = store.tracking.create_run("pipelines", pipeline).id
    made: list[NewTask] = []
    for i in range(tasks):
        upstream = [made[-1].name] if made else []
        made.append(NewTask(uuid.uuid4().hex, f"t{i}", f"step{i % 2}", upstream))
    store.pipelines.create(
        run_id,
        pipeline=pipeline,
        source="flows.py:" + pipeline,
        params={"n": tasks, "names": ["a", "b"]},
        policy="makespan",
        executor=executor,
        deadline_ms=None,
        tasks=made,
    )
    return run_id, made


def write_attempts(settings: Settings, task_ids: list[str], barrier: Any, results: Any) -> None:
    """Start and end ``ROUNDS`` attempts of each of ``task_ids``, one batch per round,
    and report ``None`` or the error."""
    store = Store(settings)
    try:
        barrier.wait(timeout=120)
        for attempt in range(1, ROUNDS + 1):
            store.pipelines.start_attempts(
                [AttemptStart(task, attempt, cpus=1, cache_key=f"k{task}") for task in task_ids]
            )
            store.pipelines.end_attempts(
                [AttemptEnd(task, attempt, "error", "retrying", error="again") for task in task_ids]
            )
        results.put(None)
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put(f"{type(exc).__name__}: {exc}")
    finally:
        store.close()


class PipelineRecordsContract:
    """What every :class:`~mlpilot.store.base.PipelineRecords` implementation does."""

    def test_it_is_a_pipeline_records(self, store: Store) -> None:
        assert isinstance(store.pipelines, PipelineRecords)

    def test_a_created_run_reads_back_with_its_tasks_in_order(self, store: Store) -> None:
        run_id, made = make_run(store, tasks=4)
        record = store.pipelines.get(run_id)
        assert (record.run_id, record.pipeline, record.experiment) == (run_id, "flow", "pipelines")
        assert (record.policy, record.executor, record.status) == ("makespan", "local", "running")
        assert record.params == {"n": 4, "names": ["a", "b"]}
        assert record.cancel_requested is False
        tasks = store.pipelines.tasks(run_id)
        assert [t.id for t in tasks] == [t.id for t in made]
        assert [t.upstream for t in tasks] == [[], ["t0"], ["t1"], ["t2"]]
        assert {t.status for t in tasks} == {"pending"}
        assert all(t.seconds is None and t.attempts == [] for t in tasks)
        assert store.pipelines.counts([run_id]) == {run_id: {"pending": 4}}
        json.dumps([record.to_dict(), *(t.to_dict() for t in tasks)])

    def test_runs_list_newest_first_and_by_pipeline(self, store: Store) -> None:
        ids = [make_run(store, pipeline=name)[0] for name in ("a", "b", "a")]
        listed = [r.run_id for r in store.pipelines.list_runs()]
        assert sorted(listed) == sorted(ids)
        starts = [store.pipelines.get(i).start_ms for i in listed]
        assert starts == sorted(starts, reverse=True)
        assert {r.run_id for r in store.pipelines.list_runs("a")} == {ids[0], ids[2]}
        assert len(store.pipelines.list_runs(limit=2)) == 2
        assert store.pipelines.list_runs("none") == []

    def test_unknown_ids_raise_not_found(self, store: Store) -> None:
        records = store.pipelines
        plain = store.tracking.create_run("elsewhere").id  # a run, not a pipeline run
        for run_id in (UNKNOWN, plain):
            calls: list[tuple[Any, tuple[Any, ...]]] = [
                (records.get, (run_id,)),
                (records.tasks, (run_id,)),
                (records.counts, ([run_id],)),
                (records.cancel_requested, (run_id,)),
                (records.request_cancel, (run_id,)),
                (records.abandon_running, (run_id,)),
                (records.record_resize, (run_id, "s", 4, 1.0, 1)),
                (records.record_deadline_risk, (run_id, ["t0"])),
            ]
            for method, arguments in calls:
                with pytest.raises(NotFoundError):
                    method(*arguments)
        with pytest.raises(NotFoundError):
            records.create(
                UNKNOWN,
                pipeline="flow",
                source="f.py:flow",
                params={},
                policy="fifo",
                executor="local",
                deadline_ms=None,
                tasks=[],
            )
        with pytest.raises(NotFoundError):
            records.start_attempts([AttemptStart(UNKNOWN, 1, cpus=1)])
        with pytest.raises(NotFoundError):
            records.set_status([UNKNOWN], "skipped")
        with pytest.raises(NotFoundError):
            records.mark_cached(UNKNOWN, "k", CachedOutput(UNKNOWN, "d" * 64, 1))
        run_id, made = make_run(store)
        with pytest.raises(NotFoundError):  # an attempt that never started
            records.end_attempts([AttemptEnd(made[0].id, 1, "ok", "done")])

    def test_bad_input_is_refused_and_a_run_is_created_once(self, store: Store) -> None:
        run_id, made = make_run(store)
        fresh = store.tracking.create_run("pipelines").id
        base: dict[str, Any] = {
            "pipeline": "flow",
            "source": "f.py:flow",
            "params": {},
            "policy": "fifo",
            "executor": "local",
            "deadline_ms": None,
        }
        task = NewTask(uuid.uuid4().hex, "a", "s", [])
        bad = [
            base | {"executor": "x" * 33},
            base | {"policy": ""},
            base | {"params": {"x": float("nan")}},
            base | {"tasks": [task, NewTask(uuid.uuid4().hex, "a", "s", [])]},
            base | {"tasks": [NewTask(uuid.uuid4().hex, "b", "s", ["later"])]},
        ]
        for arguments in bad:
            with pytest.raises(InvalidInputError):
                store.pipelines.create(fresh, **({"tasks": [task]} | arguments))
        with pytest.raises(ConflictError):
            store.pipelines.create(run_id, **base, tasks=[])
        with pytest.raises(InvalidInputError):
            store.pipelines.set_status([made[0].id], "exploded")
        with pytest.raises(InvalidInputError):
            store.pipelines.start_attempts([AttemptStart(made[0].id, 0, cpus=1)])
        store.pipelines.start_attempts([AttemptStart(made[0].id, 1, cpus=1)])
        with pytest.raises(ConflictError):  # attempt numbers are unique per task
            store.pipelines.start_attempts([AttemptStart(made[0].id, 1, cpus=1)])
        with pytest.raises(InvalidInputError):
            store.pipelines.end_attempts([AttemptEnd(made[0].id, 1, "ok", "exploded")])
        with pytest.raises(NotFoundError):  # nothing of the refused creations was kept
            store.pipelines.get(fresh)

    def test_attempts_complete_a_task_and_its_output_is_found_by_cache_key(
        self, store: Store
    ) -> None:
        run_id, made = make_run(store)
        first = made[0].id
        assert store.pipelines.cached("key0") is None
        store.pipelines.start_attempts([AttemptStart(first, 1, 2, 0, 512, "key0")])
        task = store.pipelines.tasks(run_id)[0]
        assert (task.status, task.cache_key, task.end_ms) == ("running", "key0", None)
        (attempt,) = task.attempts
        assert (attempt.attempt, attempt.status, attempt.cpus, attempt.memory_mb) == (
            1,
            "running",
            2,
            512,
        )
        store.pipelines.end_attempts(
            [AttemptEnd(first, 1, "error", "retrying", end_ms=attempt.start_ms + 10, error="x")]
        )
        store.pipelines.start_attempts([AttemptStart(first, 2, 1, cache_key="key0")])
        assert store.pipelines.cached("key0") is None  # not done yet
        started = store.pipelines.tasks(run_id)[0].attempts[1].start_ms
        store.pipelines.end_attempts(
            [
                AttemptEnd(
                    first,
                    2,
                    "ok",
                    "done",
                    node="n1",
                    end_ms=started + 20,
                    cpu_seconds=0.01,
                    digest="d" * 64,
                    size=7,
                )
            ]
        )
        task = store.pipelines.tasks(run_id)[0]
        assert [(a.attempt, a.status) for a in task.attempts] == [(1, "error"), (2, "ok")]
        assert (task.status, task.output_digest, task.output_size) == ("done", "d" * 64, 7)
        assert task.seconds == pytest.approx(0.03)  # the attempts, not the wait between
        assert store.pipelines.cached("key0") == CachedOutput(first, "d" * 64, 7)

        other, other_tasks = make_run(store)
        store.pipelines.mark_cached(other_tasks[0].id, "key0", CachedOutput(first, "d" * 64, 7))
        reused = store.pipelines.tasks(other)[0]
        assert (reused.status, reused.cached_from, reused.output_digest) == (
            "cached",
            first,
            "d" * 64,
        )
        assert reused.seconds == 0
        assert store.pipelines.counts([run_id, other]) == {
            run_id: {"done": 1, "pending": 2},
            other: {"cached": 1, "pending": 2},
        }
        history = store.pipelines.history("flow", ["step0", "step1"])
        assert set(history) == {"step0"}
        assert history["step0"].seconds_by_cores == {1: pytest.approx(0.02)}
        json.dumps(history["step0"].to_dict())

    def test_set_status_ends_tasks_that_never_ran(self, store: Store) -> None:
        run_id, made = make_run(store)
        store.pipelines.set_status([made[1].id, made[2].id], "skipped", "t0 failed")
        tasks = store.pipelines.tasks(run_id)
        assert [t.status for t in tasks] == ["pending", "skipped", "skipped"]
        assert tasks[1].error == "t0 failed" and tasks[1].end_ms is not None
        store.pipelines.set_status([], "skipped")  # nothing to do

    def test_cancel_and_abandon_prepare_a_resume(self, store: Store) -> None:
        run_id, made = make_run(store)
        records = store.pipelines
        assert records.cancel_requested(run_id) is False
        records.request_cancel(run_id)
        assert records.cancel_requested(run_id) is True
        records.start_attempts([AttemptStart(made[0].id, 1, cpus=1)])
        records.start_attempts([AttemptStart(made[1].id, 1, cpus=1)])
        start = records.tasks(run_id)[1].attempts[0].start_ms
        records.end_attempts(
            [AttemptEnd(made[1].id, 1, "cancelled", "cancelled", end_ms=start + 100)]
        )
        records.set_status([made[2].id], "cancelled", "stopped")

        assert records.abandon_running(run_id) == 1
        tasks = records.tasks(run_id)
        assert [t.status for t in tasks] == ["pending"] * 3
        assert all(t.end_ms is None for t in tasks)
        lost = tasks[0].attempts[0]
        assert lost.status == "lost" and lost.end_ms is not None
        assert lost.end_ms >= lost.start_ms
        assert records.cancel_requested(run_id) is False
        assert records.abandon_running(run_id) == 0  # nothing left running

        # The resumed attempt's time adds to the stopped one's; the pause does not count.
        records.start_attempts([AttemptStart(made[1].id, 2, cpus=1)])
        again = records.tasks(run_id)[1].attempts[1].start_ms
        records.end_attempts(
            [AttemptEnd(made[1].id, 2, "ok", "done", end_ms=again + 50, digest="e" * 64, size=1)]
        )
        assert records.tasks(run_id)[1].seconds == pytest.approx(0.15)

    def test_two_processes_write_attempts_of_one_run_at_once(self, store: Store) -> None:
        run_id, made = make_run(store, tasks=2 * TASKS_PER_WORKER)
        halves = [
            [t.id for t in made[:TASKS_PER_WORKER]],
            [t.id for t in made[TASKS_PER_WORKER:]],
        ]
        outcomes = race(write_attempts, [(store.settings, half) for half in halves])
        assert outcomes == [None, None]
        tasks = store.pipelines.tasks(run_id)
        assert all([a.attempt for a in t.attempts] == list(range(1, ROUNDS + 1)) for t in tasks)
        assert {a.status for t in tasks for a in t.attempts} == {"error"}
        assert store.pipelines.counts([run_id]) == {run_id: {"retrying": 2 * TASKS_PER_WORKER}}
