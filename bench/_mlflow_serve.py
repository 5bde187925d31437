"""MLflow side of the serving benchmark: the model that ``mlflow models serve`` serves.

Runs inside the side environment ``bench/.venv-mlflow`` (see ``bench/serve.py``). It
fits the same pipeline on the same data as mlpilot's side,
``make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))`` on scikit-learn's
breast-cancer data, all 569 rows, and saves it with ``mlflow.sklearn.save_model``:
plainly, as mlpilot's side logs its model, or with ``--signature`` also with the
signature ``infer_signature`` gives for the training frame and its predictions, which
the scoring server then checks every request against.

It prints one JSON object on stdout: the folder, the versions, the prediction of the
one-row request (read from ``--row-file``, a JSON object of column to value) for the
benchmark to check the server's answer against, the worker count ``mlflow models serve``
takes by default, and which optional fast paths of uvicorn (uvloop, httptools) are
installed here. Progress messages go to stderr.

Usage: python _mlflow_serve.py --model-dir DIR --row-file FILE [--signature]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

# No network here and nothing to report: keep MLflow from trying.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def _say(message: str) -> None:
    print(f"mlflow   {message}", file=sys.stderr, flush=True)


def fit() -> Any:
    """The lifecycle example's logistic regression, fitted on the whole data set."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    return model.fit(X, y), X


def default_workers() -> int | None:
    """The worker count ``mlflow models serve`` uses when ``--workers`` is not given."""
    try:
        from mlflow.models.cli import commands

        serve = commands.commands["serve"]
        (option,) = [p for p in serve.params if p.name == "workers"]
    except (ImportError, KeyError, ValueError):
        return None
    if option.default is not None:
        return int(option.default)
    found = re.search(r"default:\s*(\d+)", option.help or "")
    return int(found.group(1)) if found else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--row-file", type=Path, required=True)
    parser.add_argument("--signature", action="store_true", help="save an inferred signature")
    args = parser.parse_args(argv)

    import mlflow
    import mlflow.sklearn
    import pandas as pd
    import sklearn
    from mlflow.models import infer_signature

    model, X = fit()
    _say(f"fitted on {len(X)} rows × {X.shape[1]} columns (scikit-learn {sklearn.__version__})")
    signature = infer_signature(X, model.predict(X)) if args.signature else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(model, str(args.model_dir), signature=signature)
    _say(f"saved to {args.model_dir}" + (" with a signature" if args.signature else ""))

    row = json.loads(args.row_file.read_text(encoding="utf-8"))
    prediction = model.predict(pd.DataFrame([row], columns=X.columns))
    result = {
        "model_dir": str(args.model_dir),
        "mlflow_version": mlflow.__version__,
        "sklearn_version": sklearn.__version__,
        "python": sys.version.split()[0],
        "prediction": prediction.tolist(),
        "signature": signature is not None,
        "default_workers": default_workers(),
        "uvloop": importlib.util.find_spec("uvloop") is not None,
        "httptools": importlib.util.find_spec("httptools") is not None,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
