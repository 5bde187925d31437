"""The process that holds one model version and predicts batches for the server.

A model runs in a worker process, not in the server's event loop, so that a slow or
crashing model never stalls the requests of the others, and the server can give a
model more processes (cores) or take them away. The worker loads the version through
the registry, which refuses bytes whose digest does not match, then answers
``(batch_id, columns, want_scores)`` messages with
``(batch_id, "ok", predictions, scores, seconds)``, ``seconds`` being the time the batch
took in the worker (so the server can tell the model's time from the trip's).
"""

from __future__ import annotations

import functools
import os
import signal
import time
import warnings
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

#: Messages a worker sends before its first answer.
READY, FAILED = "ready", "failed"


def main(conn: Connection, settings: dict[str, Any], model: str, version: int) -> None:
    """Load ``model`` version ``version`` and answer batches until the pipe closes."""
    # Ctrl-C in the server's terminal reaches the whole process group; the server
    # decides when its workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # One thread per worker: the server scales a model by processes, and BLAS or
    # OpenMP threads spinning beside the other processes stall every batch.
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    try:
        predictor, has_scores = _load(settings, model, version)
    except Exception as exc:  # anything a model's loading raises is reported, not hidden
        conn.send((FAILED, f"{type(exc).__name__}: {exc}"))
        return
    conn.send((READY, os.getpid(), has_scores))
    # Loading's warnings (a version mismatch, say) have been shown; what a model
    # repeats on every batch (an array fitted without names) would flood the log.
    warnings.simplefilter("ignore")
    while True:
        try:
            batch_id, columns, want_scores = conn.recv()
        except (EOFError, OSError):
            return
        started = time.perf_counter()
        try:
            predictions, scores = predictor(columns, want_scores)
            answer = (batch_id, "ok", predictions, scores, time.perf_counter() - started)
        except Exception as exc:  # the server answers the batch's requests with it
            error = f"{type(exc).__name__}: {exc}"
            answer = (batch_id, "error", error, None, time.perf_counter() - started)
        conn.send(answer)


def _load(settings: dict[str, Any], model: str, version: int) -> tuple[Any, bool]:
    """The version's predict function, and whether it gives class probabilities."""
    from mlpilot.config import load_settings
    from mlpilot.registry import ModelRegistry
    from mlpilot.store import Store
    from mlpilot.tracking import TrackingClient

    store = Store(load_settings(**settings))
    try:
        loaded = ModelRegistry(TrackingClient(store)).load(f"{model}/{version}")
    finally:
        store.close()
    named = getattr(loaded, "feature_names_in_", None) is not None
    has_proba = hasattr(loaded, "predict_proba")

    def predict(
        columns: dict[str, list[Any]], want_scores: bool
    ) -> tuple[list[Any], list[list[float]] | None]:
        frame = _frame(columns)
        # A model fitted on an array warns when handed names; give it the array.
        features = frame if named else frame.to_numpy()
        predictions = np.asarray(loaded.predict(features)).tolist()
        if not (want_scores and has_proba):
            return predictions, None
        return predictions, np.asarray(loaded.predict_proba(features), np.float64).tolist()

    return predict, has_proba


def _frame(columns: dict[str, list[Any]]) -> Any:
    """The batch as a frame; a numeric one through a single float array, which is
    several times quicker than pandas building it column by column."""
    import pandas as pd

    lists = list(columns.values())
    # Booleans and strings keep their own dtypes; the server has checked that every
    # value of a column is of its first value's kind.
    if lists and lists[0] and all(type(v[0]) in (float, int) for v in lists):
        values = np.array(lists)
        if values.dtype.kind in "fi":
            return pd.DataFrame(values.T, columns=_index(tuple(columns)), copy=False)
    return pd.DataFrame(columns)


@functools.lru_cache(maxsize=64)
def _index(names: tuple[str, ...]) -> Any:
    """The column index of a frame of ``names``, one object per set of names: pandas
    and scikit-learn cache what they derive from an index on it (its hash table, the
    feature-name check), which saves a fifth of a small model's predict time."""
    import pandas as pd

    return pd.Index(names)
