"""Experiment tracking: experiments, runs, params, metrics, tags, artifacts, models."""

from mlpilot.store.base._tracking import ArtifactRecord, Experiment, MetricPoint, RunRecord
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

__all__ = [
    "DEFAULT_EXPERIMENT",
    "ArtifactRecord",
    "Experiment",
    "MetricPoint",
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
