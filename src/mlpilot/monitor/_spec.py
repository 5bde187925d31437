"""Checking the settings of a new monitor; each check returns the setting as stored, or
raises InvalidInputError with a message a user can act on."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from mlpilot.errors import InvalidInputError
from mlpilot.monitor._rules import Rule
from mlpilot.monitor.drift import DRIFT_TESTS

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,249}")
#: The window a monitor uses when given none.
DEFAULT_WINDOW = {"rows": 500}
TASKS = ("classification", "regression")
#: The profile's column for the model's output.
PREDICTION = "prediction"


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"a monitor name is 1 to 250 letters, digits, '_', '.' or '-', starting with "
            f"a letter or digit; got {name!r}"
        )
    return name


def window(rows: Any, seconds: Any) -> dict[str, int]:
    if rows is not None and seconds is not None:
        raise InvalidInputError("give a window of rows or of seconds, not both")
    if rows is not None:
        return {"rows": whole(rows, "window rows", 1)}
    if seconds is not None:
        return {"seconds": whole(seconds, "window seconds", 1)}
    return dict(DEFAULT_WINDOW)


def whole(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(f"{what} must be a whole number, at least {minimum}; got {value!r}")
    return int(value)


def drift_tests(tests: Sequence[str] | str) -> tuple[str, ...]:
    names = (tests,) if isinstance(tests, str) else tuple(tests)
    unknown = [t for t in names if t not in DRIFT_TESTS]
    if unknown or not names:
        raise InvalidInputError(
            f"drift tests are named from {', '.join(DRIFT_TESTS)}; got {list(names)!r}"
        )
    if len(set(names)) != len(names):
        raise InvalidInputError(f"a drift test is named twice in {list(names)!r}")
    return names


def features(
    chosen: Sequence[str] | None, columns: list[str], target: str | None, ref: str
) -> list[str]:
    """The columns to test: ``chosen``, or by default every column of ``ref`` but the
    target."""
    if target is not None and target not in columns:
        raise InvalidInputError(
            f"the target {target!r} is not a column of {ref}; its columns are {', '.join(columns)}"
        )
    if chosen is None:
        found = [c for c in columns if c != target]
    else:
        if isinstance(chosen, str):
            chosen = [chosen]
        found = list(dict.fromkeys(chosen))
        unknown = [f for f in found if f not in columns]
        if unknown:
            raise InvalidInputError(
                f"features not in {ref}: {', '.join(map(str, unknown))}; its columns are "
                f"{', '.join(columns)}"
            )
        if target is not None and target in found:
            raise InvalidInputError(f"the target {target!r} cannot also be a feature")
    if not found:
        raise InvalidInputError(f"no features to monitor: {ref} has no column but the target")
    return found


def task(given: str | None, registered: str | None, target: pd.Series | None) -> str:
    """The task given, else the registered model's, else guessed from the target."""
    if given is not None:
        if given not in TASKS:
            raise InvalidInputError(f"task is one of {', '.join(TASKS)}; got {given!r}")
        return given
    if registered is not None:
        return registered
    if target is not None and pd.api.types.is_float_dtype(target.dtype):
        if target.dropna().nunique() > 20:
            return "regression"
    return "classification"


def prediction_column(features: Sequence[str], target: str | None) -> str | None:
    """The profile's column for the model's output, clear of the features' names;
    None without a target to compare it with."""
    if target is None:
        return None
    name = PREDICTION
    while name in features:
        name = f"_{name}"
    return name


def rules(
    given: Sequence[Rule | Mapping[str, Any] | str], features: list[str], prediction: str | None
) -> tuple[Rule, ...]:
    """The rules, each checked against the monitored columns; a repeated name gets its
    position as a suffix."""
    if isinstance(given, str | Mapping):
        given = [given]
    parsed: list[Rule] = []
    for position, rule in enumerate(given):
        made = rule if isinstance(rule, Rule) else Rule.from_spec(rule)
        if made.name in {r.name for r in parsed}:
            made = Rule.from_spec({**made.to_spec(), "name": f"{made.name}-{position + 1}"})
        made.check_columns(features, prediction)
        parsed.append(dataclasses.replace(made, actions=tuple(a.checked() for a in made.actions)))
    return tuple(parsed)
