"""Alert rules: a condition on a window's numbers, how many windows in a row it must
hold, what to do when it does, and how often it may fire.

A condition is one comparison, ``METRIC OP NUMBER``::

    psi > 0.2            ks_p < 0.01           drifted_share > 0.3
    accuracy < 0.8       rmse >= 12.5          latency_p99_ms > 50

``OP`` is one of ``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=``; anything else (two
comparisons, ``and``, function calls, names not listed in :data:`METRICS`) is refused.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mlpilot.errors import InvalidInputError
from mlpilot.monitor.actions import Action, action_from_spec
from mlpilot.monitor.drift._base import adjusted_p_values
from mlpilot.store.base._monitors import Monitor

#: Metrics measured on each column a rule names (the largest or smallest of them counts).
COLUMN_METRICS = {
    "psi": ("psi", "statistic"),
    "ks": ("ks", "statistic"),
    "ks_p": ("ks", "p_value"),
    "chi2": ("chi2", "statistic"),
    "chi2_p": ("chi2", "p_value"),
}
#: Metrics of the window as a whole.
WINDOW_METRICS = (
    "drifted_share",
    "drifted_count",
    "rows",
    "labels",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "rmse",
    "mae",
    "r2",
    "latency_p50_ms",
    "latency_p99_ms",
    "latency_mean_ms",
)
#: Every metric a condition may name.
METRICS = (*COLUMN_METRICS, *WINDOW_METRICS)
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_CONDITION = re.compile(
    r"\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*"
)
#: The action every alert runs first: storing it.
_RECORD = "record"
_RULE_KEYS = ("name", "when", "features", "windows", "actions", "cooldown_s", "max_per_day")


@dataclasses.dataclass(frozen=True)
class Condition:
    """A parsed ``METRIC OP NUMBER``."""

    metric: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: Any) -> Condition:
        """Parse ``text``; raises InvalidInputError naming what is wrong."""
        if not isinstance(text, str):
            raise InvalidInputError(f"a rule's condition is text like 'psi > 0.2', got {text!r}")
        found = _CONDITION.fullmatch(text)
        if found is None:
            raise InvalidInputError(
                f"cannot read the condition {text!r}: write one comparison METRIC OP NUMBER, "
                "e.g. 'psi > 0.2' or 'accuracy < 0.8', with OP one of "
                f"{' '.join(sorted(OPERATORS, key=len))}"
            )
        metric = found["metric"]
        if metric not in METRICS:
            raise InvalidInputError(
                f"unknown metric {metric!r} in the condition {text!r}; choose from "
                f"{', '.join(METRICS)}"
            )
        threshold = float(found["number"])
        if not math.isfinite(threshold):
            raise InvalidInputError(f"the number in the condition {text!r} must be finite")
        return cls(metric, found["op"], threshold)

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


@dataclasses.dataclass(frozen=True)
class Rule:
    """When to raise an alert and what to do then.

    Attributes:
        name: unique among the monitor's rules.
        when: the condition, ``METRIC OP NUMBER``.
        features: the columns a per-column metric (``psi``, ``ks_p``, ...) and
            ``drifted_share`` look at, or ``"any"`` for all of the monitor's features;
            a per-column condition holds when it holds for at least one of them. The
            column ``prediction`` is the model's output.
        windows: how many evaluable windows in a row the condition must hold for.
        actions: what to do on firing, in order; ``record`` (storing the alert) always
            comes first, whether it is named or not.
        cooldown_s: after firing, the rule stays quiet for windows ending within this
            many seconds of the one it fired on.
        max_per_day: at most this many alerts of the rule in any 24 hours of traffic.
    """

    name: str
    when: str
    features: tuple[str, ...] | str = "any"
    windows: int = 1
    actions: tuple[Action, ...] = ()
    cooldown_s: float = 3600.0
    max_per_day: int | None = None

    def __post_init__(self) -> None:
        given = [action_from_spec(a) for a in self.actions]
        record = next((a for a in given if a.name == _RECORD), None) or action_from_spec(_RECORD)
        ordered = (record, *(a for a in given if a.name != _RECORD))
        object.__setattr__(self, "actions", ordered)

    @property
    def condition(self) -> Condition:
        return Condition.parse(self.when)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | str, default_name: str | None = None) -> Rule:
        """A rule from its stored or written form: a mapping with the attributes' names
        (``actions`` as names or ``{"kind": ...}`` mappings), or just a condition."""
        if isinstance(spec, str):
            spec = {"when": spec}
        if not isinstance(spec, Mapping):
            raise InvalidInputError(f"a rule is a table with 'when' and more, got {spec!r}")
        unknown = sorted(set(spec) - set(_RULE_KEYS))
        if unknown:
            raise InvalidInputError(
                f"unknown rule setting {', '.join(map(repr, unknown))}; a rule takes "
                f"{', '.join(_RULE_KEYS)}"
            )
        if "when" not in spec:
            raise InvalidInputError(f"the rule {dict(spec)!r} has no condition ('when')")
        condition = Condition.parse(spec["when"])
        name = spec.get("name", default_name or condition.metric)
        if not isinstance(name, str) or not name.strip() or len(name) > 250:
            raise InvalidInputError(f"a rule's name is text of 1 to 250 characters, got {name!r}")
        features = _features(spec.get("features", "any"), name)
        windows = _count(spec.get("windows", 1), f"rule {name!r}: windows", minimum=1)
        cooldown = spec.get("cooldown_s", 3600.0)
        if isinstance(cooldown, bool) or not isinstance(cooldown, int | float) or cooldown < 0:
            raise InvalidInputError(
                f"rule {name!r}: cooldown_s is a number of seconds, 0 or more; got {cooldown!r}"
            )
        per_day = spec.get("max_per_day")
        if per_day is not None:
            per_day = _count(per_day, f"rule {name!r}: max_per_day", minimum=1)
        raw_actions = spec.get("actions", [_RECORD])
        if isinstance(raw_actions, str | Mapping):
            raw_actions = [raw_actions]
        if not isinstance(raw_actions, Sequence):
            raise InvalidInputError(f"rule {name!r}: actions is a list, got {raw_actions!r}")
        actions = tuple(action_from_spec(a) for a in raw_actions)
        names = [a.name for a in actions]
        if names.count("retrain") > 1:
            raise InvalidInputError(f"rule {name!r} asks to retrain twice")
        return cls(name, str(condition), features, windows, actions, float(cooldown), per_day)

    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "when": self.when,
            "features": self.features if isinstance(self.features, str) else list(self.features),
            "windows": self.windows,
            "actions": [a.to_spec() for a in self.actions],
            "cooldown_s": self.cooldown_s,
            "max_per_day": self.max_per_day,
        }

    def columns(self, features: Sequence[str]) -> list[str]:
        """The columns the rule looks at: those it names, or all of ``features``."""
        if self.features == "any":
            return list(features)
        return list(self.features)

    def check_columns(self, features: Sequence[str], prediction: str | None) -> None:
        """Refuse a rule that names a column the monitor does not test."""
        if self.features == "any":
            return
        known = [*features, *([prediction] if prediction else [])]
        unknown = [c for c in self.features if c not in known]
        if unknown:
            raise InvalidInputError(
                f"rule {self.name!r} names columns the monitor does not test: "
                f"{', '.join(unknown)}; it tests {', '.join(known)}"
            )


def rules_of(monitor: Monitor) -> tuple[Rule, ...]:
    """The monitor's rules, read from their stored form."""
    return tuple(Rule.from_spec(spec) for spec in monitor.rules)


