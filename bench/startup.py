"""Start-up: what a command or a small study costs before it does any work.

Workloads, each in a fresh process as a user starts it:

* ``python -c pass``: the interpreter alone, the floor under every command.
* ``--help``: ``mlpilot --help`` against ``mlflow --help``.
* ``runs list``: ``mlpilot runs list`` on a store of 20 runs against ``mlflow runs list``
  on an MLflow SQLite store of 20 runs.
* ``study``: a script that runs 20 trials of a trivial objective (a quadratic in one
  float, TPE, seed 0) and prints the best value; mlpilot's ``run_study`` (each trial a
  tracked run in a worker process; as a user calls it, which for a study this short
  draws no report, and with ``report=True``) against Optuna with SQLite storage
  (``optuna.create_study(storage="sqlite:///...")``).

Each is the median wall time of ``--repeat`` runs (5), imports included. MLflow runs from
its own virtual environment, ``bench/.venv-mlflow`` (shared with ``bench/tracking.py``),
created on first use; ``--skip-mlflow`` leaves it out.

Usage::

    python bench/startup.py [--repeat N] [--skip-mlflow]

The table goes to stdout, followed by one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

from _common import (
    BENCH_DIR,
    Row,
    ensure_venv,
    fmt_ratio,
    fmt_seconds,
    print_json_line,
    print_table,
    progress_bar,
)

MLFLOW_VENV = BENCH_DIR / ".venv-mlflow"
RUNS = 20
TRIALS = 20

_MLPILOT_STUDY = """
import mlpilot
from mlpilot.tune import Float

def objective(trial):
    return (trial["x"] - 2) ** 2

if __name__ == "__main__":
    study = mlpilot.run_study(
        objective, {{"x": Float(-10, 10)}}, direction="minimize",
        trials={trials}, seed=0,{report}
    )
    print(study.best_value)
"""

_OPTUNA_STUDY = """
import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)

def objective(trial):
    return (trial.suggest_float("x", -10, 10) - 2) ** 2

study = optuna.create_study(
    storage="sqlite:///{db}", sampler=optuna.samplers.TPESampler(seed=0), direction="minimize"
)
study.optimize(objective, n_trials={trials})
print(study.best_value)
"""

_MLFLOW_RUNS = """
import mlflow

mlflow.set_tracking_uri("sqlite:///{db}")
for i in range({runs}):
    with mlflow.start_run():
        mlflow.log_param("i", i)
        mlflow.log_metric("loss", 1 / (i + 1))
"""


def median_wall(command: Sequence[str], repeat: int, env: dict[str, str], cwd: Path) -> float:
    """Median wall seconds of ``command`` run ``repeat`` times; each must succeed."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def mlpilot_env(home: Path) -> dict[str, str]:
    return {**os.environ, "MLPILOT_HOME": str(home), "NO_COLOR": "1"}


