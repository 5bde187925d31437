"""Scheduler benchmark: how good mlpilot's allocation policies are, by simulation.

Policy quality is measured on fixed, seeded workloads played through
``mlpilot.schedule.simulate`` (the event model the scheduler plans with):

* **makespan**: 200 malleable jobs (log-normal work, Amdahl speed-up curves with parallel
  shares 0.5 to 0.99, at most 4 to 32 cores each; FIFO gives each job its maximum, the
  way a user asks a batch queue) on 64 cores, all submitted at once. Compared with the
  lower bound max(longest job at its best, total work / capacity) that the target names,
  with a tighter bound that still no schedule can beat (below), with FIFO and with fair
  share. Targets: within 5% of the lower bound; at least 1.3× shorter than FIFO.
* **deadline**: 200 jobs arriving over time, each with a deadline taken from a schedule
  that meets them all (the makespan policy's finishing times plus 10% of each job's time
  in the system), so every deadline is feasible. Share of deadlines met and core-hours
  used, for the deadline policy against FIFO and fair share. Target: at least 95% met.

The tighter bound: a job with concave speed-up s that must finish its work W within T
needs at least W · c / s(c) core-seconds, where s(c) = W / T and s is interpolated
between whole cores (running r and r + 1 cores for parts of the time achieves it). The
least T at which the jobs' needs fit in capacity × T is a lower bound on any makespan;
the simple bound ignores that a long job must run wide, and so inefficiently, to finish
early.

Overhead is measured for real on this machine: a 1,000-task pipeline of no-op steps
(one source, 998 no-ops reading it, one fan-in; caching off so every task runs), end
to end through ``Pipeline.run``: graph, policy, metadata rows for every task and
attempt, outputs written to and read from the artifact store. Once on the local
executor (2 cores) and once on a local Ray with 2 CPUs. The raw floor is the same
number of no-op calls submitted straight to the same executor, with no pipeline
around them. The peer tools a user would pick instead, a Metaflow local flow and a
Prefect flow of no-op steps, run in virtual environments of their own
(``bench/.venv-metaflow``, ``bench/.venv-prefect``; see ``bench/_flow_peers.py``).

Usage::

    python bench/scheduler.py [--check] [--tasks 1000] [--no-ray] [--no-peers]

The result table goes to stdout, followed by one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from _common import Row, fmt_seconds, print_json_line, print_table, say  # noqa: E402
from _flow_peers import peer_overheads  # noqa: E402
from mlpilot.schedule import (  # noqa: E402
    Amdahl,
    Deadline,
    FairShare,
    Fifo,
    Job,
    Makespan,
    Waiting,
    lower_bound,
    simulate,
    unmeetable,
)

CAPACITY = 64
JOBS = 200
SHARES = (0.5, 0.8, 0.95, 0.99)
MAX_CORES = (4, 8, 16, 32)


def malleable_jobs(seed: int, mean_gap_s: float = 0.0) -> list[Job]:
    rng = np.random.default_rng(seed)
    jobs, clock = [], 0.0
    for index in range(JOBS):
        clock += float(rng.exponential(mean_gap_s)) if mean_gap_s else 0.0
        widest = int(rng.choice(MAX_CORES))
        jobs.append(
            Job(
                f"job-{index}",
                work=float(rng.lognormal(4.0, 1.0)),
                max_cores=widest,
                curve=Amdahl(float(rng.choice(SHARES))),
                requested=widest,
                submitted=clock,
            )
        )
    return jobs


def area_bound(jobs: list[Job], capacity: int) -> float:
    """The tighter lower bound described in the module docstring."""

    def least_core_seconds(job: Job, within: float) -> float:
        rate = job.work / within
        if rate <= 1.0:
            return job.work  # one core, or less of one, at full efficiency
        for cores in range(1, job.max_cores):
            low, high = job.curve.speedup(cores), job.curve.speedup(cores + 1)
            if high >= rate:
                fractional = cores + (rate - low) / (high - low)
                return job.work * fractional / rate
        return float("inf")

    def fits(within: float) -> bool:
        return sum(least_core_seconds(j, within) for j in jobs) <= capacity * within

    low = high = lower_bound([Waiting(j, j.work) for j in jobs], capacity)
    while not fits(high):
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (low, middle) if fits(middle) else (middle, high)
    return high


def measure_overhead(kind: str, tasks: int, workdir: Path) -> dict[str, float]:
    """Seconds for ``tasks`` no-op pipeline tasks on executor ``kind``, and the raw floor."""
    import _noop_flow
    from mlpilot.compute import create_executor
    from mlpilot.tracking import TrackingClient

    home = workdir / kind
    client = TrackingClient(home=str(home))
    if kind == "ray":
        import ray

        # Ray's workers import the raw floor's function from this folder.
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            job_config=ray.job_config.JobConfig(code_search_path=[str(BENCH_DIR)]),
        )
    executor = create_executor(kind, cpus=2)
    try:
        _noop_flow.fan.run({"tasks": 20}, executor=executor, client=client)  # warm workers
        started = time.perf_counter()
        run = _noop_flow.fan.run({"tasks": tasks}, executor=executor, client=client)
        pipeline_s = time.perf_counter() - started
        if run.status != "finished" or run.value() != tasks - 2:
            raise RuntimeError(f"the {kind} benchmark run ended {run.status}")
        started = time.perf_counter()
        futures = [executor.submit(f"raw-{i}", _noop_flow.raw_noop) for i in range(tasks)]
        if not all(f.result().ok for f in futures):
            raise RuntimeError(f"raw no-op tasks failed on {kind}")
        raw_s = time.perf_counter() - started
    finally:
        executor.shutdown()
        client.store.close()
        if kind == "ray":
            ray.shutdown()
    say(kind, f"{tasks} pipeline tasks in {pipeline_s:.2f} s; raw floor {raw_s:.2f} s")
    return {"pipeline_s": pipeline_s, "raw_s": raw_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--tasks", type=int, default=1000, help="tasks in the overhead DAG")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray executor")
    parser.add_argument("--no-peers", action="store_true", help="skip Metaflow and Prefect")
    args = parser.parse_args(argv)

    batch = malleable_jobs(seed=42)
    simple = lower_bound([Waiting(j, j.work) for j in batch], CAPACITY)
    tight = area_bound(batch, CAPACITY)
    runs = {}
    for policy in (Makespan(), FairShare(), Fifo()):
        started = time.perf_counter()
        runs[policy.name] = simulate(batch, CAPACITY, policy)
        say(
            policy.name,
            f"makespan {runs[policy.name].makespan:,.1f} s simulated "
            f"(planned in {fmt_seconds(time.perf_counter() - started)})",
        )
    best = runs["makespan"].makespan

    arriving = malleable_jobs(seed=7, mean_gap_s=1.0)
    reference = simulate(arriving, CAPACITY, Makespan()).finished
    dated = [
        dataclasses.replace(j, deadline=reference[j.id] + 0.1 * (reference[j.id] - j.submitted))
        for j in arriving
    ]
    assert not unmeetable(dated, 0.0)
    deadline_runs = {
        p.name: simulate(dated, CAPACITY, p) for p in (Deadline(), Fifo(), FairShare())
    }
    for name, result in deadline_runs.items():
        say(
            name,
            f"{result.met_share:.1%} of deadlines met, {result.core_seconds / 3600:,.2f} core-h",
        )

    figures = {
        "makespan_s": round(best, 2),
        "lower_bound_s": round(simple, 2),
        "area_bound_s": round(tight, 2),
        "makespan_vs_lower_bound": round(best / simple, 4),
        "makespan_vs_area_bound": round(best / tight, 4),
        "fifo_vs_makespan": round(runs["fifo"].makespan / best, 3),
        "fair_share_vs_makespan": round(runs["fair-share"].makespan / best, 3),
        "deadline_met_share": round(deadline_runs["deadline"].met_share, 4),
        "fifo_deadline_met_share": round(deadline_runs["fifo"].met_share, 4),
        "fair_share_deadline_met_share": round(deadline_runs["fair-share"].met_share, 4),
        "deadline_core_hours": round(deadline_runs["deadline"].core_seconds / 3600, 3),
        "fifo_core_hours": round(deadline_runs["fifo"].core_seconds / 3600, 3),
        "fair_share_core_hours": round(deadline_runs["fair-share"].core_seconds / 3600, 3),
    }
    with tempfile.TemporaryDirectory(prefix="mlpilot-bench-") as folder:
        workdir = Path(folder)
        local = measure_overhead("local", args.tasks, workdir)
        ray_figures = None
        if not args.no_ray:
            try:
                ray_figures = measure_overhead("ray", args.tasks, workdir)
            except Exception as exc:  # Ray is an extra; report why it is missing
                say("ray", f"not measured: {exc}")
        peers = {} if args.no_peers else peer_overheads(workdir)
    per_task = {"local": local["pipeline_s"] / args.tasks * 1000}
    figures["local_ms_per_task"] = round(per_task["local"], 3)
    figures["local_raw_ms_per_task"] = round(local["raw_s"] / args.tasks * 1000, 3)
    figures["local_vs_raw"] = round(local["pipeline_s"] / local["raw_s"], 2)
    figures["ray_ms_per_task"] = None
    if ray_figures is not None:
        per_task["ray"] = ray_figures["pipeline_s"] / args.tasks * 1000
        figures["ray_ms_per_task"] = round(per_task["ray"], 3)
        figures["ray_raw_ms_per_task"] = round(ray_figures["raw_s"] / args.tasks * 1000, 3)
        figures["ray_vs_raw"] = round(ray_figures["pipeline_s"] / ray_figures["raw_s"], 2)
    for tool in ("metaflow", "prefect"):
        found = peers.get(tool)
        ms = found.get("ms_per_step") if isinstance(found, dict) else None
        figures[f"{tool}_ms_per_step"] = None if ms is None else round(float(ms), 3)
        marginal = found.get("marginal_ms_per_step") if isinstance(found, dict) else None
        figures[f"{tool}_marginal_ms_per_step"] = (
            None if marginal is None else round(float(marginal), 3)
        )
        figures[f"{tool}_vs_local"] = (
            None if ms is None else round(float(ms) / per_task["local"], 1)
        )
    met = {
        "bound": figures["makespan_vs_lower_bound"] <= 1.05,
        "fifo": figures["fifo_vs_makespan"] >= 1.3,
        "deadline": figures["deadline_met_share"] >= 0.95,
        "local_overhead": per_task["local"] < 10,
    }
    if "ray" in per_task:
        met["ray_overhead"] = per_task["ray"] < 10
    figures["targets_met"] = all(met.values())
    rows = [
        Row(
            "makespan vs lower bound (simple)",
            f"{best:,.1f} s",
            f"{simple:,.1f} s",
            f"{best / simple:.3f}×",
            "≤ 1.05×",
            met["bound"],
        ),
        Row(
            "makespan vs area bound (tighter)",
            f"{best:,.1f} s",
            f"{tight:,.1f} s",
            f"{best / tight:.3f}×",
            "—",
            None,
        ),
        Row(
            "FIFO vs makespan policy",
            f"{best:,.1f} s",
            f"{runs['fifo'].makespan:,.1f} s",
            f"{figures['fifo_vs_makespan']:.2f}×",
            "≥ 1.3×",
            met["fifo"],
        ),
        Row(
            "fair share vs makespan policy",
            f"{best:,.1f} s",
            f"{runs['fair-share'].makespan:,.1f} s",
            f"{figures['fair_share_vs_makespan']:.2f}×",
            "—",
            None,
        ),
        Row(
            "deadlines met: deadline vs FIFO",
            f"{figures['deadline_met_share']:.1%}",
            f"{figures['fifo_deadline_met_share']:.1%}",
            "—",
            "≥ 95%",
            met["deadline"],
        ),
        Row(
            "deadlines met: deadline vs fair share",
            f"{figures['deadline_met_share']:.1%}",
            f"{figures['fair_share_deadline_met_share']:.1%}",
            "—",
            "—",
            None,
        ),
        Row(
            "core-hours: deadline vs FIFO",
            f"{figures['deadline_core_hours']:.2f}",
            f"{figures['fifo_core_hours']:.2f}",
            "—",
            "—",
            None,
        ),
    ]
    rows.append(
        Row(
            f"{args.tasks}-task no-op DAG, local: ms/task vs raw submit",
            f"{per_task['local']:.2f}",
            f"{figures['local_raw_ms_per_task']:.2f}",
            f"{figures['local_vs_raw']:.1f}×",
            "< 10 ms",
            met["local_overhead"],
        )
    )
    if "ray" in per_task:
        rows.append(
            Row(
                f"{args.tasks}-task no-op DAG, Ray: ms/task vs raw submit",
                f"{per_task['ray']:.2f}",
                f"{figures['ray_raw_ms_per_task']:.2f}",
                f"{figures['ray_vs_raw']:.1f}×",
                "< 10 ms",
                met["ray_overhead"],
            )
        )
    for tool in ("metaflow", "prefect"):
        ms = figures[f"{tool}_ms_per_step"]
        rows.append(
            Row(
                f"ms per step: mlpilot local vs {tool}",
                f"{per_task['local']:.2f}",
                "not measured" if ms is None else f"{ms:.1f}",
                "—" if ms is None else f"{figures[f'{tool}_vs_local']:.0f}×",
                "—",
                None,
            )
        )
    print_table(
        f"mlpilot scheduler: {JOBS} malleable jobs on {CAPACITY} cores (simulated), "
        f"and real overhead on this machine",
        rows,
        other_name="baseline",
        caption="deadline workload: arrivals every 1 s on average, deadlines all feasible",
    )
    print_json_line(figures)
    return 1 if args.check and not figures["targets_met"] else 0


if __name__ == "__main__":
    sys.exit(main())