def window_value(
    rule: Rule, columns: Sequence[str], window: Mapping[str, Any], correction: str = "none"
) -> tuple[float | None, list[str]]:
    """The value the rule's condition reads on a stored window, and the columns where a
    per-column condition held; None where the window cannot say (not evaluable, too
    few labels, no such test). P-values are read adjusted by ``correction`` for the
    number of columns the rule reads."""
    condition = rule.condition
    metric = condition.metric
    if metric in COLUMN_METRICS:
        test, field = COLUMN_METRICS[metric]
        values = {
            r["column"]: r[field]
            for r in window.get("results") or []
            if r["test"] == test and r["column"] in columns and r.get(field) is not None
        }
        if not values:
            return None, []
        if field == "p_value":
            adjusted = adjusted_p_values(list(values.values()), correction)
            values = dict(zip(values, adjusted.tolist(), strict=True))
        held = [c for c, v in values.items() if condition.holds(float(v))]
        pick = min if condition.op in ("<", "<=") else max
        return float(pick(values.values())), held
    if metric in ("drifted_share", "drifted_count"):
        evaluated = {
            r["column"]
            for r in window.get("results") or []
            if r["column"] in columns and r.get("reason") is None
        }
        if not evaluated:
            return None, []
        drifted = [c for c in window.get("drifted_columns") or [] if c in evaluated]
        if metric == "drifted_count":
            return float(len(drifted)), drifted
        return len(drifted) / len(evaluated), drifted
    if metric == "rows":
        return float(window["rows"]), []
    if metric.startswith("latency_"):
        value = (window.get("latency") or {}).get(metric.removeprefix("latency_"))
        return (None if value is None else float(value)), []
    performance = window.get("performance") or {}
    if metric == "labels":
        return float(performance.get("labels", 0)), []
    value = (performance.get("metrics") or {}).get(metric)
    return (None if value is None else float(value)), []


