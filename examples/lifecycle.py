"""From raw data to a registered champion, on scikit-learn's bundled breast-cancer data.

One pipeline, scheduled on this machine's cores:

1. ``register_data`` stores the data as a dataset version (the same data again is the
   same version) and validates it against the schema of the first version.
2. ``tune_family`` runs once per model family, in parallel: a hyperparameter study
   (TPE, cross-validated on the training split), whose trials run as tasks on the
   cores the scheduler gave the step; the best setting is refitted and logged.
3. ``evaluate_candidates`` scores every family's model on the same test rows, with
   bootstrap confidence intervals and the composite score the model declares
   (0.3·accuracy + 0.3·precision + 0.4·recall).
4. ``register_and_promote`` registers the best as a version, with its data, evaluation,
   signature and environment, and promotes it through the gate: it replaces the
   champion only if it beats it significantly on the same rows.

    python examples/lifecycle.py                 # store in ./.mlpilot
    python examples/lifecycle.py --trials 30     # a longer search

Run it twice: the second run takes every step but the last from the cache, and the
champion stays unless a challenger wins significantly.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlpilot
from mlpilot import current_task, pipeline, step
from mlpilot.evaluate import GatePolicy, Scoring, compare_many
from mlpilot.registry import CHAMPION, ModelRegistry, Signature, promote
from mlpilot.tune import Categorical, Float, Int, Space, tune

DATASET = "breast-cancer"
TARGET = "target"
MODEL = "breast-cancer-classifier"
EXPERIMENT = "lifecycle"
FAMILIES = ("logreg", "forest", "boosting")
#: Declared once for the model: how every version is scored, and the gate it must pass.
SCORING = Scoring("classification", {"accuracy": 0.3, "precision": 0.3, "recall": 0.4})
GATE = GatePolicy(min_composite=0.90, min_improvement=0.0, alpha=0.05, guards={"recall": 0.02})
SEED = 0

SPACES = {
    "logreg": Space(C=Float(1e-3, 1e2, log=True)),
    "forest": Space(
        n_estimators=Int(50, 300, step=50),
        max_depth=Int(2, 16),
        max_features=Categorical(["sqrt", "log2"]),
    ),
    "boosting": Space(
        learning_rate=Float(0.01, 0.3, log=True),
        max_leaf_nodes=Int(8, 64, log=True),
        l2_regularization=Float(1e-6, 1.0, log=True),
    ),
}


def make_model(family: str, params: dict[str, Any]) -> Any:
    if family == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, **params))
    if family == "forest":
        return RandomForestClassifier(random_state=SEED, **params)
    if family == "boosting":
        return HistGradientBoostingClassifier(random_state=SEED, **params)
    raise ValueError(f"unknown model family {family!r}; choose from {FAMILIES}")


def training_split(dataset: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The train and test rows of the dataset version: the same for every step."""
    return mlpilot.read_dataset(dataset).split(test_size=0.25, seed=SEED, stratify=TARGET)


def cv_objective(trial: Any, dataset: str, family: str) -> float:
    """One trial: the family with the trial's parameters, cross-validated on train rows."""
    train, _ = training_split(dataset)
    model = make_model(family, dict(trial.params))
    scores = cross_val_score(model, train.drop(columns=[TARGET]), train[TARGET], cv=5)
    return float(scores.mean())


@step
def register_data() -> str:
    """Store the bundled data as a dataset version, checked against the first one."""
    frame = load_breast_cancer(as_frame=True).frame
    client = mlpilot.TrackingClient()
    version = client.datasets.register(DATASET, frame)
    first = client.datasets.versions(DATASET)[0]
    client.datasets.validate(version, first.infer_schema()).raise_for_failures()
    return version.ref


@step(cpus=(1, 2))
def tune_family(family: str, dataset: str, trials: int) -> dict[str, Any]:
    """Search the family's space on the cores this task was given, then log the best."""
    context = current_task()
    cores = context.cpus if context else 1
    study = tune(
        cv_objective,
        SPACES[family],
        kwargs={"dataset": dataset, "family": family},
        name=f"{MODEL}-{family}",
        sampler="tpe",
        seed=SEED,
        trials=trials,
        cpus=cores,
        experiment=EXPERIMENT,
    )
    train, _ = training_split(dataset)
    model = make_model(family, study.best_params).fit(train.drop(columns=[TARGET]), train[TARGET])
    with mlpilot.start_run(
        f"{family}-best", experiment=EXPERIMENT, params={"family": family, **study.best_params}
    ) as run:
        run.read_dataset(dataset)  # records the lineage: this model used that version
        run.log_metric("cv_accuracy", study.best_value)
        run.set_tag("mlpilot.study", study.id)
        run.log_model(model)
    return {"family": family, "run_id": run.id, "study": study.id, "cv": study.best_value}


