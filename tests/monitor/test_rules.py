"""Alert rules: the strict grammar of their conditions, and when they fire."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from mlpilot.errors import InvalidInputError
from mlpilot.monitor import Action, Condition, Rule
from mlpilot.monitor._rules import firings
from mlpilot.monitor.actions import RecordAction


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("psi > 0.2", ("psi", ">", 0.2)),
        ("ks_p<0.01", ("ks_p", "<", 0.01)),
        ("  accuracy <= .8 ", ("accuracy", "<=", 0.8)),
        ("latency_p99_ms >= 5e1", ("latency_p99_ms", ">=", 50.0)),
        ("drifted_share != -1", ("drifted_share", "!=", -1.0)),
        ("rows == 0", ("rows", "==", 0.0)),
    ],
)
def test_conditions_are_one_comparison(text: str, parsed: tuple[str, str, float]) -> None:
    condition = Condition.parse(text)
    assert (condition.metric, condition.op, condition.threshold) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("psi > 0.2 and ks_p < 0.01", "one comparison"),
        ("psi => 0.2", "one comparison"),
        ("psi > x", "one comparison"),
        ("__import__('os') > 1", "one comparison"),
        ("0.2 < psi", "one comparison"),
        ("speed > 1", "unknown metric 'speed'"),
        ("psi > 1e999", "finite"),
        ("", "one comparison"),
    ],
)
def test_anything_else_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Condition.parse(text)


def test_a_rule_round_trips_through_its_spec() -> None:
    rule = Rule.from_spec(
        {
            "name": "drift",
            "when": "psi > 0.2",
            "features": ["a", "b"],
            "windows": 2,
            "actions": ["record", {"kind": "webhook", "url": "http://127.0.0.1:9/x"}],
            "cooldown_s": 60,
            "max_per_day": 3,
        }
    )
    assert Rule.from_spec(rule.to_spec()).to_spec() == rule.to_spec()
    assert [a.name for a in rule.actions] == ["record", "webhook"]
    assert Rule.from_spec("accuracy < 0.8").name == "accuracy"


@pytest.mark.parametrize(
    "actions",
    [
        [{"kind": "record"}],
        ["record"],
        [],
        [{"kind": "webhook", "url": "http://127.0.0.1:9/x"}, {"kind": "record"}],
        [RecordAction(), "rollback"],
    ],
)
def test_record_is_an_action_like_the_others_and_always_first(actions: list[Any]) -> None:
    rule = Rule.from_spec({"when": "psi > 0.2", "actions": actions})

    names = [a.name for a in rule.actions]
    assert names[0] == "record" and names.count("record") == 1
    assert all(isinstance(a, Action) for a in rule.actions)
    assert isinstance(rule.actions[0], RecordAction)
    again = Rule.from_spec(rule.to_spec())
    assert [a.to_spec() for a in again.actions] == [a.to_spec() for a in rule.actions]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"when": "psi > 0.2", "windows": 0}, "windows"),
        ({"when": "psi > 0.2", "cooldown_s": -1}, "cooldown_s"),
        ({"when": "psi > 0.2", "features": []}, "features"),
        ({"when": "psi > 0.2", "actions": [{"kind": "webhook"}]}, "webhook"),
        ({"when": "psi > 0.2", "actions": [{"kind": "retrain", "pipeline": "x"}]}, "FILE:PIPELINE"),
        ({"when": "psi > 0.2", "every": 2}, "unknown rule setting 'every'"),
        ({"name": "x"}, "no condition"),
    ],
)
def test_bad_rules_are_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Rule.from_spec(spec)


def window(index: int, psi: float | None, accuracy: float | None = None) -> dict[str, Any]:
    results = (
        []
        if psi is None
        else [{"column": "a", "test": "psi", "statistic": psi, "p_value": None, "reason": None}]
    )
    return {
        "index": index,
        "end_ms": (index + 1) * 60_000,  # a window a minute
        "rows": 100,
        "results": results,
        "drifted_columns": ["a"] if psi is not None and psi > 0.2 else [],
        "performance": {
            "labels": 50,
            "metrics": {} if accuracy is None else {"accuracy": accuracy},
        },
        "latency": {},
    }


def fired(
    rule: Rule, windows: list[dict[str, Any]], alerts: Sequence[tuple[int, int]] = ()
) -> list[int]:
    return [f.window_index for f in firings(rule, ["a"], windows, 0, alerts, "m")]


def test_a_rule_fires_after_its_windows_in_a_row() -> None:
    rule = Rule.from_spec({"when": "psi > 0.2", "windows": 2, "cooldown_s": 0})
    psis = [0.1, 0.3, 0.1, 0.3, 0.3, 0.3]
    assert fired(rule, [window(i, p) for i, p in enumerate(psis)]) == [4, 5]


def test_windows_that_cannot_say_are_skipped_not_counted() -> None:
    rule = Rule.from_spec({"when": "psi > 0.2", "windows": 2, "cooldown_s": 0})
    windows = [window(0, 0.3), window(1, None), window(2, 0.3)]
    assert fired(rule, windows) == [2]


def test_cooldown_and_max_per_day_hold_a_rule_back() -> None:
    windows = [window(i, 0.5) for i in range(10)]
    assert fired(Rule.from_spec({"when": "psi > 0.2", "cooldown_s": 180}), windows) == [0, 3, 6, 9]
    capped = Rule.from_spec({"when": "psi > 0.2", "cooldown_s": 0, "max_per_day": 2})
    assert fired(capped, windows) == [0, 1]
    # an alert already raised on window 4 (ending at 300 s) holds back windows ending
    # less than 120 s from it, and is not raised again
    assert fired(
        Rule.from_spec({"when": "psi > 0.2", "cooldown_s": 120}), windows, [(4, 300_000)]
    ) == [0, 2, 6, 8]


def test_window_metrics_compare_as_written() -> None:
    rule = Rule.from_spec("accuracy < 0.8")
    windows = [window(0, 0.1, 0.9), window(1, 0.1, 0.7), window(2, 0.1, None)]
    [firing] = firings(rule, ["a"], windows, 0, [], "churn")
    assert firing.window_index == 1 and firing.values["value"] == 0.7
    assert firing.message == "churn: accuracy 0.7 < 0.8"
