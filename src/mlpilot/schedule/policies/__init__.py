"""Allocation policies: how many cores each waiting job gets, re-planned on every event.

Policies are found by name in :data:`POLICIES`; packages add more through the entry
point group ``mlpilot.policies``.
"""

from __future__ import annotations

from mlpilot._plugins import Registry
from mlpilot.schedule.policies._base import AllocationPolicy, Job, Waiting
from mlpilot.schedule.policies._deadline import Deadline, unmeetable
from mlpilot.schedule.policies._fair_share import FairShare
from mlpilot.schedule.policies._fifo import Fifo
from mlpilot.schedule.policies._makespan import Makespan, lower_bound

#: Policies by the name a pipeline run chooses them with; ``POLICIES[name]()`` or
#: ``POLICIES.get(name)`` makes one.
POLICIES: Registry[AllocationPolicy] = Registry(
    "policies",
    "policy",
    AllocationPolicy,
    {
        "makespan": "mlpilot.schedule.policies._makespan:Makespan",
        "deadline": "mlpilot.schedule.policies._deadline:Deadline",
        "fair-share": "mlpilot.schedule.policies._fair_share:FairShare",
        "fifo": "mlpilot.schedule.policies._fifo:Fifo",
    },
)

__all__ = [
    "POLICIES",
    "AllocationPolicy",
    "Deadline",
    "FairShare",
    "Fifo",
    "Job",
    "Makespan",
    "Waiting",
    "lower_bound",
    "unmeetable",
]
