"""The local executor: real worker processes, a resource ledger, deaths and timeouts."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import psutil
import pytest

from mlpilot.compute import LocalExecutor, Resources, TaskOutcome
from mlpilot.errors import InvalidInputError

from . import _tasks


@pytest.fixture
def executor() -> Iterator[LocalExecutor]:
    with LocalExecutor(cpus=2, memory_mb=1000) as running:
        yield running


def most_at_once(outcomes: list[TaskOutcome], weights: dict[str, int]) -> int:
    """The most cores held at any moment, from the outcomes' start and end times."""
    events = sorted(
        [(o.started_s, weights[o.task_id]) for o in outcomes]
        + [(o.ended_s, -weights[o.task_id]) for o in outcomes],
        key=lambda e: (e[0], e[1]),
    )
    return max(itertools.accumulate(delta for _, delta in events))


def test_values_and_errors_come_back(executor: LocalExecutor) -> None:
    ok = executor.submit("add", _tasks.add, (2, 3)).result(timeout=60)
    failed = executor.submit("fail", _tasks.fail, ("bad input",)).result(timeout=60)

    assert (ok.status, ok.value, ok.node) == ("ok", 5, ok.node)
    assert ok.ended_s >= ok.started_s
    assert failed.status == "error"
    assert "ValueError: bad input" in failed.error


def test_no_more_cores_are_used_than_were_given(executor: LocalExecutor) -> None:
    futures = [
        executor.submit(f"t{i}", _tasks.nap, (0.3,), resources=Resources(cpus=1)) for i in range(6)
    ]
    outcomes = [f.result(timeout=60) for f in futures]
    assert all(o.ok for o in outcomes)
    assert most_at_once(outcomes, {o.task_id: 1 for o in outcomes}) == 2
    assert len({o.value for o in outcomes}) <= 2  # workers are reused


def test_a_wide_task_waits_for_its_cores_while_narrow_ones_run(executor: LocalExecutor) -> None:
    first = executor.submit("narrow-1", _tasks.nap, (0.5,))
    wide = executor.submit("wide", _tasks.nap, (0.1,), resources=Resources(cpus=2))
    second = executor.submit("narrow-2", _tasks.nap, (0.1,))
    outcomes = [f.result(timeout=60) for f in (first, wide, second)]
    weights = {"narrow-1": 1, "wide": 2, "narrow-2": 1}
    assert most_at_once(outcomes, weights) <= 2
    assert outcomes[2].started_s < outcomes[1].started_s  # the narrow one went ahead


def test_cpu_time_is_measured(executor: LocalExecutor) -> None:
    outcome = executor.submit("spin", _tasks.spin, (0.3,)).result(timeout=60)
    assert outcome.cpu_seconds >= 0.25
    assert outcome.peak_rss_mb > 0


def test_a_killed_worker_is_noticed_and_replaced(executor: LocalExecutor) -> None:
    died = executor.submit("die", _tasks.die).result(timeout=60)
    assert died.status == "died"
    assert "exit code -9 (killed" in died.error
    assert executor.submit("after", _tasks.add, (1, 1)).result(timeout=60).value == 2


def test_a_worker_that_dies_while_idle_is_replaced_without_losing_a_task() -> None:
    with LocalExecutor(cpus=1, memory_mb=1000) as executor:
        worker = psutil.Process(executor.submit("pid", _tasks.nap, (0,)).result(timeout=60).value)
        worker.kill()
        worker.wait(timeout=10)
        after = executor.submit("after", _tasks.add, (2, 2)).result(timeout=60)
        assert (after.status, after.value) == ("ok", 4)


def test_a_task_past_its_timeout_is_stopped(executor: LocalExecutor) -> None:
    late = executor.submit("late", _tasks.nap, (30,), timeout_s=0.5).result(timeout=60)
    assert late.status == "timeout"
    assert "timeout of 0.5 s" in late.error
    assert executor.submit("after", _tasks.add, (1, 2)).result(timeout=60).value == 3


def test_requests_the_executor_can_never_meet_are_refused(executor: LocalExecutor) -> None:
    with pytest.raises(InvalidInputError, match="more than this executor has in all"):
        executor.submit("huge", _tasks.add, (1, 2), resources=Resources(cpus=3))
    with pytest.raises(InvalidInputError, match="more than this executor has in all"):
        executor.submit("greedy", _tasks.add, (1, 2), resources=Resources(memory_mb=4000))
    with pytest.raises(InvalidInputError, match="cpus must be a whole number"):
        Resources(cpus=-1)


def test_functions_that_cannot_reach_a_worker_are_refused(executor: LocalExecutor) -> None:
    with pytest.raises(InvalidInputError, match="cannot be sent to a worker process"):
        executor.submit("lambda", lambda: 1)


def test_an_unpicklable_result_is_an_error_not_a_crash(executor: LocalExecutor) -> None:
    outcome = executor.submit("bad", _tasks.unpicklable_result).result(timeout=60)
    assert outcome.status == "error"
    assert "result cannot be pickled" in outcome.error


def test_shutting_down_ends_waiting_tasks() -> None:
    executor = LocalExecutor(cpus=1)
    running = executor.submit("running", _tasks.nap, (0.5,))
    waiting = executor.submit("waiting", _tasks.nap, (0.5,))
    executor.shutdown()
    assert running.result(timeout=60).status in ("ok", "died")
    assert waiting.result(timeout=60).status == "died"
    with pytest.raises(InvalidInputError, match="shut down"):
        executor.submit("late", _tasks.add, (1, 1))


def test_cpu_time_of_processes_a_task_starts_is_counted(executor: LocalExecutor) -> None:
    outcome = executor.submit(
        "pool", _tasks.spin_in_pool, (0.4, 2), resources=Resources(cpus=2)
    ).result(timeout=120)

    assert outcome.ok, outcome.error
    assert outcome.value == 2
    assert outcome.cpu_seconds >= 0.7  # two children busy 0.4 s each, not the worker alone


def test_a_request_larger_than_any_node_is_refused() -> None:
    class TwoNodes(LocalExecutor):
        """Eight cores in all, on nodes of at most six."""

        @property
        def largest_task(self) -> Resources:
            return Resources(cpus=6, memory_mb=self.capacity.memory_mb)

    with TwoNodes(cpus=8, memory_mb=1000) as executor:
        executor.check(Resources(cpus=6))
        with pytest.raises(InvalidInputError, match="more than any one node has"):
            executor.check(Resources(cpus=7))
