"""The no-op pipeline the scheduler benchmark times (worker processes import it by name)."""

from __future__ import annotations

from typing import Any

from mlpilot import pipeline, step


def raw_noop() -> None:
    """The raw floor: a call submitted straight to an executor, no pipeline around it."""
    return None


@step(cache=False)
def source() -> int:
    return 0


@step(cache=False)
def noop(i: int, seed: int) -> int:
    return i


@step(cache=False)
def gather(values: list[int]) -> int:
    return len(values)


@pipeline
def fan(tasks: int = 1000) -> Any:
    """``tasks`` tasks in all: one source, ``tasks - 2`` no-ops reading it, one fan-in."""
    seed = source()
    return gather(noop.map(range(tasks - 2), seed))
