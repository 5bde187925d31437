"""Metaflow or Prefect side of the scheduler benchmark's per-task overhead comparison.

Runs inside the tool's own side environment (``bench/.venv-metaflow`` or
``bench/.venv-prefect``, see ``bench/_flow_peers.py``), so it imports neither mlpilot
nor ``bench/_common``. It prints one JSON object on stdout; progress goes to stderr.

What is timed, and why it is a fair comparison with mlpilot's pipeline overhead: every
step or task does nothing, so all the time measured is the orchestrator's own cost of
running a step (planning, recording state, launching, collecting results), which is
what a user pays per step on top of their code.

* **Metaflow**: a generated ``FlowSpec`` with ``--steps`` no-op steps in a chain
  (``start -> s1 -> ... -> end``; ``start`` and ``end`` count as steps) is written to the
  work folder and ``python flow.py --no-pylint run`` is timed end to end through the
  CLI, as a user runs it, with the local metadata provider and local datastore kept in
  the work folder. Metaflow runs every step in its own process, so its per-step cost is
  mostly process start-up and datastore writes. A ``start -> end`` flow is timed too:
  the difference divided by the extra steps (``marginal_ms_per_step``) is the cost of
  one more step, free of the fixed per-run cost. Metaflow records each step's
  metadata and artifacts before the next starts, so nothing is left pending when the
  run ends.
* **Prefect 3**: a flow of ``--steps`` no-op tasks, run in-process in two shapes: a
  fan-out (``.submit()`` every task on the default thread-pool task runner, then wait
  for all) and a chain (each task called with the previous task's result). State is
  kept by the ephemeral local API server (SQLite under ``PREFECT_HOME`` in the work
  folder, served on loopback), with analytics and telemetry off and Prefect's
  defaults otherwise. Importing Prefect and the first flow run, which starts that
  server and migrates its database, are timed separately as start-up and excluded.
  Three figures per shape: the whole flow call (``seconds``, ``ms_per_task``), which also
  holds the flow run's fixed cost (an empty flow, timed too, takes about a second,
  mostly waiting for the heartbeat thread, which sleeps in whole seconds, to stop);
  the flow body alone (``marginal_ms_per_task``: the cost of one more task, the
  figure comparable to a per-task overhead); and the time until the server has
  recorded every task run as completed (``recorded_ms_per_task``): Prefect reports
  task states as events that the server writes afterwards, so this is when the runs
  are durably visible. The benchmark waits for those records before the next run so
  that one run's backlog does not slow down the next.

Best (smallest) of ``--repeat`` runs is reported, as in the other benchmarks. Nothing is
downloaded; everything runs offline on loopback.

Usage: python _flow_peer_worker.py --tool metaflow|prefect --workdir DIR
       [--steps N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_STEPS = {"metaflow": 10, "prefect": 100}


def _say(tool: str, message: str) -> None:
    print(f"{tool:<8} {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- Metaflow


def metaflow_source(steps: int) -> str:
    """Source of a flow of ``steps`` no-op steps in a chain (start, s1, ..., end)."""
    if steps < 2:
        raise ValueError("a Metaflow flow has at least the two steps start and end")
    names = ["start", *(f"s{i}" for i in range(1, steps - 1)), "end"]
    lines = [
        "from metaflow import FlowSpec, step",
        "",
        "",
        "class NoopChainFlow(FlowSpec):",
    ]
    for name, following in zip(names, [*names[1:], None], strict=True):
        lines += ["    @step", f"    def {name}(self):"]
        lines.append(f"        self.next(self.{following})" if following else "        pass")
        lines.append("")
    lines += ["", 'if __name__ == "__main__":', "    NoopChainFlow()", ""]
    return "\n".join(lines)


def _metaflow_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "METAFLOW_HOME": str(workdir / "metaflow-home"),
            "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(workdir / "metaflow-datastore"),
            "METAFLOW_DEFAULT_METADATA": "local",
            "METAFLOW_DEFAULT_DATASTORE": "local",
            "METAFLOW_DEFAULT_ENVIRONMENT": "local",
            "USERNAME": env.get("USERNAME") or "mlpilot-bench",
        }
    )
    return env


def _time_metaflow_run(flow_file: Path, env: dict[str, str]) -> float:
    """Run ``python flow.py --no-pylint run``; return its wall time in seconds."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(flow_file), "--no-pylint", "run"],
        cwd=flow_file.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or "Done!" not in proc.stdout:
        raise RuntimeError(f"{flow_file.name} run exited {proc.returncode}: {proc.stdout[-2000:]}")
    return elapsed


