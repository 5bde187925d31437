"""The inference server: several models behind one HTTP API, with adaptive
micro-batching, canary and shadow traffic, hot swap when an alias moves, a prediction
log, Prometheus metrics, and workers shared among models by their latency targets."""

from mlpilot.serve._app import create_app, run, serve
from mlpilot.serve._batching import BatchPolicy
from mlpilot.serve._capacity import Load, plan
from mlpilot.serve._config import ModelConfig, ServeConfig, model_configs
from mlpilot.serve._pool import LoadFailed
from mlpilot.serve._predictions import read_predictions, record_labels
from mlpilot.serve._server import Server
from mlpilot.serve._traffic import (
    ShadowAgreement,
    TrafficComparison,
    VersionTraffic,
    compare_traffic,
)

__all__ = [
    "BatchPolicy",
    "Load",
    "LoadFailed",
    "ModelConfig",
    "ServeConfig",
    "Server",
    "ShadowAgreement",
    "TrafficComparison",
    "VersionTraffic",
    "compare_traffic",
    "create_app",
    "model_configs",
    "plan",
    "read_predictions",
    "record_labels",
    "run",
    "serve",
]
