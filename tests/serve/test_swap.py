"""Following an alias: when it moves, the new version loads beside the old one and takes
over without a failed request; a version that does not load never takes traffic."""

from __future__ import annotations

import pytest

from mlpilot.registry import ModelRegistry
from mlpilot.tracking import TrackingClient

from . import STRONG, WEAK, answer_of, corrupt, register, rows
from .conftest import Sent, Start, Traffic, events_of_kind, eventually

pytestmark = pytest.mark.integration

#: A third model, between the two others.
MIDDLE = 0.1


def assert_answered_by(sent: list[Sent], models: dict[int, float]) -> None:
    """Every request succeeded, from one of ``models`` (version to C), with that
    model's answer for its row."""
    for one in sent:
        assert (one.status, one.error) == (200, None), one
        version = one.body["version"]
        assert version in models, one
        assert answer_of(models[version], rows(one.index), one.body), one


def assert_never_back(traffic: Traffic) -> None:
    """In each thread's sequence, no answer comes from an older version than one before."""
    for thread in traffic.sent:
        versions = [one.body["version"] for one in thread]
        assert versions == sorted(versions), versions


def answered_by(traffic: Traffic, version: int) -> bool:
    return any(one.status == 200 and one.body["version"] == version for one in traffic.all())


def test_moving_the_alias_swaps_versions_without_failing_a_request(
    cancer: TrackingClient, server: Start
) -> None:
    running = server("cancer@champion", "--workers", "1")
    [old_worker] = running.worker_processes()

    with Traffic(running.url, threads=2) as traffic:
        traffic.wait_for(5, "answers from version 1")
        second = register(cancer, "cancer", WEAK)
        ModelRegistry(cancer).set_alias("cancer", "champion", second.version)
        eventually(lambda: answered_by(traffic, 2), "an answer from version 2")
        traffic.wait_for(5, "answers after the swap")

    assert_answered_by(traffic.all(), {1: STRONG, 2: WEAK})
    assert_never_back(traffic)
    [swapped] = events_of_kind(cancer, "serve.swapped")
    assert swapped.object_id == "cancer"
    assert (swapped.payload["version"], swapped.payload["previous"]) == (2, 1)
    assert swapped.payload["uri"] == "cancer@champion"
    assert running.slots("cancer")[0] | {"batch_size": None} == {
        "uri": "cancer@champion",
        "version": 2,
        "workers": 1,
        "batch_size": None,
    }
    eventually(lambda: old_worker not in running.worker_processes(), "the old worker stopping")
    assert len(running.worker_processes()) == 1


def test_a_version_that_does_not_load_never_takes_traffic(
    cancer: TrackingClient, server: Start
) -> None:
    running = server("cancer@champion", "--workers", "1")
    registry = ModelRegistry(cancer)

    with Traffic(running.url, threads=2) as traffic:
        traffic.wait_for(5, "answers from version 1")
        broken = register(cancer, "cancer", WEAK)
        # The registry refuses to point an alias at altered bytes, so the alias moves
        # first; the server reads the bytes in a worker it starts after its next look
        # at the alias, seconds later.
        registry.set_alias("cancer", "champion", broken.version)
        corrupt(cancer, broken)
        [failed] = eventually(
            lambda: events_of_kind(cancer, "serve.load_failed"), "the load failure event"
        )
        traffic.wait_for(5, "answers after the failed load")
        assert_answered_by(traffic.all(), {1: STRONG})
        assert running.slots("cancer")[0]["version"] == 1

        fixed = register(cancer, "cancer", MIDDLE)
        registry.set_alias("cancer", "champion", fixed.version)
        eventually(lambda: answered_by(traffic, 3), "an answer from version 3")
        traffic.wait_for(5, "answers after the next swap")

    assert failed.object_id == "cancer"
    assert (failed.payload["version"], failed.payload["serving"]) == (2, 1)
    assert broken.digest in failed.payload["error"]
    assert len(events_of_kind(cancer, "serve.load_failed")) == 1
    assert_answered_by(traffic.all(), {1: STRONG, 3: MIDDLE})
    assert_never_back(traffic)
    [swapped] = events_of_kind(cancer, "serve.swapped")
    assert (swapped.payload["version"], swapped.payload["previous"]) == (3, 1)
    assert running.slots("cancer")[0]["version"] == 3
