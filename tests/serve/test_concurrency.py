"""Many requests at once: each gets its own row's answer, whether they share batches or
(``--no-batching``) are predicted one by one."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from mlpilot.tracking import TrackingClient

from . import STRONG, answer_of, body, expected, records, rows
from .conftest import RunningServer, Start, sqlite_only

pytestmark = pytest.mark.integration

AT_ONCE = 64


async def _burst(url: str, indices: range) -> list[tuple[int, httpx.Response]]:
    """Send one request per row index, all at once; each names its row in its id, and
    those of even rows ask for class probabilities too."""
    limits = httpx.Limits(max_connections=len(indices))
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:

        async def one(index: int) -> tuple[int, httpx.Response]:
            response = await http.post(
                "/models/cancer/predict",
                json=body(rows(index)) if index % 2 == 0 else {"records": records(rows(index))},
                headers={"x-request-id": f"row-{index}"},
            )
            return index, response

        return list(await asyncio.gather(*(one(i) for i in indices)))


def _send_rounds(running: RunningServer, count: int) -> int:
    """``count`` rounds of AT_ONCE concurrent requests, each checked; returns how many."""
    for round_ in range(count):
        indices = range(round_ * AT_ONCE, (round_ + 1) * AT_ONCE)
        for index, response in asyncio.run(_burst(running.url, indices)):
            assert response.status_code == 200, response.text
            answer = response.json()
            assert answer["id"] == f"row-{index}"
            if index % 2 == 0:
                assert answer_of(STRONG, rows(index), answer), index
            else:
                assert "scores" not in answer
                assert answer["predictions"] == expected(STRONG, rows(index))[0], index
    return count * AT_ONCE


@sqlite_only
def test_concurrent_requests_share_batches_and_get_their_own_answers(
    cancer: TrackingClient, server: Start
) -> None:
    running = server("cancer@champion")

    sent = _send_rounds(running, 4)

    labels = {"model": "cancer", "version": "1"}
    batched_rows = running.metric("mlpilot_serve_batch_rows_sum", **labels)
    batches = running.metric("mlpilot_serve_batch_rows_count", **labels)
    assert batched_rows == sent
    assert batches < batched_rows
    assert running.metric("mlpilot_serve_requests_total", status="200", **labels) == sent
    # Every batch but a worker's first (which pays for warming up) is timed in the
    # worker, and that time is part of the batch's round trip.
    assert 0 < running.metric("mlpilot_serve_predict_seconds_count", **labels) < batches
    predict_s = running.metric("mlpilot_serve_predict_seconds_sum", **labels)
    assert 0 < predict_s < running.metric("mlpilot_serve_batch_seconds_sum", **labels)


@sqlite_only
def test_without_batching_every_batch_is_one_request(cancer: TrackingClient, server: Start) -> None:
    running = server("cancer@champion", "--no-batching")

    sent = _send_rounds(running, 2)

    labels = {"model": "cancer", "version": "1"}
    assert running.metric("mlpilot_serve_batch_rows_sum", **labels) == sent
    assert running.metric("mlpilot_serve_batch_rows_count", **labels) == sent
    assert running.metric("mlpilot_serve_batch_rows_bucket", le="1.0", **labels) == sent
    assert running.slots("cancer")[0]["batch_size"] == 1
