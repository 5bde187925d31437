"""Pipelines run for real: worker processes, the metadata store, the artifact store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mlpilot import Output, pipeline, step
from mlpilot.compute import LocalExecutor
from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.schedule import TaskRecord, load_output, resume_pipeline
from mlpilot.store import Store
from mlpilot.store._schema import events
from mlpilot.tracking import TrackingClient

from . import _flows


@pytest.fixture
def client(store: Store) -> TrackingClient:
    return TrackingClient(store)


@pytest.fixture(scope="module")
def executor() -> Iterator[LocalExecutor]:
    with LocalExecutor(cpus=2, memory_mb=4000) as running:
        yield running


def tasks_of(client: TrackingClient, run_id: str) -> dict[str, TaskRecord]:
    records = client.store.pipelines
    return {t.name: t for t in records.tasks(run_id)}


def test_a_map_fans_out_and_a_step_fans_in(client: TrackingClient, executor: Any) -> None:
    run = _flows.squares.run({"items": [1, 2, 3]}, executor=executor, client=client)

    assert run.status == "finished"
    assert run.value() == 100 + 400 + 900
    tasks = tasks_of(client, run.id)
    assert list(tasks) == ["square[1]", "square[2]", "square[3]", "total"]
    assert tasks["total"].upstream == ["square[1]", "square[2]", "square[3]"]
    assert {t.status for t in tasks.values()} == {"done"}
    assert run.output("square[2]") == 400
    # A pipeline run is a run like any other.
    record = client.get_run(run.id)
    assert (record.status, record.name, record.tags["mlpilot.pipeline"]) == (
        "finished",
        "squares",
        "squares",
    )
    assert record.params["items"] == "[1, 2, 3]"


def test_an_unchanged_task_is_never_run_twice(client: TrackingClient, executor: Any) -> None:
    first = _flows.squares.run({"items": [1, 2]}, executor=executor, client=client)
    second = _flows.squares.run({"items": [1, 2, 4]}, executor=executor, client=client)

    tasks = tasks_of(client, second.id)
    assert second.value() == 100 + 400 + 1600
    assert {n: t.status for n, t in tasks.items()} == {
        "square[1]": "cached",
        "square[2]": "cached",
        "square[4]": "done",
        "total": "done",  # its input list changed
    }
    assert tasks["square[1]"].cached_from == tasks_of(client, first.id)["square[1]"].id
    assert tasks["square[1]"].attempts == []
    third = _flows.squares.run({"items": [1, 2, 4], "offset": 1}, executor=executor, client=client)
    assert {t.status for t in tasks_of(client, third.id).values()} == {"done"}  # new argument


def test_a_failing_step_is_retried_with_backoff(
    client: TrackingClient, executor: Any, tmp_path: Path
) -> None:
    run = _flows.flaky_pipeline.run(
        {"marker": str(tmp_path / "count"), "failures": 2}, executor=executor, client=client
    )

    task = tasks_of(client, run.id)["flaky"]
    assert run.status == "finished"
    assert run.value() == 3
    assert [a.status for a in task.attempts] == ["error", "error", "ok"]
    assert "RuntimeError: failure 1" in task.attempts[0].error
    # Each retry waited at least its backoff (0.05 s, then 0.1 s) after the failure.
    for before, after, wait in zip(task.attempts, task.attempts[1:], (0.05, 0.1), strict=False):
        assert before.end_ms is not None
        assert after.start_ms - before.end_ms >= wait * 1000 - 5


def test_a_step_that_keeps_failing_fails_the_run_and_skips_what_follows(
    client: TrackingClient, executor: Any, tmp_path: Path
) -> None:
    @pipeline
    def failing(marker: str) -> Any:
        return _flows.total([_flows.flaky(marker, 10), _flows.square(2)])

    run = failing.run({"marker": str(tmp_path / "count")}, executor=executor, client=client)

    tasks = tasks_of(client, run.id)
    assert run.status == "failed"
    assert client.get_run(run.id).status == "failed"
    assert len(tasks["flaky"].attempts) == 3  # the first and two retries
    assert tasks["flaky"].status == "failed"
    assert tasks["square"].status == "done"  # an independent branch still ran
    assert tasks["total"].status == "skipped"
    with pytest.raises(ConflictError, match="skipped"):
        load_output(run.id, "total", client=client)


def test_a_killed_worker_is_detected_and_its_task_rescheduled(
    client: TrackingClient, executor: Any, tmp_path: Path
) -> None:
    run = _flows.dies.run({"marker": str(tmp_path / "once")}, executor=executor, client=client)

    task = tasks_of(client, run.id)["die_once"]
    assert run.value() == "survived"
    assert [a.status for a in task.attempts] == ["died", "ok"]
    assert "SIGKILL" in task.attempts[0].error


def test_an_output_that_cannot_be_stored_fails_without_retrying(
    client: TrackingClient, executor: Any
) -> None:
    @pipeline
    def unstorable() -> Any:
        return _flows.returns_lock()

    run = unstorable.run(executor=executor, client=client)

    task = tasks_of(client, run.id)["returns_lock"]
    assert run.status == "failed"
    assert len(task.attempts) == 1
    assert "returned a lock, which cannot be stored" in task.error


def test_tasks_that_use_fewer_cores_than_asked_are_sized_down(
    client: TrackingClient, executor: Any
) -> None:
    run = _flows.busy.run({"items": ["a", "b", "c"]}, executor=executor, client=client)

    attempts = sorted(
        (t.attempts[0] for t in tasks_of(client, run.id).values()), key=lambda a: a.start_ms
    )
    # The first asked for 2 cores and measured about one busy core: its siblings got one.
    assert [a.cpus for a in attempts] == [2, 1, 1]
    assert attempts[0].cpu_seconds is not None and attempts[0].cpu_seconds > 0.3
    assert run.value() == [1, 1, 1]


def test_the_policy_decides_how_many_cores_each_task_gets(
    client: TrackingClient, executor: Any
) -> None:
    # Two tasks that can use one or two cores, on two cores: the makespan policy runs
    # them side by side; FIFO gives each what it asked for, so they run one by one.
    # First, with no history (so Amdahl's law says a second core helps): a task alone
    # gets the spare core.
    alone = _flows.sizes.run({"items": ["a"]}, executor=executor, client=client)
    assert alone.value() == [2]
    assert _flows.sizes.run(executor=executor, client=client).value() == [1, 1]
    assert _flows.sizes.run(executor=executor, client=client, policy="fifo").value() == [2, 2]


def test_mistakes_are_refused_before_anything_runs(
    client: TrackingClient, executor: Any, tmp_path: Path
) -> None:
    @pipeline
    def loop() -> Any:
        first = _flows.total(Output("total#2"))
        return _flows.total(first)

    @pipeline
    def dangling() -> Any:
        return _flows.total(Output("nowhere"))

    @pipeline
    def missing_input() -> Any:
        return _flows.square()

    @pipeline
    def unpicklable() -> Any:
        return _flows.total(lambda: None)

    @pipeline
    def greedy() -> Any:
        return _flows.wide()

    @pipeline
    def uses_an_output() -> Any:
        data = _flows.numbers(3)
        if data:
            return data
        return None

    cases: list[tuple[Any, dict[str, Any], str]] = [
        (loop, {}, "has a cycle: total -> total#2 -> total"),
        (dangling, {}, "takes the output of 'nowhere', which no step in the pipeline makes"),
        (missing_input, {}, "step 'square' called with the wrong inputs"),
        (unpicklable, {}, "cannot be sent to a worker process"),
        (greedy, {}, "more than this executor has in all"),
        (uses_an_output, {}, "not known until the pipeline runs"),
        (_flows.squares, {"params": {"nope": 1}}, "has no parameter 'nope'"),
        (_flows.squares, {"deadline": "2000-01-01T00:00"}, "has already passed"),
        (_flows.squares, {"deadline": "soon"}, "cannot read the deadline"),
        (_flows.squares, {"policy": "random"}, "unknown policy 'random'"),
    ]
    for target, options, message in cases:
        with pytest.raises(InvalidInputError, match=message_pattern(message)):
            target.run(executor=executor, client=client, **options)
    assert client.search_runs() == []  # nothing was written


def message_pattern(text: str) -> str:
    import re

    return re.escape(text)


def test_an_output_of_a_task_that_does_not_exist_is_a_clear_error(
    client: TrackingClient, executor: Any
) -> None:
    run = _flows.squares.run({"items": [5]}, executor=executor, client=client)
    with pytest.raises(InvalidInputError, match="no task 'square\\[6\\]'"):
        load_output(run.id, "square[6]", client=client)
    with pytest.raises(ConflictError, match="nothing to resume"):
        resume_pipeline(run.id, executor=executor, client=client)
    with pytest.raises(NotFoundError):
        load_output("0" * 32, "total", client=client)


def test_a_step_outside_a_pipeline_is_the_plain_function() -> None:
    assert _flows.square(3, offset=1) == 901
    with pytest.raises(InvalidInputError, match="inside a @pipeline"):
        _flows.square.map([1, 2])

    with pytest.raises(InvalidInputError, match="defined inside a function"):

        @step
        def local() -> None:
            return None

        @pipeline
        def uses_local() -> Any:
            return local()

        uses_local.build()


def test_a_deadline_the_estimates_say_cannot_be_met_is_warned_about(
    client: TrackingClient, executor: Any
) -> None:
    # With no history a step is assumed to take a second of work: too long for 0.5 s.
    first = _flows.squares.run(
        {"items": [7]}, executor=executor, client=client, policy="deadline", deadline=0.5
    )
    # Now the history says these steps take no time at all.
    second = _flows.squares.run(
        {"items": [8]}, executor=executor, client=client, policy="deadline", deadline=0.5
    )

    assert first.late == ["square[7]", "total"]
    assert first.status == "finished"  # a warning, not a refusal
    assert second.late == []
    with client.store.metadata.read() as conn:
        flagged = [
            row.object_id
            for row in conn.execute(
                select(events.c.object_id).where(events.c.kind == "pipeline.deadline_at_risk")
            )
        ]
    assert flagged == [first.id]


@pytest.mark.integration
def test_the_same_pipeline_runs_on_ray(
    client: TrackingClient, ray_two_cores: None, tmp_path: Path
) -> None:
    from mlpilot.compute import RayExecutor

    with RayExecutor() as ray_executor:
        run = _flows.squares.run({"items": [1, 2, 3]}, executor=ray_executor, client=client)
        dead = _flows.dies.run(
            {"marker": str(tmp_path / "once")}, executor=ray_executor, client=client
        )

    assert run.status == "finished"
    assert run.value() == 1400
    assert client.get_run(run.id).status == "finished"
    attempts = [t.attempts for t in tasks_of(client, dead.id).values()][0]
    assert dead.value() == "survived"
    assert [a.status for a in attempts] == ["died", "ok"]


def test_a_run_whose_driver_raises_ends_failed_and_can_be_resumed(
    client: TrackingClient, executor: Any
) -> None:
    seen: list[str] = []

    def breaks_after_first_task(task: str, status: str) -> None:
        if status == "done":
            seen.append(task)
            raise RuntimeError("the progress display broke")

    with pytest.raises(RuntimeError, match="display broke"):
        _flows.squares.run(
            {"items": [1, 2]}, executor=executor, client=client, observer=breaks_after_first_task
        )

    run_id = client.store.pipelines.list_runs()[0].run_id
    assert client.get_run(run_id).status == "failed"  # not left "running"
    resumed = resume_pipeline(run_id, executor=executor, client=client)
    assert resumed.status == "finished"
    assert resumed.value() == 500
    assert client.get_run(run_id).status == "finished"


def test_parameters_are_checked_against_their_annotations(
    client: TrackingClient, executor: Any
) -> None:
    # Text for a list[str] would fan out into one task per character.
    with pytest.raises(InvalidInputError, match=r"parameter 'families' takes list\[str\]"):
        _flows.models.run({"families": "logreg"}, executor=executor, client=client)
    with pytest.raises(InvalidInputError, match="parameter 'offset' takes int, not '3'"):
        _flows.squares.run({"offset": "3"}, executor=executor, client=client)
    assert client.store.pipelines.list_runs() == []
    assert _flows.models.parse_params({"families": '["forest"]', "label": "null"}) == {
        "families": ["forest"],
        "label": "null",
    }
    with pytest.raises(InvalidInputError, match="""--param families='\\["logreg"\\]'"""):
        _flows.models.parse_params({"families": "logreg"})
    run = _flows.models.run({"families": ("logreg", "forest")}, executor=executor, client=client)
    assert run.status == "finished"


class InlineExecutor(LocalExecutor):
    """An executor of a third party's, which no plug-in makes by name."""

    name = "inline"


def test_a_custom_executor_is_recorded_and_resume_does_not_switch_executor(
    client: TrackingClient, tmp_path: Path
) -> None:
    with InlineExecutor(cpus=1, memory_mb=2000) as custom:
        run = _flows.flaky_pipeline.run(
            {"marker": str(tmp_path / "count"), "failures": 5}, executor=custom, client=client
        )
        assert run.status == "failed"
        assert client.store.pipelines.get(run.id).executor == "inline"

        with pytest.raises(InvalidInputError, match="executor 'inline'.*pass the executor"):
            resume_pipeline(run.id, client=client)
        resumed = resume_pipeline(run.id, executor=custom, client=client)

    assert resumed.status == "finished"
    assert resumed.value() == 6
