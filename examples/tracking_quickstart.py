"""Train a classifier on scikit-learn's bundled breast-cancer data and track it with mlpilot.

The data is registered as a dataset version (the same data again is the same version)
and checked against the schema of its first version before anything trains. A parent
run holds a small sweep over the regularisation strength; it reads the version, which
records it in the lineage, and each setting is a child run that logs its loss and
validation accuracy every epoch. The best model is stored in the skops format, loaded
back from the store, and checked.

    python examples/tracking_quickstart.py            # store in ./.mlpilot
    mlpilot runs list --experiment breast-cancer      # look at what it recorded
    mlpilot datasets lineage breast-cancer            # which runs and models used the data
"""

from __future__ import annotations

import argparse

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, log_loss
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import mlpilot

EXPERIMENT = "breast-cancer"


def train(alpha: float, epochs: int, data: tuple[np.ndarray, ...], progress: Progress) -> Pipeline:
    """Fit one model epoch by epoch inside the active run, logging as it goes."""
    x_train, x_val, y_train, y_val = data
    model = make_pipeline(
        StandardScaler(), SGDClassifier(loss="log_loss", alpha=alpha, random_state=0)
    )
    scaler, classifier = model[0], model[1]
    scaled_train = scaler.fit_transform(x_train)
    task = progress.add_task(f"alpha={alpha:g}", total=epochs)
    for _ in range(epochs):
        classifier.partial_fit(scaled_train, y_train, classes=np.unique(y_train))
        scaled_val = scaler.transform(x_val)
        mlpilot.log_metrics(
            {
                "train_loss": log_loss(y_train, classifier.predict_proba(scaled_train)),
                "val_loss": log_loss(y_val, classifier.predict_proba(scaled_val)),
                "val_accuracy": accuracy_score(y_val, classifier.predict(scaled_val)),
            }
        )
        progress.advance(task)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--alphas", type=float, nargs="+", default=[1e-4, 1e-3, 1e-2, 1e-1])
    args = parser.parse_args()

    frame = load_breast_cancer(as_frame=True).frame
    version = mlpilot.register_dataset(EXPERIMENT, frame, description="scikit-learn's copy")
    # The first version's schema is the contract: later data must keep its columns, types
    # and label values, or the sweep stops here with a report of what broke.
    contract = mlpilot.get_dataset(f"{EXPERIMENT}@v1").infer_schema()
    mlpilot.validate_dataset(version, contract).raise_for_failures()
    console = Console()
    models: dict[str, Pipeline] = {}

    with mlpilot.start_run(
        "sgd-sweep", experiment=EXPERIMENT, tags={"dataset": version.ref}
    ) as sweep:
        train_part, val_part = mlpilot.read_dataset(version).split(
            test_size=0.25, seed=0, stratify="target"
        )
        data = (
            train_part.drop(columns="target").to_numpy(),
            val_part.drop(columns="target").to_numpy(),
            train_part["target"].to_numpy(),
            val_part["target"].to_numpy(),
        )
        with Progress(console=console) as progress:
            for alpha in args.alphas:
                with mlpilot.start_run(
                    f"alpha-{alpha:g}", params={"alpha": alpha, "epochs": args.epochs}
                ) as run:
                    models[run.id] = train(alpha, args.epochs, data, progress)

        trials = mlpilot.search_runs(
            experiment=EXPERIMENT,
            filter=f"parent_id = '{sweep.id}'",
            order_by=["metrics.val_accuracy DESC", "metrics.val_loss"],
        )
        best = trials.iloc[0]
        sweep.log_params({"best_alpha": best["params.alpha"]})
        sweep.log_metric("best_val_accuracy", best["metrics.val_accuracy"])
        sweep.log_model(models[best["run_id"]])

    restored = sweep.client.load_model(sweep.id)
    x_val = data[1]
    assert (restored.predict(x_val) == models[best["run_id"]].predict(x_val)).all()

    table = Table(title=f"{EXPERIMENT}: runs of sweep {sweep.id[:8]}")
    for column in ("run", "alpha", "val_accuracy", "val_loss", "status"):
        table.add_column(column)
    for _, row in trials.iterrows():
        marker = " ★" if row["run_id"] == best["run_id"] else ""
        table.add_row(
            row["name"] + marker,
            row["params.alpha"],
            f"{row['metrics.val_accuracy']:.4f}",
            f"{row['metrics.val_loss']:.4f}",
            row["status"],
        )
    console.print(table)
    console.print(
        f"Best model stored with run {sweep.id} and verified after reloading.\n"
        f"Data: {version.ref} ({version.num_rows} rows, digest {version.digest[:12]})\n"
        f"Store: {sweep.client.store.metadata.safe_uri}\n"
        f"Next: mlpilot runs show {sweep.id[:8]}   ·   mlpilot runs compare "
        + " ".join(trials["run_id"].str[:8])
    )


if __name__ == "__main__":
    main()