@step
def evaluate_candidates(dataset: str, candidates: list[dict[str, Any]]) -> dict[str, Any]:
    """Score every family on the same test rows and resamples; the best composite wins."""
    client = mlpilot.TrackingClient()
    _, test = training_split(dataset)
    features, target = test.drop(columns=[TARGET]), test[TARGET]
    models = [client.load_model(c["run_id"]) for c in candidates]
    evaluations = compare_many(
        models,
        features,
        target,
        scoring=SCORING,
        seed=SEED,
        data=f"{dataset} (test split, seed {SEED})",
    )
    scored = [
        {**c, "evaluation": e.to_dict()} for c, e in zip(candidates, evaluations, strict=True)
    ]
    best = max(scored, key=lambda c: c["evaluation"]["composite"]["value"])
    return {"best": best, "all": scored}


@step(cache=False)
def register_and_promote(dataset: str, scored: dict[str, Any]) -> dict[str, Any]:
    """Register the best candidate (once) and promote it through the gate."""
    from mlpilot.evaluate import Evaluation

    registry = ModelRegistry()
    registry.create_model(MODEL, scoring=SCORING, gate=GATE)
    best = scored["best"]
    known = [v for v in registry.versions(MODEL) if v.run_id == best["run_id"]]
    _, test = training_split(dataset)
    features, target = test.drop(columns=[TARGET]), test[TARGET]
    if known:
        version = known[0]
    else:
        model = registry.client.load_model(best["run_id"])
        version = registry.register(
            MODEL,
            best["run_id"],
            dataset=dataset,
            evaluation=Evaluation.from_dict(best["evaluation"]),
            signature=Signature.infer(features, model.predict(features.head())),
            seeds={"split": SEED, "sampler": SEED},
        )
    champion = registry.get_model(MODEL).aliases.get(CHAMPION)
    if champion == version.version:
        return {
            "version": version.version,
            "promoted": False,
            "kept": champion,
            "reason": f"version {champion} is the champion already",
        }
    result = promote(
        MODEL,
        version.version,
        features,
        target,
        seed=SEED,
        data=f"{dataset} (test split, seed {SEED})",
        client=registry.client,
    )
    return {
        "version": version.version,
        "promoted": result.promoted,
        "kept": None if result.promoted else champion,
        "reason": result.decision.summary(),
    }


@pipeline
def lifecycle(families: Sequence[str] = FAMILIES, trials: int = 12) -> Any:
    dataset = register_data()
    candidates = tune_family.map(families, dataset, trials)
    scored = evaluate_candidates(dataset, candidates)
    return register_and_promote(dataset, scored)


@step(cache=False)
def newest_data() -> str:
    """The newest version of the dataset: what a retrain learns from."""
    return mlpilot.TrackingClient().datasets.versions(DATASET)[-1].ref


@pipeline
def retrain(families: Sequence[str] = ("logreg",), trials: int = 8) -> Any:
    """Retrain on the newest data version and promote through the gate: what a monitor's
    alert starts when the data drifts (see ``examples/closed_loop.py``)."""
    dataset = newest_data()
    candidates = tune_family.map(families, dataset, trials)
    scored = evaluate_candidates(dataset, candidates)
    return register_and_promote(dataset, scored)


def report(run: Any, console: Console) -> None:
    outcome = run.value()
    registry = ModelRegistry()
    champion = registry.resolve(f"{MODEL}@{CHAMPION}")
    evaluation = champion.evaluation
    verdict = "promoted" if outcome["promoted"] else "kept the champion"
    console.print(
        f"\n[bold]{MODEL}[/bold]: candidate version {outcome['version']} — {verdict}. "
        f"{outcome['reason']}"
    )
    table = Table(
        title=f"champion: version {champion.version} ({champion.environment['model_class']})"
    )
    for column in ("metric", "value", "95% interval"):
        table.add_column(column)
    if evaluation is not None:
        table.add_row(
            "[bold]composite[/bold]",
            f"{evaluation.composite.value:.4f}",
            f"{evaluation.composite.low:.4f} – {evaluation.composite.high:.4f}",
        )
        for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
            m = evaluation.metrics[name]
            table.add_row(name, f"{m.value:.4f}", f"{m.low:.4f} – {m.high:.4f}")
    console.print(table)
    console.print(
        "\nWhere to look next:\n"
        f"  mlpilot pipelines show {run.id[:8]}          the run's steps, cores and times\n"
        f"  mlpilot tune list                        the studies, one per family\n"
        f"  mlpilot models versions {MODEL}\n"
        f"  mlpilot models card {MODEL}@{CHAMPION}\n"
        f"  mlpilot datasets lineage {DATASET}       what used the data"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12, help="trials per model family")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    args = parser.parse_args()
    console = Console()
    console.print(
        f"Lifecycle of {MODEL}: families {', '.join(args.families)}, {args.trials} trials each"
    )
    with Progress(
        SpinnerColumn(finished_text="✓"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bars: dict[str, Any] = {}

        def observe(task: str, status: str) -> None:
            if task not in bars:
                bars[task] = progress.add_task(escape(task), total=1)
            ended = status in ("done", "cached", "failed", "skipped", "cancelled")
            progress.update(
                bars[task], description=escape(f"{task}: {status}"), completed=int(ended)
            )

        run = lifecycle.run(
            {"families": args.families, "trials": args.trials},
            experiment=EXPERIMENT,
            observer=observe,
        )
    if run.status != "finished":
        raise SystemExit(f"the pipeline run {run.id} {run.status}; see mlpilot pipelines show")
    report(run, console)


if __name__ == "__main__":
    main()
