"""Task functions the executor tests send to worker processes (they must be importable)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any


def add(a: int, b: int) -> int:
    return a + b


def fail(message: str) -> None:
    raise ValueError(message)


def nap(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def unpicklable_result() -> Any:
    return lambda: None


def spin_in_pool(seconds: float, processes: int) -> int:
    """Keep ``processes`` child processes busy for ``seconds`` of CPU time each."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(processes) as pool:
        return len(list(pool.map(spin, [seconds] * processes)))