def bench_metaflow(workdir: Path, steps: int, repeat: int) -> dict[str, Any]:
    import metaflow

    env = _metaflow_env(workdir)
    flows: dict[int, Path] = {}
    for count in sorted({2, steps}):
        flow_dir = workdir / f"flow-{count}"
        flow_dir.mkdir(parents=True, exist_ok=True)
        flows[count] = flow_dir / "flow.py"
        flows[count].write_text(metaflow_source(count), encoding="utf-8")

    # One untimed run writes the byte-code caches and the datastore's folders.
    _time_metaflow_run(flows[steps], env)
    times: dict[int, list[float]] = {count: [] for count in flows}
    for rep in range(repeat):
        for count, flow_file in flows.items():
            times[count].append(_time_metaflow_run(flow_file, env))
            _say("metaflow", f"run {rep + 1}/{repeat}, {count} steps: {times[count][-1]:.2f} s")

    seconds = min(times[steps])
    base = min(times[2])
    marginal = (seconds - base) / (steps - 2) if steps > 2 else None
    return {
        "tool": "metaflow",
        "version": metaflow.__version__,
        "shape": "chain",
        "steps": steps,
        "repeat": repeat,
        "seconds": seconds,
        "ms_per_step": seconds / steps * 1000,
        "times_s": times[steps],
        "two_step_seconds": base,
        "marginal_ms_per_step": None if marginal is None else marginal * 1000,
    }


# --------------------------------------------------------------------------- Prefect


def _prefect_environment(workdir: Path) -> None:
    """Point Prefect at a fresh home in ``workdir``; run locally, offline, untracked.

    Must run before ``import prefect``: its settings are read from the environment.
    """
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.pop("PREFECT_API_KEY", None)
    os.environ.update(
        {
            "PREFECT_HOME": str(workdir / "prefect-home"),
            "PREFECT_PROFILES_PATH": str(workdir / "prefect-home" / "profiles.toml"),
            "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true",
            # The first start creates and migrates the SQLite database, which can take
            # longer than the default 20 s on a slow or busy machine.
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": "false",
            "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
            "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
            "DO_NOT_TRACK": "1",
        }
    )