def fill_mlpilot_store(home: Path) -> None:
    script = f"""
import mlpilot
for i in range({RUNS}):
    with mlpilot.start_run(experiment="startup", params={{"i": i}}) as run:
        run.log_metric("loss", 1 / (i + 1))
"""
    subprocess.run([sys.executable, "-c", script], env=mlpilot_env(home), check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command")
    parser.add_argument("--skip-mlflow", action="store_true", help="leave MLflow out")
    args = parser.parse_args(argv)
    mlpilot = str(Path(sys.executable).parent / "mlpilot")
    mlflow_python = None if args.skip_mlflow else ensure_venv(MLFLOW_VENV, ["mlflow"], "mlflow")
    figures: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="mlpilot-startup-") as tmp:
        work = Path(tmp)
        home = work / "home"
        env = mlpilot_env(home)
        fill_mlpilot_store(home)
        (work / "mlpilot_study.py").write_text(
            textwrap.dedent(_MLPILOT_STUDY.format(trials=TRIALS, report=""))
        )
        (work / "mlpilot_study_report.py").write_text(
            textwrap.dedent(_MLPILOT_STUDY.format(trials=TRIALS, report=" report=True,"))
        )
        jobs: dict[str, tuple[list[str], dict[str, str]]] = {
            "floor": ([sys.executable, "-c", "pass"], env),
            "mlpilot_help": ([mlpilot, "--help"], env),
            "mlpilot_runs_list": ([mlpilot, "runs", "list", "--experiment", "startup"], env),
            "mlpilot_study": ([sys.executable, "mlpilot_study.py"], env),
            "mlpilot_study_report": ([sys.executable, "mlpilot_study_report.py"], env),
        }
        # Optuna is one of mlpilot's own dependencies: it runs from this interpreter.
        optuna_db = work / "optuna.db"
        (work / "optuna_study.py").write_text(_OPTUNA_STUDY.format(db=optuna_db, trials=TRIALS))
        jobs["optuna_study"] = ([sys.executable, "optuna_study.py"], env)
        if mlflow_python is not None:
            mlflow_db = work / "mlflow.db"
            mlflow_env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{mlflow_db}"}
            subprocess.run(
                [str(mlflow_python), "-c", _MLFLOW_RUNS.format(db=mlflow_db, runs=RUNS)],
                env=mlflow_env,
                cwd=work,
                check=True,
                capture_output=True,
            )
            mlflow = str(mlflow_python.parent / "mlflow")
            jobs["mlflow_help"] = ([mlflow, "--help"], mlflow_env)
            jobs["mlflow_runs_list"] = (
                [mlflow, "runs", "list", "--experiment-id", "0"],
                mlflow_env,
            )
        with progress_bar() as progress:
            task = progress.add_task("commands", total=len(jobs))
            for key, (command, job_env) in jobs.items():
                progress.update(task, description=key)
                if key == "optuna_study":
                    # Each repeat starts from an empty database, as the study's does.
                    optuna_db.unlink(missing_ok=True)
                figures[key] = median_wall(command, args.repeat, job_env, work)
                progress.advance(task)

    def ratio(a: str, b: str) -> float | None:
        x, y = figures.get(a), figures.get(b)
        return None if x is None or not y else round(x / y, 2)

    figures["help_vs_mlflow"] = ratio("mlpilot_help", "mlflow_help")
    figures["runs_list_vs_mlflow"] = ratio("mlpilot_runs_list", "mlflow_runs_list")
    figures["study_vs_optuna"] = ratio("mlpilot_study", "optuna_study")
    figures["study_report_vs_optuna"] = ratio("mlpilot_study_report", "optuna_study")
    s = fmt_seconds
    rows = [
        Row("python -c pass", s(figures["floor"]), s(figures["floor"]), "—", "the floor", None),
        Row(
            "--help",
            s(figures["mlpilot_help"]),
            s(figures.get("mlflow_help")),
            fmt_ratio(figures["help_vs_mlflow"]),
            "< 0.5 s",
            figures["mlpilot_help"] < 0.5,  # type: ignore[operator]
        ),
        Row(
            f"runs list ({RUNS} runs)",
            s(figures["mlpilot_runs_list"]),
            s(figures.get("mlflow_runs_list")),
            fmt_ratio(figures["runs_list_vs_mlflow"]),
            "< 1 s",
            figures["mlpilot_runs_list"] < 1,  # type: ignore[operator]
        ),
        Row(
            f"study, {TRIALS} trials",
            s(figures["mlpilot_study"]),
            s(figures["optuna_study"]),
            fmt_ratio(figures["study_vs_optuna"]),
            "≤ 2× Optuna",
            figures["study_vs_optuna"] is not None and figures["study_vs_optuna"] <= 2,
        ),
        Row(
            f"study, {TRIALS} trials, report=True",
            s(figures["mlpilot_study_report"]),
            s(figures["optuna_study"]),
            fmt_ratio(figures["study_report_vs_optuna"]),
            "(plots, fANOVA, page)",
            None,
        ),
    ]
    print_table(
        f"Start-up, median of {args.repeat} fresh processes",
        rows,
        other_name="MLflow / Optuna",
    )
    print_json_line({k: None if v is None else round(v, 3) for k, v in figures.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
