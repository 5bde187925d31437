"""Pipelines the scheduling tests run (steps must be importable by worker processes)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from mlpilot import current_task, pipeline, step

SCALE = 10


def scaled(x: int) -> int:
    return x * SCALE


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step(cpus=(1, 2))
def square(x: int, offset: int = 0) -> int:
    return scaled(x) ** 2 + offset


@step
def total(values: list[int]) -> int:
    return sum(values)


@pipeline
def squares(items: list[int] = [1, 2, 3], offset: int = 0) -> Any:  # noqa: B006
    parts = square.map(items, offset=offset)
    return total(parts)


@step
def log_call(log: str, name: str, seconds: float = 0.0, *upstream: Any) -> str:
    """Append this task's name to a log file: a record of every time a step really ran."""
    time.sleep(seconds)
    with open(log, "a") as f:
        f.write(f"{name} {os.getpid()}\n")
    return name


@pipeline
def chain(log: str, length: int = 20, seconds: float = 0.0) -> Any:
    previous = None
    for i in range(length):
        previous = log_call(log, f"s{i}", seconds, *([previous] if previous is not None else []))
    return previous


@step(retries=2, backoff_s=0.05)
def flaky(marker: str, failures: int) -> int:
    """Fails ``failures`` times (counted in a file), then succeeds."""
    path = Path(marker)
    count = int(path.read_text()) if path.exists() else 0
    path.write_text(str(count + 1))
    if count < failures:
        raise RuntimeError(f"failure {count + 1}")
    return count + 1


@pipeline
def flaky_pipeline(marker: str, failures: int = 1) -> Any:
    return flaky(marker, failures)


@step
def die_once(marker: str) -> str:
    path = Path(marker)
    if not path.exists():
        path.write_text("died")
        os.kill(os.getpid(), 9)
    return "survived"


@pipeline
def dies(marker: str) -> Any:
    return die_once(marker)


@step(cpus=(1, 2), cache=False)
def cores(label: str) -> int:
    """How many cores the allocation policy gave this task."""
    context = current_task()
    assert context is not None
    return context.cpus


@pipeline
def sizes(items: list[str] = ["a", "b"]) -> Any:  # noqa: B006
    return cores.map(items)


@step(cache=False)
def nap(pidfile: str, seconds: float) -> float:
    """Say which process runs it, then sleep."""
    Path(pidfile).write_text(str(os.getpid()))
    time.sleep(seconds)
    return seconds


@pipeline
def napping(pidfile: str, seconds: float = 120) -> Any:
    return nap(pidfile, seconds)


@step
def returns_lock() -> Any:
    return threading.Lock()


@step(cpus=64)
def wide() -> None:
    return None


@step(cpus=2)
def one_busy_core(label: str) -> int:
    """Asks for two cores and keeps one of them busy for 0.6 s of CPU time."""
    end = time.process_time() + 0.6
    while time.process_time() < end:
        pass
    return 1


@pipeline
def busy(items: list[str] = ["a", "b", "c"]) -> Any:  # noqa: B006
    return one_busy_core.map(items)


@step
def fit(family: str) -> str:
    if family not in ("logreg", "forest"):
        raise ValueError(f"no model family {family!r}")
    return family


@pipeline
def models(families: list[str] = ["logreg"], label: str = "churn") -> Any:  # noqa: B006
    return fit.map(families)
