"""The task scheduling layer: allocation policies and the model they plan with."""

from mlpilot.schedule._simulate import SimulationResult, simulate
from mlpilot.schedule._speedup import Amdahl, Measured, SpeedupCurve
from mlpilot.schedule.policies import (
    POLICIES,
    AllocationPolicy,
    Deadline,
    FairShare,
    Fifo,
    Job,
    Makespan,
    Waiting,
    lower_bound,
    unmeetable,
)

__all__ = [
    "POLICIES",
    "AllocationPolicy",
    "Amdahl",
    "Deadline",
    "FairShare",
    "Fifo",
    "Job",
    "Makespan",
    "Measured",
    "SimulationResult",
    "SpeedupCurve",
    "Waiting",
    "lower_bound",
    "simulate",
    "unmeetable",
]
