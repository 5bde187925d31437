"""Signatures: the columns a model takes, inferred from its training data and checked
against the data it is given, naming the column at fault."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpilot.errors import InvalidInputError
from mlpilot.registry import Signature


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": np.array([31, 47, 52], dtype=np.int64),
            "income": [41_000.0, 72_500.5, 58_000.0],
            "plan": ["basic", "pro", "basic"],
            "active": [True, False, True],
        }
    )


def test_infer_records_each_column_and_the_output(frame: pd.DataFrame) -> None:
    signature = Signature.infer(frame, np.array([0.2, 0.7, 0.1]))

    assert signature.to_dict() == {
        "inputs": [
            {"name": "age", "type": "integer"},
            {"name": "income", "type": "number"},
            {"name": "plan", "type": "string"},
            {"name": "active", "type": "boolean"},
        ],
        "output": "number",
    }
    assert Signature.from_dict(signature.to_dict()) == signature
    assert Signature.infer(frame, np.array(["yes", "no", "yes"])).output == "string"


def test_matching_data_passes(frame: pd.DataFrame) -> None:
    signature = Signature.infer(frame, [1, 0, 1])

    signature.check(frame)
    signature.check(frame[["active", "plan", "income", "age"]].assign(extra=1))  # order free
    # Whole numbers where the model took decimals are fine; so are booleans.
    signature.check(frame.assign(income=frame["income"].round().astype(np.int64)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="plan"), "lacks column.*plan"),
        (lambda f: f.drop(columns=["plan", "age"]), "lacks column.*age, plan"),
        (lambda f: f.assign(age=f["age"] + 0.5), "'age' holds number values; .* integer"),
        (lambda f: f.assign(income=f["income"].astype(str)), "'income' holds string values"),
        (lambda f: f.assign(plan=[1, 2, 3]), "'plan' holds integer values; .* string"),
    ],
)
def test_data_that_differs_is_refused_naming_the_column(
    frame: pd.DataFrame, change: object, message: str
) -> None:
    signature = Signature.infer(frame, [1, 0, 1])

    with pytest.raises(InvalidInputError, match=message):
        signature.check(change(frame))  # type: ignore[operator]


def test_an_array_is_checked_by_position() -> None:
    signature = Signature.infer(np.zeros((4, 3)), np.zeros(4))

    assert [c.name for c in signature.inputs] == ["x0", "x1", "x2"]
    signature.check(np.ones((2, 3)))
    with pytest.raises(InvalidInputError, match="x2"):
        signature.check(np.ones((2, 2)))
    with pytest.raises(InvalidInputError, match="rows x columns"):
        signature.check(np.ones(3))
