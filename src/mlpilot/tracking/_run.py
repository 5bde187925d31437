"""Run: the handle a training script logs through."""

from __future__ import annotations

import atexit
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mlpilot.errors import NotFoundError
from mlpilot.store._validate import check_key, check_metric, check_step
from mlpilot.store.base._tracking import ArtifactRecord, RunRecord
from mlpilot.tracking import _models
from mlpilot.tracking._writer import flush_all

if TYPE_CHECKING:
    from mlpilot.store import DatasetReader, DatasetVersion
    from mlpilot.store._content import DataLike
    from mlpilot.tracking._client import TrackingClient

_unfinished: dict[str, Run] = {}
_unfinished_lock = threading.Lock()


class Run:
    """A running run. Logging metrics is buffered; everything else is written at once.

    Use it as a context manager: leaving the block ends the run as ``finished``, or as
    ``failed`` (``killed`` on Ctrl-C) when an exception escapes. A run still open when
    the interpreter exits is ended then.
    """

    def __init__(self, client: TrackingClient, run_id: str, name: str, experiment: str) -> None:
        self.client = client
        self.id = run_id
        self.name = name
        self.experiment = experiment
        self.ended = False
        self.on_end: list[Callable[[Run], None]] = []
        self._writer = client._writer
        self._next_step: dict[str, int] = {}
        self._checked_keys: set[str] = set()
        with _unfinished_lock:
            _unfinished[run_id] = self

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, name={self.name!r}, experiment={self.experiment!r})"

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp_ms: int | None = None
    ) -> None:
        """Buffer one point. ``step`` defaults to one past this key's last step."""
        # The hot path of training loops: each check runs once per key, not per call.
        if key not in self._checked_keys:
            self._checked_keys.add(check_key(key, "metric key"))
        number = value if value.__class__ is float else check_metric(key, value)
        if not math.isfinite(number):
            check_metric(key, number)
        step = self._next_step.get(key, 0) if step is None else check_step(key, step)
        self._next_step[key] = step + 1
        stamp = time.time_ns() // 1_000_000 if timestamp_ms is None else int(timestamp_ms)
        self._writer.add(self.id, key, step, stamp, number)

    def log_metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        for key, value in values.items():
            self.log_metric(key, value, step)

    def log_param(self, key: str, value: Any) -> None:
        self.client.log_params(self.id, {key: value})

    def log_params(self, values: Mapping[str, Any]) -> None:
        self.client.log_params(self.id, values)

    def set_tag(self, key: str, value: Any) -> None:
        self.client.set_tags(self.id, {key: value})

    def set_tags(self, values: Mapping[str, Any]) -> None:
        self.client.set_tags(self.id, values)

    def log_artifact(
        self, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactRecord]:
        return self.client.log_artifact(self.id, local_path, artifact_path)

    def log_text(self, text: str, artifact_path: str) -> ArtifactRecord:
        return self.client.log_blobs(self.id, {artifact_path: text.encode("utf-8")})[0]

    def log_dict(self, value: Mapping[str, Any], artifact_path: str) -> ArtifactRecord:
        """Store ``value`` as JSON."""
        data = json.dumps(value, indent=2, sort_keys=True, default=str).encode("utf-8")
        return self.client.log_blobs(self.id, {artifact_path: data})[0]

    def log_model(
        self,
        model: Any,
        name: str = "model",
        *,
        input_example: Any = None,
        classes: Sequence[Any] | None = None,
    ) -> list[ArtifactRecord]:
        """Store a fitted model under ``name/`` in a safe format: skops for
        scikit-learn, the native formats of XGBoost and LightGBM, an exported program
        for PyTorch (which needs ``input_example``, and ``classes`` for a classifier)."""
        return _models.log_model(
            self.client, self.id, model, name, input_example=input_example, classes=classes
        )

    def read_dataset(
        self,
        ref: str | DatasetVersion,
        *,
        columns: Sequence[str] | None = None,
        batch_size: int | None = None,
        prefetch: int = 4,
        step: str = "",
    ) -> DatasetReader:
        """Read a dataset version, recording it as an input of this run."""
        version = self.client.datasets.record_use(ref, self.id, role="input", step=step)
        return self.client.datasets.read(
            version, columns=columns, batch_size=batch_size, prefetch=prefetch
        )

    def register_dataset(
        self, name: str, data: DataLike, *, step: str = "", **options: Any
    ) -> DatasetVersion:
        """Register a dataset version as an output of this run.

        ``options`` are those of :meth:`mlpilot.store.DatasetStore.register`.
        """
        return self.client.datasets.register(name, data, run_id=self.id, step=step, **options)

    def record(self) -> RunRecord:
        """What the store holds for this run now (buffered points included)."""
        self.client.flush()
        return self.client.get_run(self.id)

    def end(self, status: str = "finished") -> None:
        """End the run; a second call does nothing."""
        if self.ended:
            return
        try:
            self.client.end_run(self.id, status)
        except NotFoundError:
            # Deleted while it ran: there is nothing left to end, now or at exit.
            self._forget()
            raise
        self._forget()

    def _forget(self) -> None:
        self.ended = True
        with _unfinished_lock:
            _unfinished.pop(self.id, None)
        for callback in self.on_end:
            callback(self)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            status = "finished"
        elif issubclass(exc_type, KeyboardInterrupt):
            status = "killed"
        else:
            status = "failed"
        self.end(status)


def _end_unfinished_at_exit() -> None:
    # sys.last_value is set when an uncaught exception ended the program.
    status = "failed" if getattr(sys, "last_value", None) is not None else "finished"
    with _unfinished_lock:
        open_runs = list(_unfinished.values())
    for run in reversed(open_runs):
        try:
            run.end(status)
        except Exception as exc:  # the interpreter is going away; report and go on
            print(f"mlpilot: could not end run {run.id}: {exc}", file=sys.stderr)
    flush_all()


atexit.register(_end_unfinished_at_exit)
