"""Packing a task for a worker, and running it there while measuring what it used.

Every executor sends a task as one ``pickle`` payload, so what can run on one executor
can run on all of them, and reads back the same four measured fields.
"""

from __future__ import annotations

import functools
import os
import pickle
import time
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


def run_packed(payload: bytes, started: Callable[[], None] | None = None) -> Measured:
    """Unpickle a call made by :func:`pack` and run it with :func:`run_measured`.

    ``started`` is called once the call's modules are imported, just before it runs:
    a task's timeout counts from then, not from a fresh worker's imports.
    """
    try:
        fn, args, kwargs = pickle.loads(payload)
    except BaseException:
        return Measured("error", traceback.format_exc(), 0.0, _rss_mb())
    if started is not None:
        started()
    return run_measured(fn, args, kwargs)


def run_measured(
    fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> Measured:
    """Call ``fn(*args, **kwargs)`` in this process; never raises for what ``fn`` does.

    CPU time counts this process and the processes below it: a task that works through
    a pool of processes (joblib, a data loader) uses their cores, not only its own.
    """
    me = _this_process(os.getpid())
    started = time.time()
    before = _cpu(me, _known_descendants)
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
    if time.time() - started >= _SCAN_AFTER_S:
        # Finding descendants walks every process of the machine (milliseconds): worth
        # it only for a task long enough for its measurement to size later tasks.
        _known_descendants[:] = [child.pid for child in me.children(recursive=True)]
    after = _cpu(me, _known_descendants)
    # A process found only now was most likely started by this task: all of it counts
    # (at worst an overcount, which never sizes a task down wrongly).
    cpu = sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
    return Measured(status, body, cpu, _rss_mb())


#: Processes below this worker, as last found; pools live on from task to task.
_known_descendants: list[int] = []
#: Tasks shorter than this are measured without looking for new child processes.
_SCAN_AFTER_S = 0.25


def _cpu(me: psutil.Process, descendants: Sequence[int]) -> dict[int, float]:
    """CPU seconds of this process and of ``descendants``."""
    used = {}
    for pid in (me.pid, *descendants):
        try:
            times = me.cpu_times() if pid == me.pid else psutil.Process(pid).cpu_times()
        except psutil.Error:  # ended in between; its parent accounts for it when it reaps it
            continue
        # With the children each has reaped: a fork server's pool processes, say.
        used[pid] = times.user + times.system + times.children_user + times.children_system
    return used


@functools.cache
def _this_process(pid: int) -> psutil.Process:
    # Keyed by pid so that a forked child does not measure its parent.
    return psutil.Process(pid)


def _rss_mb() -> float:
    return float(_this_process(os.getpid()).memory_info().rss / (1 << 20))
