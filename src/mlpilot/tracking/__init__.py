"""Experiment tracking: experiments, runs, params, metrics, tags, artifacts, models."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlpilot._lazy import exports

if TYPE_CHECKING:
    from mlpilot.store.base._tracking import (
        ArtifactRecord,
        Experiment,
        MetricPoint,
        OrderKeyWarning,
        RunRecord,
    )
    from mlpilot.tracking._client import DEFAULT_EXPERIMENT, TrackingClient
    from mlpilot.tracking._fluent import (
        active_run,
        dataset_lineage,
        end_run,
        get_dataset,
        log_artifact,
        log_metric,
        log_metrics,
        log_model,
        log_param,
        log_params,
        read_dataset,
        register_dataset,
        runs_to_frame,
        search_runs,
        set_tag,
        set_tags,
        start_run,
        validate_dataset,
    )
    from mlpilot.tracking._run import Run

#: Public name -> the module it comes from, imported when the name is first read.
_EXPORTS = {
    "DEFAULT_EXPERIMENT": "mlpilot.tracking._client",
    "ArtifactRecord": "mlpilot.store.base._tracking",
    "Experiment": "mlpilot.store.base._tracking",
    "MetricPoint": "mlpilot.store.base._tracking",
    "OrderKeyWarning": "mlpilot.store.base._tracking",
    "Run": "mlpilot.tracking._run",
    "RunRecord": "mlpilot.store.base._tracking",
    "TrackingClient": "mlpilot.tracking._client",
    "active_run": "mlpilot.tracking._fluent",
    "dataset_lineage": "mlpilot.tracking._fluent",
    "end_run": "mlpilot.tracking._fluent",
    "get_dataset": "mlpilot.tracking._fluent",
    "log_artifact": "mlpilot.tracking._fluent",
    "log_metric": "mlpilot.tracking._fluent",
    "log_metrics": "mlpilot.tracking._fluent",
    "log_model": "mlpilot.tracking._fluent",
    "log_param": "mlpilot.tracking._fluent",
    "log_params": "mlpilot.tracking._fluent",
    "read_dataset": "mlpilot.tracking._fluent",
    "register_dataset": "mlpilot.tracking._fluent",
    "runs_to_frame": "mlpilot.tracking._fluent",
    "search_runs": "mlpilot.tracking._fluent",
    "set_tag": "mlpilot.tracking._fluent",
    "set_tags": "mlpilot.tracking._fluent",
    "start_run": "mlpilot.tracking._fluent",
    "validate_dataset": "mlpilot.tracking._fluent",
}
__getattr__, __dir__ = exports(__name__, globals(), _EXPORTS)

__all__ = [
    "DEFAULT_EXPERIMENT",
    "ArtifactRecord",
    "Experiment",
    "MetricPoint",
    "OrderKeyWarning",
    "Run",
    "RunRecord",
    "TrackingClient",
    "active_run",
    "dataset_lineage",
    "end_run",
    "get_dataset",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "read_dataset",
    "register_dataset",
    "runs_to_frame",
    "search_runs",
    "set_tag",
    "set_tags",
    "start_run",
    "validate_dataset",
]
