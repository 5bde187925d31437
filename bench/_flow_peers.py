"""Per-task overhead of the pipeline tools a user would pick instead of mlpilot.

:func:`peer_overheads` times a no-op Metaflow flow and a no-op Prefect 3 flow for the
scheduler benchmark (``bench/scheduler.py``), which sets them beside mlpilot's own
per-task pipeline overhead. Each tool runs from its own side environment,
``bench/.venv-metaflow`` and ``bench/.venv-prefect`` (separate because their
dependencies may clash), built once by :func:`_common.ensure_venv`; the timing itself is
done by ``bench/_flow_peer_worker.py`` inside that environment, whose docstring says
what is timed and why it is a fair comparison.

A tool that cannot be installed, fails or runs too long gives ``None`` and a message
under ``errors``; it never stops the benchmark. The worker's full output (Prefect logs
every task run) is kept in ``<workdir>/<tool>-worker.log``; only its progress lines are
shown.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, ensure_venv, err_console, say

WORKER = BENCH_DIR / "_flow_peer_worker.py"
WORKER_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Peer:
    """One comparison tool: where its environment lives and how it is run."""

    name: str
    venv: Path
    packages: tuple[str, ...]
    # Imported to decide whether the environment is usable; deep enough to catch a
    # broken install, not just a missing one.
    import_check: str
    steps: int
    env: dict[str, str] = field(default_factory=dict)
    # Environment variable naming the tool's home folder, pointed into the work folder
    # (importing Prefect creates its home, ~/.prefect unless told otherwise).
    home_var: str | None = None


PEERS: dict[str, Peer] = {
    "metaflow": Peer(
        name="metaflow",
        venv=BENCH_DIR / ".venv-metaflow",
        packages=("metaflow",),
        import_check="metaflow",
        steps=10,
        home_var="METAFLOW_HOME",
    ),
    "prefect": Peer(
        name="prefect",
        venv=BENCH_DIR / ".venv-prefect",
        # Prefect 3.8 accepts any FastAPI below 1.0, but its server stops importing
        # with FastAPI 0.151 and later (``Body(min_items=...)`` was removed); Prefect
        # 3.9 caps FastAPI below 0.151 itself.
        packages=("prefect>=3,<4", "fastapi<0.151"),
        import_check="prefect.server.api.server",
        steps=100,
        env={
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
        },
        home_var="PREFECT_HOME",
    ),
}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _peer_env(peer: Peer, workdir: Path) -> dict[str, str]:
    """Environment variables for ``peer``, its home folder under ``workdir``."""
    env = dict(peer.env)
    if peer.home_var:
        env[peer.home_var] = str(workdir / peer.name / f"{peer.name}-home")
    return env


@contextmanager
def _environ(extra: dict[str, str]) -> Iterator[None]:
    """Set ``extra`` in ``os.environ`` for the duration of the block."""
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _kill_tree(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` and, on POSIX, the processes it started (its process group)."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _run_worker_logged(peer: Peer, python: Path, workdir: Path, repeat: int) -> dict[str, Any]:
    """Run the worker for ``peer``; return its JSON result.

    All of its output goes to ``<workdir>/<tool>-worker.log``; its own progress lines
    (those starting with the tool's name) are also shown with :func:`say`. Raises
    ``RuntimeError`` when it fails, prints no result or outlives ``WORKER_TIMEOUT_S``.
    """
    log_path = workdir / f"{peer.name}-worker.log"
    out_path = workdir / f"{peer.name}-worker.json"
    tool_dir = workdir / peer.name
    cmd = [
        str(python),
        str(WORKER),
        "--tool",
        peer.name,
        "--workdir",
        str(tool_dir),
        "--steps",
        str(peer.steps),
        "--repeat",
        str(repeat),
    ]
    env = {**os.environ, **_peer_env(peer, workdir)}
    with (
        open(log_path, "w", encoding="utf-8") as log,
        open(out_path, "w", encoding="utf-8") as out,
        err_console.status(f"{peer.name}: {peer.steps} no-op steps"),
    ):
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=env,
            cwd=workdir,
            # Its own process group, so that a timeout also ends the processes it
            # started (Prefect's API server, Metaflow's steps).
            start_new_session=os.name == "posix",
        )
        timed_out = threading.Event()

        def on_timeout() -> None:
            timed_out.set()
            _kill_tree(proc)

        timer = threading.Timer(WORKER_TIMEOUT_S, on_timeout)
        timer.daemon = True
        timer.start()
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                log.write(line)
                if line.startswith(peer.name + " "):
                    say(peer.name, line[len(peer.name) :].strip())
            returncode = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:  # interrupted: leave nothing running
                _kill_tree(proc)
                proc.wait()
    if timed_out.is_set():
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"worker killed after {WORKER_TIMEOUT_S:.0f} s; log ends:\n{tail}")
    if returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"worker exited {returncode}; see {log_path}; log ends:\n{tail}")
    for line in reversed(out_path.read_text(encoding="utf-8").splitlines()):
        if line.strip().startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    raise RuntimeError(f"worker printed no JSON result; see {log_path}")


def peer_overheads(
    workdir: Path,
    *,
    tools: Sequence[str] = tuple(PEERS),
    repeat: int = 3,
) -> dict[str, Any]:
    """Time no-op flows of each tool in ``tools`` (``"metaflow"``, ``"prefect"``).

    Returns ``{"metaflow": result or None, "prefect": result or None, "errors": {tool:
    message}}``. Every result has these keys (best of ``repeat`` runs):

    * ``tool``, ``version``, ``shape`` (``"chain"`` for Metaflow, ``"fanout"`` for
      Prefect), ``steps`` (10 and 100), ``repeat``;
    * ``seconds`` and ``ms_per_step``: one whole run, fixed per-run cost included;
    * ``marginal_ms_per_step``: the cost of one more step, fixed cost excluded.

    Metaflow's adds ``two_step_seconds`` (a ``start -> end`` flow) and ``times_s``.
    Prefect's adds ``import_s``, ``startup_s`` (first flow run, which starts the local
    API server; excluded from the rest), ``empty_flow_s``, and ``fanout`` and
    ``chain`` dicts with ``seconds``, ``ms_per_task``, ``marginal_ms_per_task`` (the
    flow body alone), ``recorded_seconds`` and ``recorded_ms_per_task`` (until the
    server had recorded every task run) and the per-repetition times.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in tools:
        results[name] = None
        peer = PEERS.get(name)
        if peer is None:
            errors[name] = f"unknown tool {name!r}; known: {', '.join(PEERS)}"
            continue
        # A peer that cannot be installed or run is reported, whatever went wrong; it
        # must not stop the benchmark.
        try:
            # The import check runs with the tool's home in the work folder too.
            with _environ(_peer_env(peer, workdir)):
                python = ensure_venv(peer.venv, peer.packages, peer.import_check)
        except Exception as exc:
            say(name, f"not available: {_first_line(exc)}")
            errors[name] = f"installing {name} failed: {exc}"
            continue
        try:
            result = _run_worker_logged(peer, python, workdir, repeat)
            summary = (
                f"{result['steps']} steps ({result['shape']}): {result['seconds']:.2f} s, "
                f"{result['ms_per_step']:.1f} ms per step, "
                f"{result['marginal_ms_per_step']:.1f} ms per extra step"
            )
        except Exception as exc:
            say(name, f"worker failed: {_first_line(exc)}")
            errors[name] = f"the {name} worker failed: {exc}"
            continue
        results[name] = result
        say(name, summary)
    results["errors"] = errors
    return results
