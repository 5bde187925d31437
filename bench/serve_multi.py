"""Multi-model serving: the capacity planner against static allocations, on shared cores.

Four models of very different cost share one ``mlpilot serve``, each with its own
latency target (p95), under load that changes over time:

=========  =====================================  ==========  =============================
model      what it is                             p95 target  load (requests per second)
=========  =====================================  ==========  =============================
fast       scaled logistic regression             20 ms       steady 120
forest     random forest, 100 trees               150 ms      10, a burst of 60 in the middle
boost      gradient boosting, 300 stages          60 ms       a ramp from 5 to 100
mlp        two-layer perceptron (256, 256)        60 ms       40 for the first sixth, then none
=========  =====================================  ==========  =============================

Each allocation serves the same schedule (the same Poisson arrivals, seed 0) on a fresh
server, as ROMA and its peers compare allocators:

* **planner**: the server's capacity planner (``mlpilot.serve.plan``), with a budget of
  ``--budget`` workers (8), one worker per model to start, moving workers every second to
  the model furthest over its target, and unloading the idle model (``min_workers = 0``,
  ``idle_unload_s = 5``);
* **static**: the same budget split equally and fixed (``budget / 4`` workers each);
* **one each**: one fixed worker per model.

The load comes from ``bench/_openloop.py``, a process of its own: open-loop arrivals,
each request's latency counted from when it was due, so a server that falls behind pays
for its queue. Measured per allocation: the share of requests over their model's target
(an error or an unanswered request counts as over), and the worker-seconds it held (the
workers ``GET /models`` reports, sampled every half second). Keys:
``violations_planner``, ``violations_static``, ``violations_one_each``,
``violation_reduction`` (1 - planner's share over static's), ``core_seconds_planner``,
``core_seconds_static``, ``core_seconds_ratio`` (planner's over static's).

Usage::

    python bench/serve_multi.py [--quick] [--duration S] [--budget N] [--load X]

``--load`` multiplies every rate: on a small machine the schedule above leaves cores
idle and every allocation meets its targets, so the allocators differ only in what they
hold; at ``--load 3`` or so the cores run short and where the workers are matters.

The table goes to stdout, followed by one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from rich.table import Table

from _common import out_console, print_json_line, progress_bar, say
from serve import free_port, running_server

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Model:
    name: str
    target_ms: float
    build: Callable[[], Any]
    #: (fraction of the run, requests per second) points of the load's schedule.
    rates: tuple[tuple[float, float], ...]


def _models() -> list[Model]:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return [
        Model(
            "fast",
            20,
            lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
            ((0, 120), (1, 120)),
        ),
        Model(
            "forest",
            150,
            lambda: RandomForestClassifier(n_estimators=100, random_state=0),
            ((0, 10), (0.4, 10), (0.4, 60), (0.6, 60), (0.6, 10), (1, 10)),
        ),
        Model(
            "boost",
            60,
            lambda: GradientBoostingClassifier(n_estimators=300, random_state=0),
            ((0, 5), (1, 100)),
        ),
        Model(
            "mlp",
            60,
            lambda: make_pipeline(
                StandardScaler(),
                MLPClassifier(hidden_layer_sizes=(256, 256), max_iter=300, random_state=0),
            ),
            ((0, 40), (1 / 6, 40), (1 / 6, 0), (1, 0)),
        ),
    ]


def prepare(home: Path, models: list[Model]) -> tuple[dict[str, str], dict[str, Any]]:
    """Fit and register every model as NAME@champion in a store under ``home``; return
    the environment pointing a server at it, and one request body."""
    from sklearn.datasets import load_breast_cancer

    from mlpilot.registry import ModelRegistry, Signature
    from mlpilot.tracking import TrackingClient

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    store_uri = f"sqlite:///{home / 'mlpilot.db'}"
    artifacts_uri = (home / "artifacts").as_uri()
    client = TrackingClient(home=home, store_uri=store_uri, artifacts_uri=artifacts_uri)
    registry = ModelRegistry(client)
    for model in models:
        fitted = model.build().fit(X, y)
        with client.create_run("bench-serve-multi", name=model.name) as run:
            run.log_model(fitted)
        registry.create_model(model.name)
        signature = Signature.infer(X, fitted.predict(X))
        version = registry.register(model.name, run.id, signature=signature)
        registry.set_alias(model.name, "champion", version.version)
        say("mlpilot", f"registered {model.name} version {version.version}")
    env = {
        "MLPILOT_HOME": str(home),
        "MLPILOT_STORE_URI": store_uri,
        "MLPILOT_ARTIFACTS_URI": artifacts_uri,
    }
    body = {"records": [{str(k): float(v) for k, v in X.iloc[7].items()}]}
    return env, body


def allocations(models: list[Model], budget: int) -> dict[str, dict[str, Any]]:
    """The serving configuration of each allocation (without its port)."""
    share = max(1, budget // len(models))

    def fixed(workers: int) -> list[dict[str, Any]]:
        return [
            {
                "uri": f"{m.name}@champion",
                "latency_target_ms": m.target_ms,
                "min_workers": workers,
                "max_workers": workers,
            }
            for m in models
        ]

    planner = [
        {
            "uri": f"{m.name}@champion",
            "latency_target_ms": m.target_ms,
            "min_workers": 0 if m.name == "mlp" else 1,
            **({"idle_unload_s": 5} if m.name == "mlp" else {}),
        }
        for m in models
    ]
    server = {"log_sample": 0.0, "rebalance_s": 1.0}
    return {
        "planner": {"server": {**server, "workers": budget}, "models": planner},
        "static": {"server": {**server, "workers": share * len(models)}, "models": fixed(share)},
        "one each": {"server": {**server, "workers": len(models)}, "models": fixed(1)},
    }


class WorkerSampler:
    """Samples the workers each model holds (``GET /models``) every half second."""

    def __init__(self, url: str) -> None:
        self._url = url + "/models"
        self._stop = threading.Event()
        self.samples: list[tuple[float, int]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WorkerSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self._url, timeout=2) as response:
                    models = json.loads(response.read())
                workers = sum(slot["workers"] for m in models for slot in m["slots"])
                self.samples.append((time.monotonic(), workers))
            except OSError:
                pass
            self._stop.wait(0.5)

    def worker_seconds(self) -> float:
        pairs = zip(self.samples, self.samples[1:], strict=False)
        return sum((t1 - t0) * w0 for (t0, w0), (t1, _) in pairs)


def run_allocation(
    label: str,
    config: dict[str, Any],
    models: list[Model],
    env: Mapping[str, str],
    body: dict[str, Any],
    duration: float,
    workdir: Path,
    load: float = 1.0,
) -> dict[str, Any]:
    port = free_port()
    document = {**config, "server": {**config["server"], "host": "127.0.0.1", "port": port}}
    config_file = workdir / f"{label.replace(' ', '-')}.toml"
    config_file.write_text(tomli_w.dumps(document))
    url = f"http://127.0.0.1:{port}"
    plan = {
        "url": url,
        "duration_s": duration,
        "seed": 0,
        "models": {
            m.name: {
                "path": f"/models/{m.name}/predict",
                "body": body,
                "rates": [[f * duration, rate * load] for f, rate in m.rates],
            }
            for m in models
        },
    }
    plan_file = workdir / "plan.json"
    plan_file.write_text(json.dumps(plan))
    command = [str(Path(sys.executable).parent / "mlpilot"), "serve", "--config", str(config_file)]
    with running_server(
        label,
        command,
        env={**os.environ, **env},
        cwd=workdir,
        ready_url=f"{url}/v2/health/ready",
        log_path=workdir / f"{label.replace(' ', '-')}.log",
        timeout_s=600,
        cpus=None,
    ):
        with WorkerSampler(url) as sampler:
            done = subprocess.run(
                [sys.executable, str(HERE / "_openloop.py"), str(plan_file)],
                capture_output=True,
                text=True,
                check=True,
                cwd=HERE,
            )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    per_model = {}
    over = total = 0
    for m in models:
        answered = result[m.name]["answered"]
        errors = sum(result[m.name]["errors"].values())
        late = sum(1 for _, latency in answered if latency * 1000 > m.target_ms)
        per_model[m.name] = {
            "requests": result[m.name]["scheduled"],
            "over_target": late + errors,
            "errors": result[m.name]["errors"],
            "p95_ms": _percentile([lat * 1000 for _, lat in answered], 95),
        }
        over += late + errors
        total += result[m.name]["scheduled"]
    return {
        "violations": over / total if total else 0.0,
        "requests": total,
        "worker_seconds": sampler.worker_seconds(),
        "models": per_model,
    }


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 s per allocation")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per allocation")
    parser.add_argument("--budget", type=int, default=8, help="the planner's worker budget")
    parser.add_argument("--load", type=float, default=1.0, help="multiplies every rate")
    args = parser.parse_args(argv)
    duration = 20.0 if args.quick else args.duration
    models = _models()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="mlpilot-serve-multi-") as tmp:
        workdir = Path(tmp)
        env, body = prepare(workdir / "home", models)
        configs = allocations(models, args.budget)
        with progress_bar() as progress:
            task = progress.add_task("allocations", total=len(configs))
            for label, config in configs.items():
                progress.update(task, description=f"{label}: {duration:.0f} s of load")
                results[label] = run_allocation(
                    label, config, models, env, body, duration, workdir, args.load
                )
                progress.advance(task)

    table = Table(
        title=f"Four models, {duration:.0f} s of time-varying load each (rates ×{args.load:g})"
    )
    table.add_column("allocation", style="bold")
    table.add_column("requests over target", justify="right")
    table.add_column("worker-seconds", justify="right")
    for model in models:
        table.add_column(f"{model.name} p95 ms (target {model.target_ms:.0f})", justify="right")
    for label, result in results.items():
        p95s = [result["models"][m.name]["p95_ms"] for m in models]
        table.add_row(
            label,
            f"{result['violations']:.1%}",
            f"{result['worker_seconds']:.0f}",
            *("—" if p is None else f"{p:.0f}" for p in p95s),
        )
    out_console.print(table)
    planner, static = results["planner"], results["static"]
    figures = {
        "violations_planner": round(planner["violations"], 4),
        "violations_static": round(static["violations"], 4),
        "violations_one_each": round(results["one each"]["violations"], 4),
        "violation_reduction": (
            round(1 - planner["violations"] / static["violations"], 3)
            if static["violations"]
            else None
        ),
        "core_seconds_planner": round(planner["worker_seconds"], 1),
        "core_seconds_static": round(static["worker_seconds"], 1),
        "core_seconds_one_each": round(results["one each"]["worker_seconds"], 1),
        "core_seconds_ratio": round(planner["worker_seconds"] / static["worker_seconds"], 3),
        "duration_s": duration,
        "budget": args.budget,
        "load": args.load,
        "requests": planner["requests"],
        "per_model": {label: r["models"] for label, r in results.items()},
    }
    print_json_line(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
