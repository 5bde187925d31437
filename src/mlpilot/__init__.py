"""mlpilot: an automated machine-learning lifecycle platform.

Track an experiment in a few lines::

    import mlpilot

    with mlpilot.start_run(experiment="iris", params={"C": 1.0}) as run:
        run.log_metric("accuracy", 0.97)
        run.log_model(model)
"""

from importlib.metadata import PackageNotFoundError, version

from mlpilot.config import Settings, load_settings
from mlpilot.errors import DataValidationError, MlpilotError
from mlpilot.schedule import Output, current_task, pipeline, step
from mlpilot.store import ColumnRule, DataSchema, DatasetVersion
from mlpilot.tracking import (
    Run,
    RunRecord,
    TrackingClient,
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
    search_runs,
    set_tag,
    set_tags,
    start_run,
    validate_dataset,
)

try:
    __version__ = version("mlpilot")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "ColumnRule",
    "DataSchema",
    "DataValidationError",
    "DatasetVersion",
    "MlpilotError",
    "Output",
    "Run",
    "RunRecord",
    "Settings",
    "TrackingClient",
    "__version__",
    "active_run",
    "current_task",
    "dataset_lineage",
    "end_run",
    "get_dataset",
    "load_settings",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "pipeline",
    "read_dataset",
    "register_dataset",
    "search_runs",
    "set_tag",
    "set_tags",
    "start_run",
    "step",
    "validate_dataset",
]
