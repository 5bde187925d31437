"""Running tasks in worker processes on this machine.

A ledger of free cores, GPUs and memory admits a waiting task only when what it asked
for is free, so the executor never runs more at once than it was given. Each running
task holds one worker process (a task that asks for several cores may use threads or
processes of its own inside it). Workers are started through a fork server: cheap to
start, and free of the locks a plain fork would copy from a threaded parent. A worker
that dies (SIGKILL, the kernel's out-of-memory killer) or runs past its task's timeout
is noticed at once through its process sentinel, its task ends as ``died`` or
``timeout``, and a fresh worker takes its place.
"""

from __future__ import annotations

import ctypes
import dataclasses
import multiprocessing
import os
import pickle
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from multiprocessing.connection import Connection, wait
from typing import Any

import psutil

from mlpilot.compute._base import ONE_CORE, Executor, Resources, TaskOutcome
from mlpilot.compute._measure import pack, run_packed
from mlpilot.errors import InvalidInputError

_NODE = socket.gethostname()
_PR_SET_PDEATHSIG = 1
#: How often a worker checks that the process owning its executor is alive.
_OWNER_CHECK_S = 0.5


@dataclasses.dataclass
class _Task:
    task_id: str
    payload: bytes
    resources: Resources
    timeout_s: float | None
    future: Future[TaskOutcome]


@dataclasses.dataclass
class _Worker:
    process: Any
    conn: Connection
    task: _Task | None = None
    started_s: float = 0.0


