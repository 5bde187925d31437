"""A training pipeline: one task per model family, in parallel, then the best one.

Run it with the command line, which shows each step's progress as it goes::

    mlpilot pipelines run examples/model_families.py:model_families
    mlpilot pipelines run examples/model_families.py:model_families \\
        --param families='["logreg", "forest"]' --policy deadline --deadline 10m
    mlpilot pipelines show <RUN_ID>

or from Python: ``python examples/model_families.py``. Run it twice: the second run
finds every task's output in the cache and trains nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlpilot import current_task, pipeline, step

FAMILIES = ("logreg", "forest", "boosting")


def make_model(family: str, cores: int) -> Any:
    if family == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if family == "forest":
        return RandomForestClassifier(n_estimators=200, n_jobs=cores, random_state=0)
    if family == "boosting":
        return HistGradientBoostingClassifier(random_state=0)
    raise ValueError(f"unknown model family {family!r}; choose from {FAMILIES}")


@step
def load_data() -> tuple[Any, Any]:
    features, target = load_breast_cancer(return_X_y=True)
    return features, target


@step(cpus=(1, 2), retries=1)
def train(family: str, data: tuple[Any, Any]) -> dict[str, Any]:
    """Cross-validate one family on the cores the scheduler gave this task, then fit it."""
    context = current_task()
    cores = context.cpus if context else 1
    features, target = data
    model = make_model(family, cores)
    scores = cross_val_score(model, features, target, cv=5, scoring="roc_auc")
    return {"family": family, "auc": float(scores.mean()), "model": model.fit(features, target)}


@step
def pick_best(results: list[dict[str, Any]]) -> dict[str, Any]:
    best = max(results, key=lambda r: r["auc"])
    return {
        "best": best["family"],
        "auc": {r["family"]: round(r["auc"], 4) for r in results},
        "model": best["model"],
    }


@pipeline
def model_families(families: Sequence[str] = FAMILIES) -> Any:
    data = load_data()
    return pick_best(train.map(families, data))


if __name__ == "__main__":
    run = model_families.run()
    summary = run.value()
    print(f"run {run.id} {run.status}: best {summary['best']}, AUC by family {summary['auc']}")
