"""An open-loop HTTP/1.1 load generator: requests arrive on a schedule, whatever the server.

Unlike ``_loadgen.py`` (closed loop: a client waits for its answer before sending again),
each model here gets requests as a Poisson process whose rate follows a piecewise-linear
schedule (a burst, a ramp, silence), the way independent users arrive. A request's
latency runs from the moment it was due, not from when a connection was free, so a
server that falls behind is charged for the queue it builds (no coordinated omission).

The plan is a JSON file::

    {"url": "http://127.0.0.1:PORT", "duration_s": 60, "seed": 0,
     "models": {"NAME": {"path": "/models/NAME/predict", "body": {...},
                         "rates": [[t0, rps0], [t1, rps1], ...]}}}

``rates`` are the points of the rate's schedule (seconds from the start, requests per
second), linear between them. The result is one JSON line on stdout: for each model,
every answered request's due time and latency, and the count of errors by status.

Usage: python _openloop.py PLAN.json
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from _loadgen import ProtocolError, build_target, read_response

#: Connections one model may hold open at once; more requests wait for one.
MAX_CONNECTIONS = 128


def rate_at(points: list[list[float]], t: float) -> float:
    """The schedule's rate at ``t``: linear between its points, flat beyond them."""
    if t <= points[0][0]:
        return points[0][1]
    for (t0, r0), (t1, r1) in zip(points, points[1:], strict=False):
        if t0 <= t <= t1:
            return r0 if t1 == t0 else r0 + (r1 - r0) * (t - t0) / (t1 - t0)
    return points[-1][1]


def arrivals(points: list[list[float]], duration: float, rng: random.Random) -> list[float]:
    """Due times of a Poisson process with the schedule's rate, by thinning one at the
    schedule's peak rate."""
    peak = max(rate for _, rate in points)
    times, t = [], 0.0
    if peak <= 0:
        return times
    while True:
        t += rng.expovariate(peak)
        if t >= duration:
            return times
        if rng.random() * peak < rate_at(points, t):
            times.append(t)


class Model:
    def __init__(self, name: str, url: str, spec: dict[str, Any]) -> None:
        body = json.dumps(spec["body"]).encode()
        self.name = name
        self.target = build_target(url + spec["path"], body)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self.scheduled = 0
        self.answered: list[tuple[float, float]] = []
        self.errors: dict[str, int] = {}

    async def send(self, due: float, start: float) -> None:
        async with self.slots:
            # A kept-alive connection the server closed while it sat idle fails before
            # any answer; as HTTP clients do, send once more on a new connection.
            attempts = 2 if self.idle else 1
            for attempt in range(attempts):
                try:
                    reader, writer = (
                        self.idle.pop()
                        if self.idle and attempt == 0
                        else await asyncio.open_connection(self.target.host, self.target.port)
                    )
                except OSError:
                    self._error("connection")
                    return
                try:
                    writer.write(self.target.request)
                    status, _, closing = await read_response(reader)
                    break
                except (OSError, asyncio.IncompleteReadError, ProtocolError):
                    writer.close()
                    if attempt == attempts - 1:
                        self._error("connection")
                        return
            if closing:
                writer.close()
            else:
                self.idle.append((reader, writer))
        if 200 <= status < 300:
            self.answered.append((due, time.perf_counter() - start - due))
        else:
            self._error(str(status))

    def _error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(plan.get("seed", 0))
    duration = float(plan["duration_s"])
    models = {name: Model(name, plan["url"], spec) for name, spec in plan["models"].items()}
    schedule = sorted(
        (due, name)
        for name, spec in plan["models"].items()
        for due in arrivals(spec["rates"], duration, rng)
    )
    tasks = []
    start = time.perf_counter()
    for due, name in schedule:
        models[name].scheduled += 1
        delay = start + due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(models[name].send(due, start)))
    await asyncio.wait(tasks, timeout=60)
    for model in models.values():
        unanswered = model.scheduled - len(model.answered) - sum(model.errors.values())
        if unanswered:
            model.errors["timeout"] = unanswered
    return {
        name: {"scheduled": model.scheduled, "answered": model.answered, "errors": model.errors}
        for name, model in models.items()
    }


def main() -> int:
    plan = json.loads(Path(sys.argv[1]).read_text())
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(plan))
    else:
        result = uvloop.run(run(plan))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
