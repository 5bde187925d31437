"""The task scheduling layer: pipelines of steps, allocation policies, retries, resume."""

from mlpilot.schedule._deadline import parse_deadline, parse_duration
from mlpilot.schedule._graph import Graph, Output, Task
from mlpilot.schedule._load import load_pipeline
from mlpilot.schedule._pipeline import (
    Pipeline,
    PipelineRun,
    cancel_pipeline,
    load_output,
    pipeline,
    resume_pipeline,
)
from mlpilot.schedule._simulate import SimulationResult, simulate
from mlpilot.schedule._speedup import Amdahl, Measured, SpeedupCurve
from mlpilot.schedule._step import Step, TaskContext, current_task, step
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
from mlpilot.store.base._pipelines import (
    AttemptRecord,
    PipelineRecords,
    PipelineRunRecord,
    TaskRecord,
)

__all__ = [
    "POLICIES",
    "AllocationPolicy",
    "Amdahl",
    "AttemptRecord",
    "Deadline",
    "FairShare",
    "Fifo",
    "Graph",
    "Job",
    "Makespan",
    "Measured",
    "Output",
    "Pipeline",
    "PipelineRecords",
    "PipelineRun",
    "PipelineRunRecord",
    "SimulationResult",
    "SpeedupCurve",
    "Step",
    "Task",
    "TaskContext",
    "TaskRecord",
    "Waiting",
    "cancel_pipeline",
    "current_task",
    "load_output",
    "load_pipeline",
    "lower_bound",
    "parse_deadline",
    "parse_duration",
    "pipeline",
    "resume_pipeline",
    "simulate",
    "step",
    "unmeetable",
]
