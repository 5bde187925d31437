"""An evaluation's report, stored with its run: the numbers and the plots that show them.

``evaluation/evaluation.json`` (metrics with intervals), ``evaluation/report.html``,
and for classifiers ``confusion.png``, ``roc.png`` and ``calibration.png`` (for
regressors ``predicted.png``).
"""

from __future__ import annotations

import base64
import html
import io
import json
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from mlpilot.evaluate._evaluation import Evaluation, Predictions
from mlpilot.tracking import TrackingClient


def write_evaluation_report(
    client: TrackingClient,
    run_id: str,
    evaluation: Evaluation,
    predictions: Predictions,
    target: Any,
    prefix: str = "evaluation",
) -> dict[str, bytes]:
    """Draw the evaluation's plots and page and store them in run ``run_id``."""
    y = np.asarray(target)
    plots = (
        _classification_plots(predictions, y)
        if evaluation.scoring.task == "classification"
        else _regression_plots(predictions, y)
    )
    files = {f"{prefix}/{name}.png": png for name, png in plots.items()}
    files[f"{prefix}/evaluation.json"] = json.dumps(evaluation.to_dict(), indent=2).encode()
    files[f"{prefix}/report.html"] = _page(evaluation, plots).encode()
    client.log_blobs(run_id, files)
    return files


def _classification_plots(pred: Predictions, y: np.ndarray) -> dict[str, bytes]:
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    def confusion(ax: Any) -> None:
        ConfusionMatrixDisplay.from_predictions(
            y, pred.values, labels=pred.classes, ax=ax, colorbar=False
        )
        ax.set_title("confusion matrix")

    plots = {"confusion": png(confusion)}
    if pred.proba is None or pred.classes is None or len(pred.classes) != 2:
        return plots
    positive, score = pred.classes[1], pred.proba[:, 1]

    def roc(ax: Any) -> None:
        RocCurveDisplay.from_predictions(y, score, pos_label=positive, ax=ax)
        ax.set_title("ROC curve")

    def calibration(ax: Any) -> None:
        observed, predicted = calibration_curve(y == positive, score, n_bins=10)
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
        ax.plot(predicted, observed, marker="o", label="model")
        ax.set(xlabel="predicted probability", ylabel="observed frequency", title="calibration")
        ax.legend()

    plots["roc"] = png(roc)
    plots["calibration"] = png(calibration)
    return plots


def _regression_plots(pred: Predictions, y: np.ndarray) -> dict[str, bytes]:
    def predicted(ax: Any) -> None:
        ax.scatter(y, pred.values, s=6, alpha=0.5)
        low, high = float(np.min(y)), float(np.max(y))
        ax.plot([low, high], [low, high], linestyle=":", color="grey")
        ax.set(xlabel="actual", ylabel="predicted", title="predicted against actual")

    return {"predicted": png(predicted)}


def png(
    draw: Callable[[Any], None], *, size: tuple[float, float] = (5.5, 4.5), dpi: int = 100
) -> bytes:
    """What ``draw`` puts on a fresh figure's axes, as PNG bytes (any report's plots)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=size)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # plots are for people, not for warning filters
            draw(ax)
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        return buffer.getvalue()
    finally:
        plt.close(figure)


def _page(evaluation: Evaluation, plots: dict[str, bytes]) -> str:
    e = html.escape
    weights = " + ".join(f"{w:g}·{m}" for m, w in evaluation.scoring.weights.items())
    rows = [
        f"<tr><td><b>composite</b> ({e(weights)})</td><td><b>{evaluation.composite.value:.4f}"
        f"</b></td><td>{evaluation.composite.low:.4f} – {evaluation.composite.high:.4f}</td></tr>"
    ]
    rows += [
        f"<tr><td>{e(name)}</td><td>{m.value:.4f}</td><td>{m.low:.4f} – {m.high:.4f}</td></tr>"
        for name, m in evaluation.metrics.items()
    ]
    images = "".join(
        f"<img src='data:image/png;base64,{base64.b64encode(png).decode()}' alt='{e(name)}'>"
        for name, png in plots.items()
    )
    return (
        "<!doctype html><meta charset='utf-8'><title>evaluation</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{padding:2px 10px;border-bottom:1px solid #ddd}img{max-width:32%}</style>"
        f"<h1>Evaluation</h1><p>{e(evaluation.data or 'evaluation data')}: "
        f"{evaluation.rows:,} rows; {evaluation.confidence:.0%} intervals from "
        f"{evaluation.resamples:,} bootstrap resamples.</p>"
        "<table><tr><th>metric</th><th>value</th><th>interval</th></tr>"
        + "".join(rows)
        + f"</table>{images}"
    )
