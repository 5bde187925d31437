"""Module-level helpers that act on the active run, for short training scripts.

Each thread and asyncio task has its own stack of active runs (a context variable), so
concurrent code never logs into another's run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from mlpilot.errors import NoActiveRunError
from mlpilot.store.base._tracking import ArtifactRecord, RunRecord
from mlpilot.tracking._client import TrackingClient
from mlpilot.tracking._run import Run

if TYPE_CHECKING:
    import pandas as pd

    from mlpilot.store import DataSchema, DatasetReader, DatasetVersion, Lineage, ValidationReport
    from mlpilot.store._content import DataLike

_active: ContextVar[tuple[Run, ...]] = ContextVar("mlpilot_active_runs", default=())


def start_run(
    name: str | None = None,
    *,
    experiment: str | None = None,
    parent: Run | str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    client: TrackingClient | None = None,
) -> Run:
    """Start a run and make it the active one.

    A run started while another is active becomes its child, in the same experiment,
    unless ``parent`` or ``experiment`` say otherwise.

    Example::

        with mlpilot.start_run(experiment="iris", params={"C": 1.0}):
            for epoch in range(10):
                mlpilot.log_metric("loss", train_one_epoch())
    """
    stack = _active.get()
    if parent is None and stack:
        parent = stack[-1]
    if isinstance(parent, Run):
        experiment = experiment or parent.experiment
        client = client or parent.client
        parent = parent.id
    client = client or TrackingClient()
    run = client.create_run(experiment, name, parent_id=parent, params=params, tags=tags)
    _active.set(stack + (run,))
    run.on_end.append(_deactivate)
    return run


def active_run() -> Run | None:
    """The innermost active run of this thread or task, if any."""
    stack = _active.get()
    return stack[-1] if stack else None


def end_run(status: str = "finished") -> None:
    """End the active run."""
    _require_active().end(status)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    _require_active().log_metric(key, value, step)


def log_metrics(values: Mapping[str, float], step: int | None = None) -> None:
    _require_active().log_metrics(values, step)


def log_param(key: str, value: Any) -> None:
    _require_active().log_param(key, value)


def log_params(values: Mapping[str, Any]) -> None:
    _require_active().log_params(values)


def set_tag(key: str, value: Any) -> None:
    _require_active().set_tag(key, value)


def set_tags(values: Mapping[str, Any]) -> None:
    _require_active().set_tags(values)


def log_artifact(
    local_path: str | os.PathLike[str], artifact_path: str | None = None
) -> list[ArtifactRecord]:
    return _require_active().log_artifact(local_path, artifact_path)


def log_model(
    model: Any,
    name: str = "model",
    *,
    input_example: Any = None,
    classes: Sequence[Any] | None = None,
) -> list[ArtifactRecord]:
    return _require_active().log_model(model, name, input_example=input_example, classes=classes)


def register_dataset(
    name: str,
    data: DataLike,
    *,
    description: str | None = None,
    tags: Sequence[str] = (),
    parent: str | DatasetVersion | None = None,
    step: str = "",
    client: TrackingClient | None = None,
) -> DatasetVersion:
    """Register ``data`` as a version of dataset ``name``; an output of the active run."""
    options: dict[str, Any] = {"description": description, "tags": tags, "parent": parent}
    run = active_run()
    if run is not None and (client is None or client is run.client):
        return run.register_dataset(name, data, step=step, **options)
    return (client or TrackingClient()).datasets.register(name, data, **options)


def read_dataset(
    ref: str | DatasetVersion,
    *,
    columns: Sequence[str] | None = None,
    batch_size: int | None = None,
    prefetch: int = 4,
    client: TrackingClient | None = None,
) -> DatasetReader:
    """A reader over a dataset version (``churn@v3``); an input of the active run."""
    run = active_run()
    if run is not None and (client is None or client is run.client):
        return run.read_dataset(ref, columns=columns, batch_size=batch_size, prefetch=prefetch)
    datasets = (client or TrackingClient()).datasets
    return datasets.read(ref, columns=columns, batch_size=batch_size, prefetch=prefetch)


def get_dataset(ref: str, *, client: TrackingClient | None = None) -> DatasetVersion:
    """The dataset version ``ref`` names: ``churn``, ``churn@v3``, ``churn@prod``."""
    return (client or TrackingClient()).datasets.get(ref)


def validate_dataset(
    data: str | DatasetVersion | DataLike,
    schema: DataSchema,
    *,
    client: TrackingClient | None = None,
) -> ValidationReport:
    """Check a version (by reference) or in-memory data against ``schema``."""
    return (client or TrackingClient()).datasets.validate(data, schema)


def dataset_lineage(ref: str | DatasetVersion, *, client: TrackingClient | None = None) -> Lineage:
    """What produced a dataset version and what (runs, models) used it."""
    return (client or TrackingClient()).dataset_lineage(ref)


def search_runs(
    experiment: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] = (),
    max_results: int = 1000,
    *,
    client: TrackingClient | None = None,
) -> pd.DataFrame:
    """Like :meth:`TrackingClient.search_runs`, as a table: one row a run."""
    client = client or TrackingClient()
    return runs_to_frame(client.search_runs(experiment, filter, order_by, max_results))


def runs_to_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """One row per run; params, metrics and tags as ``params.KEY`` ... columns."""
    import pandas as pd

    rows = []
    for r in records:
        row: dict[str, Any] = {
            "run_id": r.id,
            "experiment": r.experiment,
            "name": r.name,
            "status": r.status,
            "parent_id": r.parent_id,
            "start_ms": r.start_ms,
            "end_ms": r.end_ms,
        }
        row.update({f"params.{k}": v for k, v in r.params.items()})
        row.update({f"metrics.{k}": v for k, v in r.metrics.items()})
        row.update({f"tags.{k}": v for k, v in r.tags.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _require_active() -> Run:
    run = active_run()
    if run is None:
        raise NoActiveRunError(
            "no active run in this thread; start one with `with mlpilot.start_run():`"
        )
    return run


def _deactivate(run: Run) -> None:
    _active.set(tuple(r for r in _active.get() if r is not run))
