"""The rows an evaluation runs on: a named dataset version and split, the same for every
candidate so that their scores can be compared."""

from __future__ import annotations

import dataclasses

import pandas as pd

from mlpilot.errors import InvalidInputError
from mlpilot.tracking import TrackingClient

#: Splits a dataset version can be evaluated on.
SPLITS = ("test", "train", "all")


@dataclasses.dataclass(frozen=True)
class EvaluationData:
    """Features and target of one split of one dataset version."""

    features: pd.DataFrame
    target: pd.Series
    #: Where the rows came from, e.g. ``churn@v3 (test split, 25%, seed 0)``.
    label: str


def load_split(
    client: TrackingClient,
    ref: str,
    target: str,
    *,
    split: str = "test",
    test_size: float = 0.25,
    seed: int = 0,
) -> EvaluationData:
    """The ``split`` of dataset version ``ref``, with ``target`` as the label column.

    The split is the dataset reader's deterministic one (stratified on the target for
    a classification-like column), so a version, a test size and a seed always give the
    same rows.
    """
    if split not in SPLITS:
        raise InvalidInputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    version = client.datasets.get(ref)
    reader = client.datasets.read(version)
    frame = reader.to_pandas()
    if target not in frame.columns:
        raise InvalidInputError(
            f"dataset {version.ref} has no column {target!r}; its columns: "
            f"{', '.join(map(str, frame.columns[:20]))}"
        )
    if split == "all":
        rows, label = frame, f"{version.ref} (all rows)"
    else:
        stratify = target if frame[target].nunique() <= 50 else None
        train, test = reader.split(test_size=test_size, seed=seed, stratify=stratify)
        rows = test if split == "test" else train
        label = f"{version.ref} ({split} split, {test_size:.0%} test, seed {seed})"
    return EvaluationData(rows.drop(columns=[target]), rows[target], label)
