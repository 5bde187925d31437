"""Tuning benchmark: how well mlpilot's studies search, prune and keep out of the way.

Everything runs through ``mlpilot.tune.tune`` on the local executor with 2 cores. The
objectives are in ``bench/_tune_problems.py``.

* **Search quality**: trials needed to get within 1% of the best known value, median
  over 10 seeds, for the TPE, GP and random samplers, on Branin (minimise; best
  0.397887, so a trial must reach f <= 0.397887 · 1.01), Hartmann-6 (minimise; best
  -3.32237, f <= -3.32237 · 0.99) and a real model: 3-fold cross-validated R² of an RBF
  support-vector regression (scikit-learn's ``SVR`` after ``StandardScaler``) on the
  bundled diabetes data, over C, gamma and epsilon (maximise; the best known value is
  the best any sampler found in the whole run, and a trial must reach 0.99 of it).
  The model is a support-vector machine rather than gradient boosting because every
  sampler draws its first 10 points at random, the same points for the same seed, and
  boosting's cross-validated accuracy on the bundled classification data comes within
  1% of its best in 4 trials or so: all three samplers tie there by construction. R² is
  far more sensitive to these parameters (random search needs hundreds of trials), and
  a trial takes about 40 ms, not 150.
  TPE and GP studies run one trial at a time (``parallel=1``) so that the comparison is
  of samplers, not of how they cope with trials running at once. Random search runs
  two at a time: its points do not depend on results, so trial ``n`` is the same point
  either way. Each run stops at a cap: TPE 300 trials, GP 80 (Optuna's GP sampler
  spends 0.1 to 0.3 s per point by then), random 1,000 on the test functions, where its
  trials cost little more than the platform's overhead, and 500 on the model. A run
  that never gets within 1% counts as cap + 1; a median that rests on such a run is a
  lower bound, shown ``≥``, and a ratio over one a bound, shown ``≤`` or ``≥``. The
  figures are median(TPE) / median(random) and median(GP) / median(random) per
  problem, and, as ``tpe_vs_random_trials`` and ``gp_vs_random_trials``, the median of
  those over the three problems (bounded where its inputs are: ``tpe_vs_random_bound``
  says how). Target: at most 0.5. On the test functions random search within 1% is
  rare enough that no sane cap sees it, so the exact median it needs,
  ln 2 / -ln(1 - p) with p the share of the domain within 1% (from 10 million uniform
  points), is shown beside it.
* **Early stopping**: an ``SGDClassifier`` trained on the bundled digits for 81 epochs,
  reporting validation accuracy after each. The same 60 points (random sampler, seed 0;
  the data are shuffled by trial number) run once without pruning and once with
  ``pruner="asha"`` (rungs at steps 1, 3, 9 and 27, that is after 2, 4, 10 and 28
  epochs; reduction factor 3), two trials at a time. ``asha_iteration_share`` is the
  epochs run with ASHA over the epochs run without (one report per epoch, read back
  from the store); target at most 1/3.
  ``asha_score_gap`` is (best accuracy without − best with ASHA) / best without; target
  at most 1%.
* **Overhead**: 1,000 trials of a no-op objective (random sampler, four parameters,
  ``parallel=2``, ``executor="local"``, ``cpus=2``), timed from just before ``tune(...)``
  to its return, after a 20-trial study has started the fork server.
  ``overhead_ms_per_trial``, the platform's cost of scheduling and recording a trial,
  is that time less the seconds the Optuna sampler spent (``study.sampler_s``) and less
  the time from the last trial's end to the return (the end-of-study report of plots
  and importances, closing the run, stopping the workers: once per study, whatever its
  size), per trial; target under 5 ms. ``with_report_ms_per_trial`` keeps the report
  in. The raw floor is 1,000 no-op calls submitted straight to a fresh
  ``LocalExecutor(cpus=2)``, two in flight, its start and shutdown included. The
  baseline is Optuna, the library whose samplers mlpilot drives (so it runs in this
  environment): ``study.optimize`` of the same space's no-op with a ``RandomSampler``,
  once with its SQLite storage and once in memory.

OpenMP and PyTorch are held to one thread (``OMP_NUM_THREADS=1``): each trial is given
one core, and on a 2-core machine a pool as wide as the machine made a gradient
boosting fit ten times slower and the GP sampler twice as slow. The studies of the
quality and pruning parts share one warm executor and skip the end-of-study report
(``report=False``), which is the overhead part's business.

Usage::

    python bench/tune.py [--check]

``--check`` is a small run (2 seeds, a few dozen trials) that tries every part in well
under a minute; its figures mean little. The result table goes to stdout, followed by
one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path
from typing import Any

# Before anything starts a thread pool or a worker process (workers inherit it).
os.environ["OMP_NUM_THREADS"] = "1"

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import optuna  # noqa: E402

import _tune_problems as problems  # noqa: E402
from _common import (  # noqa: E402
    Row,
    err_console,
    print_json_line,
    print_table,
    progress_bar,
    say,
)
from mlpilot.compute import Executor, LocalExecutor  # noqa: E402
from mlpilot.tracking import TrackingClient  # noqa: E402
from mlpilot.tune import Space, tune  # noqa: E402

SAMPLERS = ("tpe", "gp", "random")
TARGET_RATIO = 0.5


@dataclasses.dataclass(frozen=True)
class Sizes:
    seeds: int
    test_caps: dict[str, int]
    model_caps: dict[str, int]
    asha_trials: int
    asha_epochs: int
    overhead_trials: int
    mc_points: int


FULL = Sizes(
    seeds=10,
    test_caps={"tpe": 300, "gp": 80, "random": 1000},
    model_caps={"tpe": 300, "gp": 80, "random": 500},
    asha_trials=60,
    asha_epochs=81,
    overhead_trials=1000,
    mc_points=10_000_000,
)
CHECK = Sizes(
    seeds=2,
    test_caps={"tpe": 25, "gp": 12, "random": 50},
    model_caps={"tpe": 15, "gp": 12, "random": 30},
    asha_trials=8,
    asha_epochs=9,
    overhead_trials=100,
    mc_points=200_000,
)


@dataclasses.dataclass(frozen=True)
class Problem:
    name: str
    objective: Callable[..., float]
    space: Space
    direction: str
    caps: dict[str, int]
    best: float | None = None  # None: the best value found in this run

    def target(self, best: float) -> float:
        """Within 1% of ``best``, relative, on the side of worse values."""
        return best + 0.01 * abs(best) * (1 if self.direction == "minimize" else -1)

    def reached(self, value: float, target: float) -> bool:
        return value <= target if self.direction == "minimize" else value >= target


@dataclasses.dataclass(frozen=True)
class Count:
    """Trials each seed's run needed to reach the target (None: not within the cap)."""

    runs: list[int | None]
    cap: int

    @property
    def reached(self) -> int:
        return sum(r is not None for r in self.runs)

    @property
    def median(self) -> float:
        return float(statistics.median(self.cap + 1 if r is None else r for r in self.runs))

    @property
    def censored(self) -> bool:
        """Whether the median rests on a run that never reached the target."""
        ordered = sorted(self.cap + 1 if r is None else r for r in self.runs)
        return ordered[len(ordered) // 2] > self.cap

    def text(self) -> str:
        prefix = "≥ " if self.censored else ""
        return f"{prefix}{self.median:,.1f} ({self.reached}/{len(self.runs)}, cap {self.cap:,})"


@dataclasses.dataclass(frozen=True)
class Ratio:
    value: float
    bound: str  # "=" exact, "≤" an upper bound, "≥" a lower bound, "?" unknown

    @classmethod
    def of(cls, top: Count, bottom: Count) -> Ratio:
        bound = {(False, False): "=", (False, True): "≤", (True, False): "≥"}
        return cls(top.median / bottom.median, bound.get((top.censored, bottom.censored), "?"))

    @classmethod
    def median(cls, ratios: Sequence[Ratio]) -> Ratio:
        """The median of ``ratios``, bounded as tightly as their bounds allow: its upper
        bound is the median of theirs (a lower bound or an unknown has none), and its
        lower bound likewise."""
        upper = statistics.median(r.value if r.bound in "=≤" else math.inf for r in ratios)
        lower = statistics.median(r.value if r.bound in "=≥" else 0.0 for r in ratios)
        if upper == lower:
            return cls(upper, "=")
        if math.isfinite(upper):
            return cls(upper, "≤")
        return (
            cls(lower, "≥") if lower > 0 else cls(statistics.median(r.value for r in ratios), "?")
        )

    def text(self) -> str:
        return f"{'' if self.bound == '=' else self.bound + ' '}{self.value:.3f}"

    def met(self, at_most: float) -> bool | None:
        if self.bound in ("=", "≤"):
            return self.value <= at_most
        return False if self.bound == "≥" and self.value > at_most else None


# --------------------------------------------------------------------------- search quality


def ends_of(progress: Any, task: Any) -> Callable[[int, str, Any], None]:
    """A study observer that advances ``task`` as each trial ends."""

    def observe(number: int, state: str, values: Any) -> None:
        if state != "running":
            progress.advance(task)

    return observe


def search(
    problem: Problem, seeds: int, pool: Executor, client: TrackingClient, progress: Any
) -> dict[str, list[list[float | None]]]:
    """Every run's values by trial number, for each sampler."""
    found: dict[str, list[list[float | None]]] = {}
    overall = progress.add_task(f"{problem.name}", total=seeds * len(SAMPLERS))
    for sampler in SAMPLERS:
        found[sampler] = []
        started = time.perf_counter()
        for seed in range(seeds):
            cap = problem.caps[sampler]
            trials = progress.add_task(f"  {sampler} seed {seed}", total=cap)
            study = tune(
                problem.objective,
                problem.space,
                name=f"{problem.name}-{sampler}-{seed}",
                direction=problem.direction,
                sampler=sampler,
                seed=seed,
                trials=cap,
                parallel=2 if sampler == "random" else 1,
                executor=pool,
                client=client,
                observer=ends_of(progress, trials),
                report=False,
            )
            progress.remove_task(trials)
            progress.advance(overall)
            found[sampler].append(
                [t.values[0] if t.state == "complete" and t.values else None for t in study.trials]
            )
        say(sampler, f"{problem.name}: {seeds} runs in {time.perf_counter() - started:.1f} s")
    progress.remove_task(overall)
    return found


def trials_to(values: list[float | None], problem: Problem, target: float) -> int | None:
    for number, value in enumerate(values, start=1):
        if value is not None and problem.reached(value, target):
            return number
    return None


def quality(
    sizes: Sizes, pool: Executor, workdir: Path
) -> tuple[dict[str, dict[str, Count]], dict[str, float]]:
    """Trials to target for each problem and sampler, and each problem's target."""
    suite = [
        Problem(
            "branin",
            problems.branin,
            problems.BRANIN_SPACE,
            "minimize",
            sizes.test_caps,
            problems.BRANIN_BEST,
        ),
        Problem(
            "hartmann6",
            problems.hartmann6,
            problems.HARTMANN6_SPACE,
            "minimize",
            sizes.test_caps,
            problems.HARTMANN6_BEST,
        ),
        Problem("svr", problems.svr_r2, problems.SVR_SPACE, "maximize", sizes.model_caps),
    ]
    counts: dict[str, dict[str, Count]] = {}
    targets: dict[str, float] = {}
    with progress_bar() as progress:
        for problem in suite:
            client = TrackingClient(home=str(workdir / problem.name))
            runs = search(problem, sizes.seeds, pool, client, progress)
            client.store.close()
            values = [
                v for by_seed in runs.values() for run in by_seed for v in run if v is not None
            ]
            best = problem.best
            if best is None:
                best = max(values) if problem.direction == "maximize" else min(values)
            target = targets[problem.name] = problem.target(best)
            counts[problem.name] = {
                sampler: Count(
                    [trials_to(run, problem, target) for run in by_seed], problem.caps[sampler]
                )
                for sampler, by_seed in runs.items()
            }
            summary = ", ".join(f"{s} {c.text()}" for s, c in counts[problem.name].items())
            say(problem.name, f"trials to within 1% of {best:.6g}: {summary}")
    return counts, targets


# --------------------------------------------------------------------------- early stopping


def early_stopping(sizes: Sizes, pool: Executor, workdir: Path) -> dict[str, float]:
    client = TrackingClient(home=str(workdir / "asha"))
    space = problems.sgd_space(sizes.asha_epochs)
    figures: dict[str, float] = {}
    points = {}
    for pruner in (None, "asha"):
        label = pruner or "none"
        started = time.perf_counter()
        with progress_bar() as progress:
            task = progress.add_task(f"SGD, pruner {label}", total=sizes.asha_trials)
            study = tune(
                problems.sgd_epochs,
                space,
                name=f"sgd-{label}",
                direction="maximize",
                sampler="random",
                seed=0,
                pruner=pruner,
                trials=sizes.asha_trials,
                parallel=2,
                executor=pool,
                client=client,
                observer=ends_of(progress, task),
                report=False,
            )
        seconds = time.perf_counter() - started
        reports = client.store.studies.reports(study.id)
        points[label] = [t.params for t in study.trials]
        figures[f"{label}_epochs"] = sum(len(steps) for steps in reports.values())
        figures[f"{label}_best"] = study.best_value
        figures[f"{label}_s"] = seconds
        counts = ", ".join(f"{n} {state}" for state, n in sorted(study.counts().items()))
        say(
            label,
            f"{figures[f'{label}_epochs']:,} epochs, best accuracy {study.best_value:.4f}, "
            f"{counts}, {seconds:.1f} s",
        )
    client.store.close()
    if points["none"] != points["asha"]:
        raise RuntimeError("the random sampler tried different points in the two studies")
    return figures


# --------------------------------------------------------------------------- overhead


def overhead(trials: int, workdir: Path) -> dict[str, float]:
    def study(name: str, count: int, observer: Any = None) -> Any:
        return tune(
            problems.noop,
            problems.NOOP_SPACE,
            name=name,
            direction="minimize",
            sampler="random",
            seed=0,
            trials=count,
            parallel=2,
            executor="local",
            cpus=2,
            client=TrackingClient(home=str(workdir / name)),
            observer=observer,
        )

    study("warm-up", 20)
    last_end = [0.0]

    def observe(number: int, state: str, values: Any) -> None:
        if state != "running":
            last_end[0] = time.perf_counter()

    with err_console.status(f"{trials:,} no-op trials through tune()"):
        started = time.perf_counter()
        result = study("noop", trials, observe)
        wall = time.perf_counter() - started
    if result.counts() != {"complete": trials}:
        raise RuntimeError(f"the no-op study ended with {result.counts()}")
    figures = {
        "wall_s": wall,
        "sampler_s": result.sampler_s,
        "finish_s": wall - (last_end[0] - started),
    }
    say("mlpilot", f"{trials:,} no-op trials in {wall:.2f} s (sampler {result.sampler_s:.2f} s)")

    with err_console.status(f"{trials:,} no-op calls straight to LocalExecutor"):
        started = time.perf_counter()
        pool = LocalExecutor(cpus=2)
        try:
            running: set[Any] = set()
            for i in range(trials):
                if len(running) == 2:
                    _, running = wait(running, return_when=FIRST_COMPLETED)
                running.add(pool.submit(f"raw-{i}", problems.raw_noop))
            wait(running)
        finally:
            pool.shutdown()
        figures["raw_s"] = time.perf_counter() - started
    say("raw", f"{trials:,} no-op calls in {figures['raw_s']:.2f} s")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for kind, storage in (("memory", None), ("sqlite", f"sqlite:///{workdir / 'optuna.db'}")):
        with err_console.status(f"Optuna, {kind} storage: {trials:,} no-op trials"):
            started = time.perf_counter()
            baseline = optuna.create_study(
                storage=storage, sampler=optuna.samplers.RandomSampler(seed=0)
            )
            baseline.optimize(problems.optuna_noop, n_trials=trials)
            figures[f"optuna_{kind}_s"] = time.perf_counter() - started
        say("optuna", f"{kind}: {trials:,} trials in {figures[f'optuna_{kind}_s']:.2f} s")
    return figures


# --------------------------------------------------------------------------- report


def quality_report(
    counts: dict[str, dict[str, Count]], chance: dict[str, float], mc_points: int
) -> tuple[dict[str, Any], list[Row], dict[str, Ratio]]:
    """Figures and rows of the search-quality part, and the ratios over all problems."""
    figures: dict[str, Any] = {}
    rows: list[Row] = []
    ratios: dict[str, list[Ratio]] = {"tpe": [], "gp": []}
    for name, by_sampler in counts.items():
        random = by_sampler["random"]
        for sampler, count in by_sampler.items():
            figures[f"{name}_{sampler}_median_trials"] = count.median
            figures[f"{name}_{sampler}_median_is_lower_bound"] = count.censored
            figures[f"{name}_{sampler}_reached"] = count.reached
            figures[f"{name}_{sampler}_cap"] = count.cap
        for sampler in ("tpe", "gp"):
            ratio = Ratio.of(by_sampler[sampler], random)
            ratios[sampler].append(ratio)
            figures[f"{name}_{sampler}_vs_random_trials"] = round(ratio.value, 4)
            figures[f"{name}_{sampler}_vs_random_bound"] = ratio.bound
            rows.append(
                Row(
                    f"{name}: median trials to within 1%, {sampler} vs random",
                    by_sampler[sampler].text(),
                    random.text(),
                    ratio.text(),
                    f"≤ {TARGET_RATIO}",
                    ratio.met(TARGET_RATIO),
                )
            )
        if name in chance:
            p = chance[name]
            expected = math.log(0.5) / math.log1p(-p) if p > 0 else None
            figures[f"{name}_random_p_within_1pct"] = p
            figures[f"{name}_random_expected_median_trials"] = expected
            fewest = math.log(2) * mc_points  # no hit: p < 1 / points
            rows.append(
                Row(
                    f"{name}: tpe vs random's exact median (p = {p:.2g}, Monte Carlo)",
                    f"{by_sampler['tpe'].median:,.1f}",
                    f"{expected:,.0f}" if expected else f"> {fewest:,.0f}",
                    f"{by_sampler['tpe'].median / (expected or fewest):.4f}",
                    "—",
                    None,
                )
            )
    overall = {sampler: Ratio.median(found) for sampler, found in ratios.items()}
    for sampler, ratio in overall.items():
        figures[f"{sampler}_vs_random_trials"] = round(ratio.value, 4)
        figures[f"{sampler}_vs_random_bound"] = ratio.bound
        rows.append(
            Row(
                f"median over problems: {sampler} vs random",
                "—",
                "—",
                ratio.text(),
                f"≤ {TARGET_RATIO}",
                ratio.met(TARGET_RATIO),
            )
        )
    return figures, rows, overall


def asha_report(asha: dict[str, float], trials: int) -> tuple[dict[str, Any], list[Row]]:
    share = asha["asha_epochs"] / asha["none_epochs"]
    gap = (asha["none_best"] - asha["asha_best"]) / asha["none_best"]
    figures = {
        "asha_iteration_share": round(share, 4),
        "asha_score_gap": round(gap, 5),
        "asha_epochs": asha["asha_epochs"],
        "no_pruning_epochs": asha["none_epochs"],
        "asha_best_accuracy": asha["asha_best"],
        "no_pruning_best_accuracy": asha["none_best"],
        "asha_s": round(asha["asha_s"], 2),
        "no_pruning_s": round(asha["none_s"], 2),
    }
    rows = [
        Row(
            f"ASHA: epochs run over {trials} trials, vs no pruning",
            f"{asha['asha_epochs']:,}",
            f"{asha['none_epochs']:,}",
            f"{share:.3f}",
            "≤ 0.333",
            share <= 1 / 3,
        ),
        Row(
            "ASHA: best validation accuracy, vs no pruning",
            f"{asha['asha_best']:.4f}",
            f"{asha['none_best']:.4f}",
            f"gap {gap:.2%}",
            "gap ≤ 1%",
            gap <= 0.01,
        ),
    ]
    return figures, rows


def overhead_report(cost: dict[str, float], trials: int) -> tuple[dict[str, Any], list[Row]]:
    # Scheduling and recording: the call less the sampler's own time and less what comes
    # after the last trial (the study's report: plots and importances, once per study).
    per_trial = (cost["wall_s"] - cost["sampler_s"] - cost["finish_s"]) / trials * 1000
    with_report = (cost["wall_s"] - cost["sampler_s"]) / trials * 1000
    raw = cost["raw_s"] / trials * 1000
    sqlite, memory = (cost[f"optuna_{k}_s"] / trials * 1000 for k in ("sqlite", "memory"))
    figures = {
        "overhead_ms_per_trial": round(per_trial, 3),
        "with_report_ms_per_trial": round(with_report, 3),
        "tune_wall_ms_per_trial": round(cost["wall_s"] / trials * 1000, 3),
        "sampler_ms_per_trial": round(cost["sampler_s"] / trials * 1000, 3),
        "after_last_trial_s": round(cost["finish_s"], 3),
        "raw_executor_ms_per_trial": round(raw, 3),
        "optuna_sqlite_ms_per_trial": round(sqlite, 3),
        "optuna_memory_ms_per_trial": round(memory, 3),
        "vs_raw_executor": round(per_trial / raw, 2),
        "vs_optuna_sqlite": round(sqlite / per_trial, 2),
        "vs_optuna_memory": round(memory / per_trial, 4),
    }
    rows = [
        Row(
            f"{trials:,} no-op trials: ms per trial, vs raw executor calls",
            f"{per_trial:.2f}",
            f"{raw:.2f}",
            f"{per_trial / raw:.1f}×",
            "< 5 ms",
            per_trial < 5,
        ),
        Row(
            "  the same with the end-of-study report: ms per trial",
            f"{with_report:.2f}",
            f"{raw:.2f}",
            f"{with_report / raw:.1f}×",
            "—",
            None,
        ),
        Row(
            "  after the last trial (report, stop): s, vs whole call",
            f"{cost['finish_s']:.2f}",
            f"{cost['wall_s']:.2f}",
            f"{cost['finish_s'] / cost['wall_s']:.0%}",
            "—",
            None,
        ),
        Row(
            "ms per trial: mlpilot vs Optuna, SQLite storage",
            f"{per_trial:.2f}",
            f"{sqlite:.2f}",
            f"{figures['vs_optuna_sqlite']:.2f}× faster",
            "—",
            None,
        ),
        Row(
            "ms per trial: mlpilot vs Optuna, in memory",
            f"{per_trial:.2f}",
            f"{memory:.3f}",
            f"{figures['vs_optuna_memory']:.3f}×",
            "—",
            None,
        ),
    ]
    return figures, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="a small run that tries every part (< 1 minute)"
    )
    args = parser.parse_args(argv)
    sizes = CHECK if args.check else FULL
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="mlpilot-bench-tune-") as folder:
        workdir = Path(folder)
        os.environ["MLPILOT_HOME"] = str(workdir / "home")
        cost = overhead(sizes.overhead_trials, workdir)
        pool = LocalExecutor(cpus=2)
        try:
            counts, targets = quality(sizes, pool, workdir)
            asha = early_stopping(sizes, pool, workdir)
        finally:
            pool.shutdown()
    with err_console.status("Monte Carlo: how rare a point within 1% is"):
        chance = {
            name: problems.random_hit_probability(name, targets[name], sizes.mc_points)
            for name in ("branin", "hartmann6")
        }

    figures: dict[str, Any] = {"check": args.check, "seeds": sizes.seeds}
    found, rows, overall = quality_report(counts, chance, sizes.mc_points)
    figures.update(found, svr_best_r2=round(targets["svr"] / 0.99, 6))
    for part, part_rows in (
        asha_report(asha, sizes.asha_trials),
        overhead_report(cost, sizes.overhead_trials),
    ):
        figures.update(part)
        rows += part_rows
    figures["targets_met"] = all(
        [
            *(overall[s].met(TARGET_RATIO) is True for s in ("tpe", "gp")),
            figures["asha_iteration_share"] <= 1 / 3,
            figures["asha_score_gap"] <= 0.01,
            figures["overhead_ms_per_trial"] < 5,
        ]
    )
    figures["bench_s"] = round(time.perf_counter() - started, 1)
    print_table(
        "mlpilot tune: search quality, early stopping and overhead (local executor, 2 cores)"
        + (" — check run" if args.check else ""),
        rows,
        other_name="baseline",
        caption=(
            "trials to target: a run that never gets within 1% counts as cap + 1; "
            "≥ marks a median resting on one, ≤ / ≥ a ratio bounded by it"
        ),
    )
    print_json_line(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
