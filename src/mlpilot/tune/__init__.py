"""Hyperparameter tuning: search spaces, Optuna's samplers, pruners, parallel trials."""

from mlpilot.tune._records import StudyRecord, StudyRecords, TrialEnd, TrialRecord, TrialStart
from mlpilot.tune._report import write_report
from mlpilot.tune._results import Study
from mlpilot.tune._samplers import SAMPLERS
from mlpilot.tune._space import Categorical, Float, Int, Param, Space
from mlpilot.tune._study import Budget, load_objective, resume_study, tune
from mlpilot.tune._trial import Trial, TrialPruned
from mlpilot.tune.pruners import ASHA, PRUNERS, Median, Pruner

__all__ = [
    "ASHA",
    "PRUNERS",
    "SAMPLERS",
    "Budget",
    "Categorical",
    "Float",
    "Int",
    "Median",
    "Param",
    "Pruner",
    "Space",
    "Study",
    "StudyRecord",
    "StudyRecords",
    "Trial",
    "TrialPruned",
    "TrialEnd",
    "TrialRecord",
    "TrialStart",
    "load_objective",
    "resume_study",
    "tune",
    "write_report",
]
