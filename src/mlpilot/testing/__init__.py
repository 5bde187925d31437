"""The conformance suite for the storage interfaces of :mod:`mlpilot.store.base`."""

from mlpilot.testing._accounts import AccountRecordsContract
from mlpilot.testing._datasets import DatasetRecordsContract
from mlpilot.testing._events import EventRecordsContract
from mlpilot.testing._leases import LeaseRecordsContract
from mlpilot.testing._monitors import MonitorRecordsContract
from mlpilot.testing._pipelines import PipelineRecordsContract
from mlpilot.testing._predictions import PredictionRecordsContract
from mlpilot.testing._registry import RegistryRecordsContract
from mlpilot.testing._studies import StudyRecordsContract
from mlpilot.testing._tracking import TrackingRecordsContract
from mlpilot.testing._triggers import TriggerRecordsContract

__all__ = [
    "AccountRecordsContract",
    "DatasetRecordsContract",
    "EventRecordsContract",
    "LeaseRecordsContract",
    "MonitorRecordsContract",
    "PipelineRecordsContract",
    "PredictionRecordsContract",
    "RegistryRecordsContract",
    "StudyRecordsContract",
    "TrackingRecordsContract",
    "TriggerRecordsContract",
]
