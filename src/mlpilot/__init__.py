"""mlpilot: an automated machine-learning lifecycle platform.

Track an experiment in a few lines::

    import mlpilot

    with mlpilot.start_run(experiment="iris", params={"C": 1.0}) as run:
        run.log_metric("accuracy", 0.97)
        run.log_model(model)

Each stage has a front door here: ``run_study`` (tuning), ``evaluate_model``,
``promote``, ``serve_models``, ``create_monitor`` and ``run_monitor``. Every one of them
takes the same optional ``client`` (a :class:`TrackingClient`; the one the settings name
by default). Names load on first use, so ``import mlpilot`` costs only what is used.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from mlpilot._lazy import exports

if TYPE_CHECKING:
    from mlpilot.config import Settings, load_settings
    from mlpilot.errors import DataValidationError, MlpilotError
    from mlpilot.evaluate import evaluate as evaluate_model
    from mlpilot.monitor import create_monitor
    from mlpilot.monitor import run_once as run_monitor
    from mlpilot.registry import promote
    from mlpilot.schedule import Output, current_task, pipeline, step
    from mlpilot.serve import run as serve_models
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
    from mlpilot.tune import tune as run_study

try:
    __version__ = version("mlpilot")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

_TRACKING = (
    "Run RunRecord TrackingClient active_run dataset_lineage end_run get_dataset "
    "log_artifact log_metric log_metrics log_model log_param log_params read_dataset "
    "register_dataset search_runs set_tag set_tags start_run validate_dataset"
).split()

#: Public name -> "module:attribute" it comes from.
_EXPORTS: dict[str, str] = {
    "Settings": "mlpilot.config:Settings",
    "load_settings": "mlpilot.config:load_settings",
    "MlpilotError": "mlpilot.errors:MlpilotError",
    "DataValidationError": "mlpilot.errors:DataValidationError",
    "Output": "mlpilot.schedule:Output",
    "current_task": "mlpilot.schedule:current_task",
    "pipeline": "mlpilot.schedule:pipeline",
    "step": "mlpilot.schedule:step",
    "ColumnRule": "mlpilot.store:ColumnRule",
    "DataSchema": "mlpilot.store:DataSchema",
    "DatasetVersion": "mlpilot.store:DatasetVersion",
    **{name: f"mlpilot.tracking:{name}" for name in _TRACKING},
    "run_study": "mlpilot.tune:tune",
    "evaluate_model": "mlpilot.evaluate:evaluate",
    "promote": "mlpilot.registry:promote",
    "serve_models": "mlpilot.serve:run",
    "create_monitor": "mlpilot.monitor:create_monitor",
    "run_monitor": "mlpilot.monitor:run_once",
}


__getattr__, __dir__ = exports(__name__, globals(), _EXPORTS)

__all__ = [
    "__version__",
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
    "active_run",
    "create_monitor",
    "current_task",
    "dataset_lineage",
    "end_run",
    "evaluate_model",
    "get_dataset",
    "load_settings",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "pipeline",
    "promote",
    "read_dataset",
    "register_dataset",
    "run_monitor",
    "run_study",
    "search_runs",
    "serve_models",
    "set_tag",
    "set_tags",
    "start_run",
    "step",
    "validate_dataset",
]
