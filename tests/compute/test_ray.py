"""The Ray executor: real Ray tasks on a local two-core Ray, deaths and timeouts."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from mlpilot.compute import RayExecutor, Resources, create_executor
from mlpilot.errors import InvalidInputError

from . import _tasks
from .test_local import most_at_once

ray = pytest.importorskip("ray")


@pytest.fixture(params=["whole-cluster", "limited"])
def executor(request: pytest.FixtureRequest, ray_two_cores: None) -> Iterator[RayExecutor]:
    # Limited to less than the cluster, the executor keeps a ledger of its own.
    limits = {"memory_mb": 1000} if request.param == "limited" else {}
    with RayExecutor(**limits) as running:
        yield running


def test_capacity_comes_from_the_cluster(ray_two_cores: None) -> None:
    with RayExecutor() as executor:
        assert (executor.capacity.cpus, executor.capacity.gpus) == (2, 0)
        assert executor.capacity.memory_mb > 0
    with RayExecutor(memory_mb=1000) as executor:
        assert executor.capacity == Resources(cpus=2, gpus=0, memory_mb=1000)


def test_values_and_errors_come_back(executor: RayExecutor) -> None:
    ok = executor.submit("add", _tasks.add, (2, 3)).result(timeout=60)
    failed = executor.submit("fail", _tasks.fail, ("bad input",)).result(timeout=60)

    assert (ok.status, ok.value) == ("ok", 5), ok.error
    assert ok.node
    assert ok.ended_s >= ok.started_s
    assert failed.status == "error"
    assert "ValueError: bad input" in failed.error


def test_no_more_cores_are_used_than_the_cluster_has(executor: RayExecutor) -> None:
    futures = [executor.submit(f"t{i}", _tasks.nap, (0.3,)) for i in range(6)]
    outcomes = [f.result(timeout=60) for f in futures]
    assert all(o.ok for o in outcomes)
    assert most_at_once(outcomes, {o.task_id: 1 for o in outcomes}) <= 2


def test_a_smaller_limit_than_the_cluster_is_kept(ray_two_cores: None) -> None:
    with RayExecutor(cpus=1) as executor:
        futures = [executor.submit(f"t{i}", _tasks.nap, (0.2,)) for i in range(4)]
        outcomes = [f.result(timeout=60) for f in futures]
    assert all(o.ok for o in outcomes)
    assert most_at_once(outcomes, {o.task_id: 1 for o in outcomes}) == 1


def test_a_wide_task_waits_for_its_cores_while_narrow_ones_run(executor: RayExecutor) -> None:
    first = executor.submit("narrow-1", _tasks.nap, (0.5,))
    wide = executor.submit("wide", _tasks.nap, (0.1,), resources=Resources(cpus=2))
    second = executor.submit("narrow-2", _tasks.nap, (0.1,))
    outcomes = [f.result(timeout=60) for f in (first, wide, second)]
    weights = {"narrow-1": 1, "wide": 2, "narrow-2": 1}
    assert all(o.ok for o in outcomes)
    assert most_at_once(outcomes, weights) <= 2


def test_a_limited_executor_lets_narrow_tasks_past_a_wide_one(ray_two_cores: None) -> None:
    with RayExecutor(memory_mb=1000) as executor:  # its own ledger decides, not Ray
        first = executor.submit("narrow-1", _tasks.nap, (0.5,))
        wide = executor.submit("wide", _tasks.nap, (0.1,), resources=Resources(cpus=2))
        second = executor.submit("narrow-2", _tasks.nap, (0.1,))
        outcomes = [f.result(timeout=60) for f in (first, wide, second)]
    assert all(o.ok for o in outcomes)
    assert outcomes[2].started_s < outcomes[1].started_s  # the narrow one went ahead


def test_cpu_time_is_measured(executor: RayExecutor) -> None:
    outcome = executor.submit("spin", _tasks.spin, (0.3,)).result(timeout=60)
    assert outcome.cpu_seconds >= 0.25
    assert outcome.peak_rss_mb > 0


def test_a_killed_worker_is_noticed_and_the_executor_goes_on(executor: RayExecutor) -> None:
    died = executor.submit("die", _tasks.die).result(timeout=60)
    assert died.status == "died"
    assert "WorkerCrashedError" in died.error
    assert executor.submit("after", _tasks.add, (1, 1)).result(timeout=60).value == 2


def test_a_killed_worker_with_a_timeout_is_noticed(executor: RayExecutor) -> None:
    died = executor.submit("die", _tasks.die, timeout_s=30).result(timeout=60)
    assert died.status == "died"
    assert "WorkerCrashedError" in died.error


def test_a_task_past_its_timeout_is_stopped(executor: RayExecutor) -> None:
    late = executor.submit("late", _tasks.nap, (30,), timeout_s=0.5).result(timeout=60)
    assert late.status == "timeout"
    assert "timeout of 0.5 s" in late.error
    assert executor.submit("after", _tasks.add, (1, 2)).result(timeout=60).value == 3


def test_a_task_within_its_timeout_keeps_its_value(executor: RayExecutor) -> None:
    outcome = executor.submit("quick", _tasks.add, (2, 2), timeout_s=30).result(timeout=60)
    assert (outcome.status, outcome.value) == ("ok", 4)
    failed = executor.submit("fail", _tasks.fail, ("no",), timeout_s=30).result(timeout=60)
    assert failed.status == "error"
    assert "ValueError: no" in failed.error


def test_time_queued_in_a_busy_cluster_does_not_count_against_a_timeout(
    ray_two_cores: None,
) -> None:
    with RayExecutor() as others, RayExecutor() as mine:
        busy = others.submit("busy", _tasks.nap, (1.5,), resources=Resources(cpus=2))
        for _ in range(600):  # until Ray says both cores are taken
            if ray.available_resources().get("CPU", 0) == 0:
                break
            time.sleep(0.05)
        timed = mine.submit("timed", _tasks.nap, (0.1,), timeout_s=1.0)
        assert timed.result(timeout=60).status == "ok"
        assert busy.result(timeout=60).ok


def test_requests_the_executor_can_never_meet_are_refused(executor: RayExecutor) -> None:
    with pytest.raises(InvalidInputError, match="more than this executor has in all"):
        executor.submit("huge", _tasks.add, (1, 2), resources=Resources(cpus=3))
    with pytest.raises(InvalidInputError, match="more than this executor has in all"):
        too_much = Resources(memory_mb=executor.capacity.memory_mb + 1)
        executor.submit("greedy", _tasks.add, (1, 2), resources=too_much)
    with pytest.raises(InvalidInputError, match="more than this executor has in all"):
        executor.submit("gpu", _tasks.add, (1, 2), resources=Resources(gpus=1))


def test_limits_beyond_the_cluster_are_refused(ray_two_cores: None) -> None:
    with pytest.raises(InvalidInputError, match="cpus=3 is more than the Ray cluster has"):
        RayExecutor(cpus=3)
    with pytest.raises(InvalidInputError, match="gpus=1 is more than the Ray cluster has"):
        RayExecutor(gpus=1)
    with pytest.raises(InvalidInputError, match="cpus must be a whole number"):
        RayExecutor(cpus=-1)


def test_functions_that_cannot_reach_a_worker_are_refused(executor: RayExecutor) -> None:
    with pytest.raises(InvalidInputError, match="cannot be sent to a worker process"):
        executor.submit("lambda", lambda: 1)


def test_an_unpicklable_result_is_an_error_not_a_crash(executor: RayExecutor) -> None:
    outcome = executor.submit("bad", _tasks.unpicklable_result).result(timeout=60)
    assert outcome.status == "error"
    assert "result cannot be pickled" in outcome.error


def test_shutting_down_ends_running_and_waiting_tasks(ray_two_cores: None) -> None:
    executor = RayExecutor(cpus=1)
    running = executor.submit("running", _tasks.nap, (30,))
    timed = executor.submit("timed", _tasks.nap, (30,), resources=Resources(cpus=0), timeout_s=60)
    waiting = executor.submit("waiting", _tasks.nap, (0.5,))
    executor.shutdown()
    assert running.result(timeout=60).status == "died"
    assert timed.result(timeout=60).status == "died"
    assert waiting.result(timeout=60).status == "died"
    assert "shut down" in waiting.result().error
    with pytest.raises(InvalidInputError, match="shut down"):
        executor.submit("late", _tasks.add, (1, 1))
    assert ray.is_initialized()  # it joined a running Ray, so it leaves it running


def test_executors_are_made_by_name(ray_two_cores: None) -> None:
    with create_executor("ray", cpus=1) as executor:
        assert isinstance(executor, RayExecutor)
        assert executor.capacity.cpus == 1
    with pytest.raises(InvalidInputError, match="unknown executor 'nope'; choose one of local"):
        create_executor("nope")
    with pytest.raises(InvalidInputError, match="'local' does not take those options.*address"):
        create_executor("local", address="auto")


def test_a_missing_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InvalidInputError, match=r"pip install 'mlpilot\[ray\]'"):
        RayExecutor()


def test_an_executor_that_started_ray_stops_it() -> None:
    pytest.importorskip("ray")
    script = (
        "import ray\n"
        "from mlpilot.compute import RayExecutor\n"
        "with RayExecutor(cpus=1) as executor:\n"
        "    assert executor.capacity.cpus == 1\n"
        "    assert executor.submit('t', divmod, (7, 2)).result(timeout=60).value == (3, 1)\n"
        "assert not ray.is_initialized()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=240)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def test_no_task_is_sized_past_the_largest_node() -> None:
    from mlpilot.compute._ray import _largest_node

    gib = 2**30
    nodes = [
        {"Alive": True, "Resources": {"CPU": 16.0, "memory": 32.0 * gib}},
        {"Alive": True, "Resources": {"CPU": 8.0, "GPU": 1.0, "memory": 8.0 * gib}},
        {"Alive": False, "Resources": {"CPU": 64.0, "memory": 256.0 * gib}},  # gone
    ]

    assert _largest_node(nodes, Resources(24, 1, 40_000)) == Resources(16, 1, 32_768)
    assert _largest_node(nodes, Resources(4, 0, 1_000)) == Resources(4, 0, 1_000)


def test_the_local_ray_is_one_node(ray_two_cores: None) -> None:
    with RayExecutor() as executor:
        assert executor.largest_task == executor.capacity
        with pytest.raises(InvalidInputError, match="more than this executor has"):
            executor.check(Resources(cpus=3))
