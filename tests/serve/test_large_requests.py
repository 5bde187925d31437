"""Requests far larger than the pipe to a worker holds at once: answered in full, and
never taken for a dead worker."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pandas as pd
import pytest

from mlpilot.tracking import TrackingClient

from . import STRONG, data, expected, records
from .conftest import RunningServer, Start, sqlite_only

pytestmark = pytest.mark.integration


def _rows(count: int, offset: int = 0) -> pd.DataFrame:
    """``count`` rows of the data, starting at row ``offset`` and wrapping around."""
    X, _ = data()
    return X.iloc[[(offset + i) % len(X) for i in range(count)]]


def _check(response: httpx.Response, frame: pd.DataFrame) -> None:
    assert response.status_code == 200, response.text[:500]
    answer = response.json()
    assert answer["predictions"] == expected(STRONG, frame)[0]
    np.testing.assert_allclose(answer["scores"], expected(STRONG, frame)[1], rtol=1e-9)


async def _many_at_once(running: RunningServer, count: int, size: int) -> None:
    frames = [_rows(size, offset=7 * n) for n in range(count)]
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=running.url, timeout=120, limits=limits) as http:
        responses = await asyncio.gather(
            *(
                http.post("/models/cancer/predict", json={"records": records(f), "scores": True})
                for f in frames
            )
        )
    for frame, response in zip(frames, responses, strict=True):
        _check(response, frame)


@sqlite_only
def test_large_requests_are_answered_whole_by_the_same_worker(
    cancer: TrackingClient, server: Start
) -> None:
    running = server("cancer@champion", "--workers", "1", "--max-batch", "100000")
    [worker] = running.worker_processes()

    single = _rows(5_000)
    _check(
        running.predict("cancer", {"records": records(single), "scores": True}, timeout=120),
        single,
    )
    asyncio.run(_many_at_once(running, count=64, size=2_000))

    assert running.metric("mlpilot_serve_workers_lost_total") == 0
    assert [p.pid for p in running.worker_processes()] == [worker.pid]
