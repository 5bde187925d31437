"""The computing layer: executors that run tasks with the resources they ask for."""

from mlpilot.compute._base import Executor, Resources, TaskOutcome
from mlpilot.compute._local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "Resources", "TaskOutcome"]