def bench_prefect(workdir: Path, steps: int, repeat: int) -> dict[str, Any]:
    _prefect_environment(workdir)
    start = time.perf_counter()
    import prefect
    from prefect import flow, get_client, task
    from prefect.client.schemas.filters import (
        TaskRunFilter,
        TaskRunFilterFlowRunId,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    import_s = time.perf_counter() - start

    @task
    def noop(value: int) -> int:
        return value

    # Each flow returns how many tasks it ran and how long its body took, which is
    # the tasks' cost without the flow run's own set-up and tear-down.
    @flow
    def empty_flow(n: int) -> tuple[int, float]:
        return n, 0.0

    @flow
    def fanout_flow(n: int) -> tuple[int, float]:
        start = time.perf_counter()
        futures = [noop.submit(i) for i in range(n)]
        done = len([future.result() for future in futures])
        return done, time.perf_counter() - start

    @flow
    def chain_flow(n: int) -> tuple[int, float]:
        start = time.perf_counter()
        value = 0
        for _ in range(n):
            value = noop(value) + 1
        return value, time.perf_counter() - start

    def completed_tasks(client: Any, flow_run_id: Any) -> int:
        task_filter = TaskRunFilter(
            flow_run_id=TaskRunFilterFlowRunId(any_=[flow_run_id]),
            state=TaskRunFilterState(type=TaskRunFilterStateType(any_=[StateType.COMPLETED])),
        )
        body = {"task_runs": task_filter.model_dump(mode="json", exclude_unset=True)}
        response = client.request("POST", "/task_runs/count", json=body)
        response.raise_for_status()
        return int(response.json())

    def timed_run(client: Any, body: Any, n: int) -> tuple[float, float, float]:
        """Run ``body(n)``; return seconds until it returned, seconds spent in its
        body, and seconds until the server had recorded its ``n`` task runs as
        completed.

        Waiting for the records also keeps one run's backlog in the server from
        slowing the next run down.
        """
        start = time.perf_counter()
        state = body(n, return_state=True)
        returned = time.perf_counter() - start
        done, body_s = state.result()
        if done != n:
            raise RuntimeError(f"{body.name} ran {done} tasks, expected {n}")
        flow_run_id = state.state_details.flow_run_id
        deadline = start + 300
        while completed_tasks(client, flow_run_id) < n:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{body.name}: task runs not recorded after 300 s")
            time.sleep(0.1)
        return returned, body_s, time.perf_counter() - start

    # The first flow run starts the ephemeral API server and creates its database.
    start = time.perf_counter()
    fanout_flow(1)
    first_flow_s = time.perf_counter() - start
    _say("prefect", f"import {import_s:.2f} s, first flow (server start) {first_flow_s:.2f} s")
    with get_client(sync_client=True) as client:
        # Warm the other code paths too before timing.
        timed_run(client, empty_flow, 0)
        timed_run(client, chain_flow, 1)

        empty_times = [timed_run(client, empty_flow, 0)[0] for _ in range(repeat)]
        empty_s = min(empty_times)
        _say("prefect", f"empty flow: {empty_s * 1000:,.0f} ms")

        shapes: dict[str, dict[str, Any]] = {}
        for shape, body in (("fanout", fanout_flow), ("chain", chain_flow)):
            runs = [timed_run(client, body, steps) for _ in range(repeat)]
            seconds = min(run[0] for run in runs)
            body_s = min(run[1] for run in runs)
            recorded = min(run[2] for run in runs)
            shapes[shape] = {
                "seconds": seconds,
                "ms_per_task": seconds / steps * 1000,
                "tasks_seconds": body_s,
                "marginal_ms_per_task": body_s / steps * 1000,
                "recorded_seconds": recorded,
                "recorded_ms_per_task": recorded / steps * 1000,
                "times_s": [run[0] for run in runs],
                "tasks_times_s": [run[1] for run in runs],
                "recorded_times_s": [run[2] for run in runs],
            }
            _say(
                "prefect",
                f"{shape}, {steps} tasks: flow {seconds:.2f} s, tasks {body_s:.2f} s "
                f"({shapes[shape]['marginal_ms_per_task']:.1f} ms per task), "
                f"all recorded by the server after {recorded:.2f} s",
            )

    return {
        "tool": "prefect",
        "version": prefect.__version__,
        "shape": "fanout",
        "steps": steps,
        "repeat": repeat,
        "seconds": shapes["fanout"]["seconds"],
        "ms_per_step": shapes["fanout"]["ms_per_task"],
        "marginal_ms_per_step": shapes["fanout"]["marginal_ms_per_task"],
        "import_s": import_s,
        "startup_s": first_flow_s,
        "empty_flow_s": empty_s,
        "empty_flow_times_s": empty_times,
        "fanout": shapes["fanout"],
        "chain": shapes["chain"],
    }


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True, choices=sorted(DEFAULT_STEPS))
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    steps: int = args.steps or DEFAULT_STEPS[args.tool]
    repeat = max(args.repeat, 1)
    if args.tool == "metaflow":
        result = bench_metaflow(workdir, steps, repeat)
    else:
        result = bench_prefect(workdir, steps, repeat)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
