"""Hyperparameter tuning: search spaces, Optuna's samplers, pruners, parallel trials.

Names load on first use: a worker process that runs trials imports what a trial needs,
not Optuna's samplers or the study driver.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlpilot.store.base._studies import (
        StudyRecord,
        StudyRecords,
        StudySetup,
        TrialEnd,
        TrialRecord,
        TrialStart,
    )
    from mlpilot.tune._report import write_report
    from mlpilot.tune._results import Study
    from mlpilot.tune._samplers import SAMPLERS
    from mlpilot.tune._space import Categorical, Float, Int, Param, Space
    from mlpilot.tune._study import Budget, load_objective, resume_study, tune
    from mlpilot.tune._trial import Trial, TrialPruned
    from mlpilot.tune.pruners import ASHA, PRUNERS, Median, Pruner

_RECORDS = "StudyRecord StudyRecords StudySetup TrialEnd TrialRecord TrialStart".split()

#: Public name -> the module it comes from.
_EXPORTS: dict[str, str] = {
    **{name: "mlpilot.store.base._studies" for name in _RECORDS},
    "write_report": "mlpilot.tune._report",
    "Study": "mlpilot.tune._results",
    "SAMPLERS": "mlpilot.tune._samplers",
    **{name: "mlpilot.tune._space" for name in ("Categorical", "Float", "Int", "Param", "Space")},
    **{
        name: "mlpilot.tune._study" for name in ("Budget", "load_objective", "resume_study", "tune")
    },
    "Trial": "mlpilot.tune._trial",
    "TrialPruned": "mlpilot.tune._trial",
    **{name: "mlpilot.tune.pruners" for name in ("ASHA", "PRUNERS", "Median", "Pruner")},
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mlpilot.tune' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


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
    "StudySetup",
    "Trial",
    "TrialEnd",
    "TrialPruned",
    "TrialRecord",
    "TrialStart",
    "load_objective",
    "resume_study",
    "tune",
    "write_report",
]
