"""Worker processes: one that dies fails only the requests it held and is replaced; an
idle model gives its workers up and loads again on the next request; a model over its
latency target takes a worker from the budget."""

from __future__ import annotations

import pytest

from mlpilot.tracking import TrackingClient

from . import STRONG, WEAK, answer_of, body, register, rows
from .conftest import RunningServer, Sent, Start, Traffic, events_of_kind, eventually, sqlite_only

pytestmark = pytest.mark.integration


def assert_answered_or_unavailable(sent: list[Sent], C: float) -> None:
    """Every request got an answer: the model's own (200), or 503 with a reason."""
    for one in sent:
        assert one.error is None, one
        assert one.status in (200, 503), one
        if one.status == 200:
            assert answer_of(C, rows(one.index), one.body), one
        else:
            assert "was killed by SIGKILL" in one.body["error"], one


def pids(running: RunningServer) -> set[int]:
    return {process.pid for process in running.worker_processes()}


@sqlite_only
def test_a_killed_worker_fails_only_its_requests_and_is_replaced(
    cancer: TrackingClient, server: Start
) -> None:
    running = server("cancer@champion", "--workers", "1")
    [worker] = running.worker_processes()

    with Traffic(running.url, threads=4) as traffic:
        traffic.wait_for(5, "answers before the kill")
        worker.kill()
        eventually(lambda: pids(running) - {worker.pid}, "a new worker")
        traffic.wait_for(10, "answers from the new worker")

    assert_answered_or_unavailable(traffic.all(), STRONG)
    assert running.workers("cancer") == 1
    assert len(running.worker_processes()) == 1
    assert running.metric("mlpilot_serve_workers_lost_total", model="cancer") == 1
    assert events_of_kind(cancer, "serve.reloaded") == []  # it was replaced, not woken
    response = running.predict("cancer", body(rows(1)))
    assert response.status_code == 200, response.text


@sqlite_only
def test_workers_killed_together_are_replaced_one_for_one(
    cancer: TrackingClient, server: Start
) -> None:
    running = server(
        config={
            "server": {"workers": 2},
            "models": [{"uri": "cancer@champion", "min_workers": 2}],
        }
    )
    killed = running.worker_processes()
    assert len(killed) == running.workers("cancer") == 2
    seen: list[int] = []

    def replaced() -> bool:
        seen.append(running.workers("cancer"))
        return not pids(running) & {p.pid for p in killed} and seen[-1] == 2

    with Traffic(running.url, threads=4) as traffic:
        traffic.wait_for(5, "answers before the kill")
        for worker in killed:
            worker.kill()
        eventually(replaced, "two new workers")
        for _ in range(20):
            traffic.wait_for(1, "answers from the new workers")
            seen.append(running.workers("cancer"))
        alive = len(running.worker_processes())

    assert_answered_or_unavailable(traffic.all(), STRONG)
    assert max(seen) <= 2, f"the workers the server listed: {seen}"
    assert alive == 2


@sqlite_only
def test_an_idle_model_unloads_and_the_next_request_loads_it(
    cancer: TrackingClient, server: Start
) -> None:
    running = server(
        config={
            "server": {"rebalance_s": 0.5},
            "models": [{"uri": "cancer@champion", "min_workers": 0, "idle_unload_s": 1}],
        }
    )
    assert running.workers("cancer") == 1

    eventually(lambda: running.workers("cancer") == 0, "unloading the idle model")
    eventually(lambda: not running.worker_processes(), "its worker stopping")
    response = running.predict("cancer", body(rows(4)))
    assert response.status_code == 200, response.text
    assert answer_of(STRONG, rows(4), response.json())

    def loaded_while_busy() -> bool:
        response = running.predict("cancer", body(rows(5)))
        assert response.status_code == 200, response.text
        return running.workers("cancer") == 1

    eventually(loaded_while_busy, "the model's worker coming back", every_s=0.2)
    unloaded = [e for e in events_of_kind(cancer, "serve.rescaled") if e.payload["workers"] == 0]
    assert unloaded and unloaded[0].payload["previous"] == 1
    eventually(lambda: events_of_kind(cancer, "serve.reloaded"), "the reload event")


@sqlite_only
def test_a_model_over_its_latency_target_takes_a_worker_from_the_budget(
    cancer: TrackingClient, server: Start
) -> None:
    register(cancer, "other", WEAK, alias="champion")
    running = server(
        config={
            "server": {"workers": 3, "rebalance_s": 0.5},
            "models": [
                {"uri": "cancer@champion", "latency_target_ms": 0.01},
                {"uri": "other@champion"},
            ],
        }
    )
    assert (running.workers("cancer"), running.workers("other")) == (1, 1)

    with Traffic(running.url, threads=2) as traffic:
        eventually(lambda: running.workers("cancer") == 2, "cancer getting a second worker")
        traffic.wait_for(10, "answers from two workers")
        counts = (running.workers("cancer"), running.workers("other"))

    assert counts == (2, 1)
    for one in traffic.all():
        assert (one.status, one.error) == (200, None), one
        assert answer_of(STRONG, rows(one.index), one.body), one
    rescaled = eventually(
        lambda: [e for e in events_of_kind(cancer, "serve.rescaled") if e.object_id == "cancer"],
        "the rescale event",
    )
    assert (rescaled[0].payload["previous"], rescaled[0].payload["workers"]) == (1, 2)
    assert not [e for e in events_of_kind(cancer, "serve.rescaled") if e.object_id == "other"]
