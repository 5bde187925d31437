"""The batch policy: when an idle worker waits for more rows, and how big a batch may be."""

from __future__ import annotations

import pytest

from mlpilot.serve import BatchPolicy


def arrivals(policy: BatchPolicy, count: int, gap_s: float, start: float = 100.0) -> float:
    """Note ``count`` arrivals ``gap_s`` apart; returns the time of the last."""
    now = start
    for _ in range(count):
        policy.arrived(now)
        now += gap_s
    return now - gap_s


def test_sparse_arrivals_are_sent_at_once() -> None:
    policy = BatchPolicy(max_batch=64, max_wait_s=0.002)
    now = arrivals(policy, 50, gap_s=0.5)

    assert policy.wait_s(queued_rows=1, oldest_s=now, now=now) == 0.0


def test_before_any_arrival_a_request_is_sent_at_once() -> None:
    policy = BatchPolicy(max_batch=64, max_wait_s=0.002)
    policy.arrived(5.0)

    assert policy.wait_s(queued_rows=1, oldest_s=5.0, now=5.0) == 0.0


def test_dense_arrivals_wait_to_fill_but_never_past_max_wait() -> None:
    policy = BatchPolicy(max_batch=64, max_wait_s=0.002)
    now = arrivals(policy, 500, gap_s=1e-6)

    assert 0 < policy.wait_s(queued_rows=1, oldest_s=now, now=now) <= 0.002
    for age_s in (0.0, 0.0005, 0.001, 0.0015, 0.00199, 0.002, 0.003, 1.0):
        for queued in (1, 10, 40, 63):
            wait = policy.wait_s(queued_rows=queued, oldest_s=now - age_s, now=now)
            assert wait >= 0
            if age_s >= 0.002:
                assert wait == 0.0, (age_s, queued, wait)
            else:
                assert age_s + wait <= 0.002 + 1e-12, (age_s, queued, wait)
    assert policy.wait_s(queued_rows=1, oldest_s=now - 0.002, now=now) == 0.0


def test_a_full_queue_or_no_wait_allowed_is_sent_at_once() -> None:
    dense = BatchPolicy(max_batch=8, max_wait_s=0.002)
    now = arrivals(dense, 500, gap_s=1e-6)
    assert dense.wait_s(queued_rows=8, oldest_s=now, now=now) == 0.0
    assert dense.wait_s(queued_rows=20, oldest_s=now, now=now) == 0.0

    unbatched = BatchPolicy(max_batch=64, max_wait_s=0.0)
    now = arrivals(unbatched, 500, gap_s=1e-6)
    assert unbatched.wait_s(queued_rows=1, oldest_s=now, now=now) == 0.0


def test_size_shrinks_when_a_batch_breaks_the_target_and_grows_back() -> None:
    policy = BatchPolicy(max_batch=64, max_wait_s=0.002, target_s=0.010)
    assert policy.size == 64

    policy.finished(rows=64, predict_s=0.004)  # well within the target: no change
    assert policy.size == 64
    policy.finished(rows=64, predict_s=0.015)
    shrunk = policy.size
    assert 1 <= shrunk < 64

    sizes = []
    for _ in range(200):
        policy.finished(rows=policy.size, predict_s=0.001)
        sizes.append(policy.size)
    assert sizes == sorted(sizes)
    assert sizes[0] > shrunk
    assert sizes[-1] == 64 == max(sizes)


def test_a_batch_smaller_than_the_cap_does_not_grow_it() -> None:
    policy = BatchPolicy(max_batch=64, target_s=0.010)
    policy.finished(rows=64, predict_s=0.05)
    shrunk = policy.size

    for _ in range(20):
        policy.finished(rows=shrunk - 1, predict_s=0.001)

    assert policy.size == shrunk


def test_size_never_drops_below_one() -> None:
    policy = BatchPolicy(max_batch=16, target_s=0.001)
    for _ in range(50):
        policy.finished(rows=max(policy.size, 2), predict_s=1.0)
        assert policy.size >= 1
    assert policy.size == 1


@pytest.mark.parametrize("predict_s", [0.0, 0.5, 10.0])
def test_without_a_target_the_size_stays_at_max_batch(predict_s: float) -> None:
    policy = BatchPolicy(max_batch=32)
    policy.finished(rows=32, predict_s=predict_s)

    assert policy.size == 32
