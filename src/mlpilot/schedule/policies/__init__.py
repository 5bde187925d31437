"""Allocation policies: how many cores each waiting job gets, re-planned on every event."""

from mlpilot.schedule.policies._base import AllocationPolicy, Job, Waiting
from mlpilot.schedule.policies._deadline import Deadline, unmeetable
from mlpilot.schedule.policies._fair_share import FairShare
from mlpilot.schedule.policies._fifo import Fifo
from mlpilot.schedule.policies._makespan import Makespan, lower_bound

#: Policies by the name a pipeline run chooses them with.
POLICIES: dict[str, type[AllocationPolicy]] = {
    policy.name: policy for policy in (Makespan, Deadline, FairShare, Fifo)
}

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
