"""Races between processes: how the contracts check that two writers at once lose
nothing and raise nothing."""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest


def race(
    target: Callable[..., None], arguments: Sequence[tuple[Any, ...]], timeout_s: float = 300
) -> list[Any]:
    """Run ``target(*args, barrier, results)`` in a fresh process for each ``args``, all
    let go at once by ``barrier``; return what each put on ``results``, in the order it
    came. Fails at once if a process dies without reporting (it could not import, or
    crashed)."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(len(arguments)), context.Queue()
    workers = [context.Process(target=target, args=(*args, barrier, results)) for args in arguments]
    for worker in workers:
        worker.start()
    found: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while len(found) < len(workers):
        try:
            found.append(results.get(timeout=1))
        except queue.Empty:
            dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if dead:
                pytest.fail(f"a worker process died with exit code {dead[0]}")
            if time.monotonic() > deadline:
                pytest.fail(f"the workers did not report within {timeout_s} s")
    for worker in workers:
        worker.join(timeout=60)
    return found
