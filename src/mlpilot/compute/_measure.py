"""Packing a task for a worker, and running it there while measuring what it used.

Every executor sends a task as one ``pickle`` payload, so what can run on one executor
can run on all of them, and reads back the same four measured fields.
"""

from __future__ import annotations

import functools
import os
import pickle
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import psutil

from mlpilot.errors import InvalidInputError


class Measured(NamedTuple):
    """How one call went: ``ok`` with ``body`` the pickled value, or ``error`` with
    ``body`` the traceback (or why the value could not be pickled)."""

    status: str
    body: bytes | str
    cpu_seconds: float
    peak_rss_mb: float


def pack(
    task_id: str, fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any] | None
) -> bytes:
    """Pickle a call for a worker process.

    Raises:
        InvalidInputError: ``fn`` or its inputs cannot be pickled (a lambda, a nested
            function, an open file, ...).
    """
    try:
        return pickle.dumps((fn, tuple(args), dict(kwargs or {})))
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise InvalidInputError(
            f"task {task_id!r} cannot be sent to a worker process: {exc}. Steps must be "
            "functions defined at the top level of a module, with picklable inputs"
        ) from None


def run_packed(payload: bytes) -> Measured:
    """Unpickle a call made by :func:`pack` and run it with :func:`run_measured`."""
    try:
        fn, args, kwargs = pickle.loads(payload)
    except BaseException:
        return Measured("error", traceback.format_exc(), 0.0, _rss_mb())
    return run_measured(fn, args, kwargs)


def run_measured(
    fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> Measured:
    """Call ``fn(*args, **kwargs)`` in this process; never raises for what ``fn`` does."""
    me = _this_process(os.getpid())
    cpu_before = _tree_cpu(me)
    body: bytes | str
    try:
        value = fn(*args, **kwargs)
        try:
            status, body = "ok", pickle.dumps(value)
        except Exception as exc:
            status = "error"
            body = f"the task's result cannot be pickled ({type(exc).__name__}: {exc})"
    except BaseException:
        # A worker must outlive anything its task does, SystemExit included.
        status, body = "error", traceback.format_exc()
    cpu_after = _tree_cpu(me)
    cpu = sum(seconds - cpu_before.get(pid, 0.0) for pid, seconds in cpu_after.items())
    return Measured(status, body, cpu, _rss_mb())


def _tree_cpu(me: psutil.Process) -> dict[int, float]:
    """CPU seconds of this process (and the children it has reaped) and of each live
    descendant: a task that works through a pool of processes (joblib, a data loader)
    uses their cores, not only its own."""
    own = me.cpu_times()
    used = {me.pid: own.user + own.system + own.children_user + own.children_system}
    for child in me.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:  # ended in between; its parent accounts for it when it reaps it
            continue
        used[child.pid] = times.user + times.system
    return used


@functools.cache
def _this_process(pid: int) -> psutil.Process:
    # Keyed by pid so that a forked child does not measure its parent.
    return psutil.Process(pid)


def _rss_mb() -> float:
    return float(_this_process(os.getpid()).memory_info().rss / (1 << 20))
