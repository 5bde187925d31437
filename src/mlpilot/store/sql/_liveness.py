"""Finding runs whose process died, so that none stays "running" forever."""

from __future__ import annotations

import socket

import psutil
from sqlalchemy import select, update

from mlpilot.store._metadata import MetadataStore, now_ms
from mlpilot.store._schema import runs
from mlpilot.store.sql._pipeline_rows import settle_unfinished

HOST = socket.gethostname()


def process_alive(pid: int, seen_ms: int) -> bool:
    """Whether the process ``pid`` on this host is the one that was alive at ``seen_ms``.

    ``seen_ms`` is a moment the run's own process wrote (its start, or a heartbeat): a
    process created after it only reuses the number of the one that died.
    """
    if not 0 < pid < 1 << 31:
        return False  # no process has such a number
    try:
        process = psutil.Process(pid)
        created_ms = process.create_time() * 1000
        # A killed process that its parent has not reaped yet is a zombie: dead all the same.
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True
    return created_ms <= seen_ms + 1000


def mark_dead_runs(metadata: MetadataStore, heartbeat_timeout_s: float) -> list[str]:
    """Mark failed every running run whose process is gone; returns their ids.

    A run on this host is dead as soon as its process is; a run on another host is
    dead once its heartbeat is older than ``heartbeat_timeout_s``.
    """
    now = now_ms()
    with metadata.read() as conn:
        running = conn.execute(
            select(runs.c.id, runs.c.host, runs.c.pid, runs.c.heartbeat_ms).where(
                runs.c.status == "running"
            )
        ).all()
    dead: dict[str, str] = {}
    for run_id, host, pid, heartbeat_ms in running:
        if host == HOST and not process_alive(pid, heartbeat_ms):
            dead[run_id] = f"process {pid} on {host} is gone"
        elif now - heartbeat_ms > heartbeat_timeout_s * 1000:
            dead[run_id] = f"no heartbeat from {host} for {(now - heartbeat_ms) // 1000} s"
    for run_id, reason in dead.items():
        with metadata.write() as conn:
            changed = conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.status == "running")
                .values(status="failed", end_ms=now)
            ).rowcount
            if changed:
                settle_unfinished(conn, run_id, now, f"the run failed: {reason}")
                metadata.record_event(
                    conn, "run.failed", "run", run_id, "mlpilot.liveness", reason=reason
                )
    return list(dead)
