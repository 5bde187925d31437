"""A study's report, stored with its run: plots, importances and an HTML page.

``plots/history.png`` (every trial's value and the best so far), ``plots/parallel.png``
(parallel coordinates of the parameters against the value), ``plots/pareto.png`` for
several objectives, ``importances.json``, and ``report.html``, which holds all of it.
"""

from __future__ import annotations

import base64
import html
import io
import json
import threading
import warnings
from typing import TYPE_CHECKING, Any

from mlpilot.tune._samplers import quiet

if TYPE_CHECKING:
    import optuna

    from mlpilot.tune._results import Study

#: Rows of the trial table in the HTML report, best first.
_TABLE_ROWS = 50


def warm_up() -> None:
    """Import what a report is drawn with in a background thread.

    Importances need scikit-learn (fANOVA) and the plots matplotlib: seconds of imports
    that would otherwise come after the last trial. Started as a study starts, they
    overlap its trials, which mostly wait on worker processes.
    """
    threading.Thread(target=_import_drawing, name="mlpilot-report-imports", daemon=True).start()


def _import_drawing() -> None:
    try:
        import matplotlib.pyplot  # noqa: F401
        import optuna.importance  # noqa: F401
        import optuna.visualization.matplotlib  # noqa: F401
    except ImportError:
        return  # write_report says what is missing, when it runs


def write_report(study: Study) -> dict[str, bytes]:
    """Draw the study's plots and page and store them as artifacts of its run."""
    files: dict[str, bytes] = {}
    if study.complete:
        optuna_study = study.optuna_study()
        for name, draw in _plots(study).items():
            png = _png(draw, optuna_study, study)
            if png is not None:
                files[f"plots/{name}.png"] = png
    importances = study.compute_importances()
    files["importances.json"] = json.dumps(importances, indent=2).encode()
    files["report.html"] = _page(study, importances, files).encode()
    study.client.log_blobs(study.id, files)
    return files


def _plots(study: Study) -> dict[str, Any]:
    from optuna.visualization import matplotlib as plots

    metric = study.record.metrics[0]
    if len(study.directions) > 1:
        return {
            "pareto": lambda s: plots.plot_pareto_front(s, target_names=study.record.metrics),
        }
    return {
        "history": lambda s: plots.plot_optimization_history(s, target_name=metric),
        "parallel": lambda s: plots.plot_parallel_coordinate(s, target_name=metric),
    }


def _png(draw: Any, optuna_study: optuna.Study, study: Study) -> bytes | None:
    import matplotlib.pyplot as plt

    try:
        # Plots are for people; a warning about an axis limit is nobody's business.
        with quiet(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            axes = draw(optuna_study)
    except (ValueError, RuntimeError):
        return None  # a plot that needs more than the study has (e.g. no shared params)
    figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
    figure.set_size_inches(9, 5)
    figure.suptitle(f"study {study.name}", fontsize=10)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _page(study: Study, importances: dict[str, float], files: dict[str, bytes]) -> str:
    e = html.escape
    counts = ", ".join(f"{n} {state}" for state, n in sorted(study.counts().items()))
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>study {e(study.name)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}"
        "table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd;"
        "text-align:left}img{max-width:100%}</style>",
        f"<h1>Study {e(study.name)}</h1>",
        f"<p>run <code>{study.id}</code> · {e(study.status)} · {e(counts)} · sampler "
        f"{e(str(study.record.sampler['name']))} · pruner "
        f"{e(str(study.record.pruner['name'] or 'none'))} · "
        f"{e(', '.join(study.directions))}</p>",
    ]
    best = study.pareto_front if len(study.directions) > 1 else study.complete[:0]
    if len(study.directions) == 1 and study.complete:
        best = [study.best_trial]
    if best:
        title = "Pareto front" if len(study.directions) > 1 else "Best trial"
        parts.append(f"<h2>{title}</h2>" + _table(study, best))
    for path, data in files.items():
        if path.endswith(".png"):
            encoded = base64.b64encode(data).decode()
            parts.append(f"<h2>{e(path)}</h2><img src='data:image/png;base64,{encoded}'>")
    if importances:
        rows = "".join(f"<tr><td>{e(k)}</td><td>{v:.3f}</td></tr>" for k, v in importances.items())
        parts.append(
            "<h2>Parameter importances</h2><table><tr><th>parameter</th><th>share</th></tr>"
            f"{rows}</table>"
        )
    ranked = sorted(
        study.complete,
        key=lambda t: t.values[0] if t.values else 0.0,  # noqa: PD011
        reverse=study.directions[0] == "maximize",
    )[:_TABLE_ROWS]
    parts.append(f"<h2>Top trials</h2>{_table(study, ranked)}")
    return "\n".join(parts)


def _table(study: Study, trials: list[Any]) -> str:
    e = html.escape
    names = list(study.record.space)
    head = "".join(f"<th>{e(n)}</th>" for n in ["#", *study.record.metrics, *names])
    rows = []
    for t in trials:
        cells = [str(t.number), *(f"{v:.6g}" for v in t.values or [])]
        cells += [e(str(t.params.get(n, ""))) for n in names]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"