class LocalExecutor(Executor):
    """Worker processes on this machine, within ``cpus``, ``gpus`` and ``memory_mb``.

    Args:
        cpus: Cores to use (default: every core of the machine).
        gpus: GPUs to hand out (default: none).
        memory_mb: Memory to hand out (default: the machine's total).
    """

    name = "local"

    def __init__(
        self, cpus: int | None = None, gpus: int = 0, memory_mb: int | None = None
    ) -> None:
        total_mb = psutil.virtual_memory().total // (1 << 20)
        self.capacity = Resources(
            cpus=(os.cpu_count() or 1) if cpus is None else cpus,
            gpus=gpus,
            memory_mb=int(total_mb if memory_mb is None else memory_mb),
        )
        if self.capacity.cpus < 1:
            raise InvalidInputError(f"a local executor needs at least one core, got {cpus}")
        self._context = multiprocessing.get_context("forkserver")
        # Workers fork from a server that has mlpilot imported already, so that a new
        # worker starts in milliseconds, not in the second that importing it takes.
        self._context.set_forkserver_preload(["mlpilot"])
        self._free = self.capacity
        self._waiting: deque[_Task] = deque()
        self._idle: list[_Worker] = []
        self._busy: list[_Worker] = []
        self._lock = threading.Lock()
        self._wake_reader, self._wake_writer = self._context.Pipe(duplex=False)
        self._closed = False
        self._broken = ""
        self._dispatcher = threading.Thread(
            target=self._dispatch, name="mlpilot-local-executor", daemon=True
        )
        self._dispatcher.start()

    def submit(
        self,
        task_id: str,
        fn: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        resources: Resources = ONE_CORE,
        timeout_s: float | None = None,
    ) -> Future[TaskOutcome]:
        self.check(resources)
        if self._broken:
            broken: Future[TaskOutcome] = Future()
            broken.set_result(TaskOutcome(task_id, "died", error=self._broken))
            return broken
        if self._closed:
            raise InvalidInputError("this executor has been shut down")
        payload = pack(task_id, fn, args, kwargs)
        future: Future[TaskOutcome] = Future()
        with self._lock:
            self._waiting.append(_Task(task_id, payload, resources, timeout_s, future))
        self._wake()
        return future

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake()
        self._dispatcher.join()

    # ------------------------------------------------------------------ dispatching

    def _wake(self) -> None:
        try:
            self._wake_writer.send_bytes(b".")
        except OSError:
            pass

    def _dispatch(self) -> None:
        try:
            while not self._closed:
                self._start_what_fits()
                watched: list[Any] = [self._wake_reader]
                for worker in self._busy:
                    watched += [worker.conn, worker.process.sentinel]
                ready = wait(watched, timeout=self._next_deadline())
                if self._wake_reader in ready:
                    while self._wake_reader.poll():
                        self._wake_reader.recv_bytes()
                for worker in list(self._busy):
                    self._collect(worker, ready)
        except Exception as exc:
            # Nothing can start any more: say why on every task instead of hanging.
            self._broken = f"the executor stopped: {type(exc).__name__}: {exc}"
            self._closed = True
        finally:
            self._stop_everything()

    def _start_what_fits(self) -> None:
        with self._lock:
            for task in list(self._waiting):
                if not task.resources.fits_in(self._free):
                    continue  # smaller tasks behind it may still fit
                worker = self._hand(task)
                # Out of the queue only once a worker holds it: a task is always
                # somewhere that shutting down settles, never lost in between.
                self._waiting.remove(task)
                self._free = self._free - task.resources
                worker.task, worker.started_s = task, time.time()
                self._busy.append(worker)

    def _hand(self, task: _Task) -> _Worker:
        """Send ``task`` to an idle worker, or to a new one if none is idle and alive."""
        while self._idle:
            worker = self._idle.pop()
            try:
                worker.conn.send_bytes(task.payload)
                return worker
            except OSError:  # it died while idle: its pipe is closed
                worker.conn.close()
                worker.process.join(timeout=5)
        worker = self._new_worker()
        worker.conn.send_bytes(task.payload)
        return worker

    def _collect(self, worker: _Worker, ready: list[Any]) -> None:
        task = worker.task
        assert task is not None
        if worker.conn in ready:
            try:
                message = worker.conn.recv_bytes()
            except (EOFError, OSError):
                self._finish_dead(worker)
                return
            if message == _STARTED:
                worker.started_s = time.time()  # the timeout counts from here
                return
            status, body, cpu_seconds, rss_mb = pickle.loads(message)
            value, error = None, body
            if status == "ok":
                try:
                    value, error = pickle.loads(body), ""
                except Exception as exc:  # pickled by the worker, not loadable here
                    status, error = (
                        "error",
                        (
                            f"the task's result cannot be loaded in this process "
                            f"({type(exc).__name__}: {exc})"
                        ),
                    )
            self._finish(
                worker,
                status,
                value=value,
                error=error,
                cpu_seconds=cpu_seconds,
                peak_rss_mb=rss_mb,
            )
        elif worker.process.sentinel in ready:
            self._finish_dead(worker)
        elif task.timeout_s is not None and time.time() - worker.started_s > task.timeout_s:
            worker.process.kill()
            worker.process.join()
            self._finish(worker, "timeout", error=f"ran past its timeout of {task.timeout_s} s")

    def _finish_dead(self, worker: _Worker) -> None:
        worker.process.join(timeout=5)
        code = worker.process.exitcode
        cause = " (killed: SIGKILL, or out of memory)" if code == -9 else ""
        self._finish(worker, "died", error=f"the worker process died, exit code {code}{cause}")

    def _finish(self, worker: _Worker, status: str, **details: Any) -> None:
        task = worker.task
        assert task is not None
        self._busy.remove(worker)
        with self._lock:
            self._free = self._free + task.resources
        worker.task = None
        if status in ("ok", "error"):
            self._idle.append(worker)
        else:
            worker.conn.close()
        task.future.set_result(
            TaskOutcome(
                task.task_id,
                status,
                node=_NODE,
                started_s=worker.started_s,
                ended_s=time.time(),
                **details,
            )
        )

    def _next_deadline(self) -> float | None:
        deadlines = [
            w.started_s + w.task.timeout_s - time.time()
            for w in self._busy
            if w.task is not None and w.task.timeout_s is not None
        ]
        return max(min(deadlines), 0.0) if deadlines else None

    def _new_worker(self) -> _Worker:
        parent, child = self._context.Pipe()
        # Not a daemon: a task may start processes of its own (a pool for its cores).
        owner = psutil.Process()
        process = self._context.Process(
            target=_work, args=(child, owner.pid, _birth(owner)), daemon=False
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def _stop_everything(self) -> None:
        for worker in self._idle:
            try:
                worker.conn.send_bytes(b"")
            except OSError:
                pass
        for worker in self._busy + self._idle:
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
        with self._lock:
            for task in self._waiting:
                task.future.set_result(
                    TaskOutcome(
                        task.task_id, "died", error=self._broken or "the executor shut down first"
                    )
                )
            self._waiting.clear()
        for worker in self._busy:
            if worker.task is not None and not worker.task.future.done():
                worker.task.future.set_result(
                    TaskOutcome(
                        worker.task.task_id, "died", error=self._broken or "the executor shut down"
                    )
                )


#: What a worker sends when its task's function starts (a result is a pickle, never this).
_STARTED = b"started"


def _work(conn: Connection, owner: int, owner_born: float) -> None:
    """A worker process: run each task it is sent and send back how it went."""
    _die_with_owner(owner, owner_born)
    while True:
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not payload:
            return
        measured = run_packed(payload, started=lambda: conn.send_bytes(_STARTED))
        conn.send_bytes(pickle.dumps(measured))


def _die_with_owner(owner: int, born: float) -> None:
    """End this worker, whatever task it runs, once the process that owns the executor
    (a pipeline's or a study's driver) is gone, so that a killed driver leaves no task
    behind to write results nobody waits for, or to compete with a resumed run.

    The fork server cannot see to it: every worker holds the descriptor that keeps the
    server alive, so the server outlives its clients as long as a worker does. Linux's
    parent-death signal covers the server itself dying; a thread watching the owner
    covers the owner.
    """
    if sys.platform == "linux":
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    threading.Thread(
        target=_watch_owner, args=(owner, born), name="mlpilot-owner-watch", daemon=True
    ).start()


def _watch_owner(owner: int, born: float) -> None:
    while True:
        try:
            process = psutil.Process(owner)
            # Another process may take the number of one that died: compare births.
            alive = _birth(process) == born and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            alive = False
        except psutil.AccessDenied:
            alive = True
        if not alive:
            os._exit(1)
        time.sleep(_OWNER_CHECK_S)


def _birth(process: psutil.Process) -> float:
    """When ``process`` started, the same whichever process asks.

    On Linux this is its start in clock ticks since boot: the wall-clock start that
    psutil derives from it adds the boot time, which the kernel recomputes on every
    read and which may move by a second under clock adjustment, so that two
    processes could disagree about the same owner and a worker end itself.
    """
    try:
        with open(f"/proc/{process.pid}/stat", "rb") as stat:
            # Fields after the command name, which may itself hold spaces or ')'.
            return float(stat.read().rpartition(b")")[2].split()[19])
    except OSError:
        return round(process.create_time())