def _features(value: Any, name: str) -> tuple[str, ...] | str:
    if value == "any":
        return "any"
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, Sequence)
        or not value
        or not all(isinstance(v, str) and v for v in value)
    ):
        raise InvalidInputError(
            f"rule {name!r}: features is 'any' or a list of column names, got {value!r}"
        )
    return tuple(dict.fromkeys(value))


def _count(value: Any, what: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(f"{what} is a whole number, at least {minimum}; got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class Firing:
    """A rule firing on a window: the alert to raise."""

    rule: Rule
    window_index: int
    window_end_ms: int
    message: str
    values: dict[str, Any]


def firings(
    rule: Rule,
    columns: Sequence[str],
    windows: Sequence[Mapping[str, Any]],
    first: int,
    alerts: Sequence[tuple[int, int]],
    subject: str,
    correction: str = "none",
) -> list[Firing]:
    """Where ``rule`` fires among ``windows`` (stored windows as mappings, oldest first)
    from the one numbered ``first`` on.

    A window counts when the rule's metric has a value there; the rule fires on a
    window when its condition held on it and on the ``windows - 1`` counting windows
    before it, no earlier alert of the rule (``alerts``: ``(window index, window end)``)
    is on that window or within ``cooldown_s`` of it, and ``max_per_day`` is not reached.
    """
    condition = rule.condition
    fired = list(alerts)
    found: list[Firing] = []
    counted: list[tuple[int, float, bool, list[str]]] = []  # index, value, held, columns
    cooldown_ms = rule.cooldown_s * 1000
    for window in windows:
        value, held_columns = window_value(rule, columns, window, correction)
        if value is None:
            continue
        held = bool(held_columns) if condition.metric in COLUMN_METRICS else condition.holds(value)
        counted.append((window["index"], value, held, held_columns))
        if window["index"] < first or not held or len(counted) < rule.windows:
            continue
        streak = counted[-rule.windows :]
        if not all(entry[2] for entry in streak):
            continue
        end = int(window["end_ms"])
        if any(index == window["index"] or abs(end - e) < cooldown_ms for index, e in fired):
            continue
        if rule.max_per_day is not None:
            if sum(1 for _, e in fired if 0 <= end - e < 86_400_000) >= rule.max_per_day:
                continue
        where = f" on {', '.join(held_columns)}" if held_columns else ""
        row = f" in {rule.windows} windows in a row" if rule.windows > 1 else ""
        message = (
            f"{subject}: {condition.metric} {value:.4g}{where} {condition.op} "
            f"{condition.threshold:g}{row}"
        )
        values = {
            "metric": condition.metric,
            "op": condition.op,
            "threshold": condition.threshold,
            "value": value,
            "columns": held_columns,
            "windows": [entry[0] for entry in streak],
            "values": [entry[1] for entry in streak],
        }
        found.append(Firing(rule, window["index"], end, message, values))
        fired.append((window["index"], end))
    return found
