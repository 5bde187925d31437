"""Evaluation: metric suites, a weighted composite, bootstrap intervals, paired tests."""

from mlpilot.evaluate._bootstrap import Difference, Estimate, McNemar, mcnemar
from mlpilot.evaluate._data import SPLITS, EvaluationData, load_split
from mlpilot.evaluate._evaluation import (
    DEFAULT_WEIGHTS,
    Comparison,
    Evaluation,
    Predictions,
    Scoring,
    check_features,
    compare,
    compare_many,
    evaluate,
    evaluate_ranking,
    predict,
)
from mlpilot.evaluate._gate import Check, Decision, GatePolicy
from mlpilot.evaluate._metrics import CLASSIFICATION, RANKING, REGRESSION, SUITES, Metric
from mlpilot.evaluate._report import write_evaluation_report

__all__ = [
    "CLASSIFICATION",
    "Check",
    "Decision",
    "GatePolicy",
    "DEFAULT_WEIGHTS",
    "RANKING",
    "REGRESSION",
    "SPLITS",
    "SUITES",
    "Comparison",
    "Difference",
    "Estimate",
    "Evaluation",
    "EvaluationData",
    "McNemar",
    "Metric",
    "Predictions",
    "Scoring",
    "check_features",
    "compare",
    "compare_many",
    "evaluate",
    "evaluate_ranking",
    "load_split",
    "mcnemar",
    "predict",
    "write_evaluation_report",
]
