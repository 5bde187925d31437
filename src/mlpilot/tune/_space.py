"""Search spaces: the parameters a study tries, their ranges and when each exists.

A space is declared once, in Python or in TOML, and is stored with the study as JSON,
so that a resumed study searches the same space. A parameter with ``when`` exists only
for some choices of a categorical one (``C`` only when ``model`` is ``"svm"``).
"""

from __future__ import annotations

import abc
import dataclasses
import math
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from mlpilot.errors import InvalidInputError

#: Choices a categorical parameter may take: values that survive a trip through JSON.
Choice = str | int | float | bool | None

# A grid over a range with no step would be infinite; a longer one is surely a mistake.
MAX_GRID = 100_000


@dataclasses.dataclass(frozen=True)
class Param(abc.ABC):
    """What every parameter has: the choices of other parameters it exists for."""

    #: ``{"model": "svm"}`` or ``{"model": ["svm", "linear"]}``: the parameter exists
    #: only for these choices of ``model``; stored as ``{"model": ("svm",)}``.
    when: Mapping[str, Choice | Sequence[Choice]] = dataclasses.field(
        default_factory=dict, kw_only=True
    )

    def __post_init__(self) -> None:
        # when={"model": "svm"} means when={"model": ("svm",)}
        if not isinstance(self.when, Mapping):
            raise InvalidInputError(
                f"'when' is a mapping such as {{'model': 'svm'}}, not {self.when!r}"
            )
        object.__setattr__(self, "when", {k: _as_tuple(v) for k, v in self.when.items()})

    @property
    def conditions(self) -> Mapping[str, tuple[Choice, ...]]:
        """``when``, each value a tuple of choices."""
        return self.when  # type: ignore[return-value]  # made tuples in __post_init__

    @abc.abstractmethod
    def distribution(self) -> BaseDistribution:
        """The Optuna distribution of this parameter."""

    @abc.abstractmethod
    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        """Ask ``trial`` for a value of this parameter, called ``name``."""

    @abc.abstractmethod
    def grid(self, name: str) -> list[Any]:
        """Every value the grid sampler tries."""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The parameter as stored with a study (see :meth:`Space.from_dict`)."""


@dataclasses.dataclass(frozen=True)
class Float(Param):
    """A real number in ``[low, high]``; ``log`` samples its logarithm evenly."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def distribution(self) -> BaseDistribution:
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)

    def grid(self, name: str) -> list[Any]:
        if self.step is None:
            raise InvalidInputError(
                f"the grid sampler needs a step for float parameter {name!r} (e.g. step = 0.1), "
                "or use another sampler"
            )
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [self.low + i * self.step for i in range(count)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "float",
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "step": self.step,
        }


@dataclasses.dataclass(frozen=True)
class Int(Param):
    """A whole number in ``[low, high]``, every ``step``; ``log`` as for :class:`Float`."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def distribution(self) -> BaseDistribution:
        return IntDistribution(self.low, self.high, log=self.log, step=self.step)

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step)

    def grid(self, name: str) -> list[Any]:
        return list(range(self.low, self.high + 1, self.step))

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "int",
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "step": self.step,
        }


@dataclasses.dataclass(frozen=True)
class Categorical(Param):
    """One of ``choices``."""

    choices: Sequence[Choice]

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.choices, list | tuple):
            object.__setattr__(self, "choices", tuple(self.choices))

    def distribution(self) -> BaseDistribution:
        return CategoricalDistribution(self.choices)

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_categorical(name, self.choices)

    def grid(self, name: str) -> list[Any]:
        return list(self.choices)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": list(self.choices)}


_KINDS: dict[str, type[Param]] = {"float": Float, "int": Int, "categorical": Categorical}


class Space:
    """Named parameters, checked together: ``Space(lr=Float(1e-4, 1e-1, log=True), ...)``.

    Raises:
        InvalidInputError: An empty space, a range whose low end is above its high end,
            a log range that reaches zero, a categorical with no or repeated choices, or
            a ``when`` that names a parameter that is not a categorical one of this
            space or a choice it does not have.
    """

    def __init__(self, params: Mapping[str, Param] | None = None, /, **named: Param) -> None:
        merged = {**(params or {}), **named}
        if not merged:
            raise InvalidInputError(
                "the search space is empty; declare at least one parameter, "
                "e.g. Space(lr=Float(1e-4, 1e-1, log=True))"
            )
        for name, param in merged.items():
            _check_param(name, param)
        self.params: dict[str, Param] = {name: merged[name] for name in _ordered(merged)}

    def __repr__(self) -> str:
        return f"Space({', '.join(self.params)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and other.to_dict() == self.to_dict()

    @property
    def conditional(self) -> bool:
        return any(param.when for param in self.params.values())

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Ask ``trial`` for a value of each parameter that exists given the others."""
        chosen: dict[str, Any] = {}
        for name, param in self.params.items():
            if _applies(param, chosen):
                chosen[name] = param.suggest(trial, name)
        return chosen

    def distributions(self, params: Mapping[str, Any]) -> dict[str, BaseDistribution]:
        """The distributions of the parameters a trial with ``params`` has."""
        return {name: self.params[name].distribution() for name in params if name in self.params}

    def grid(self) -> list[dict[str, Any]]:
        """Every point of the space, when each parameter has finitely many values."""
        points: list[dict[str, Any]] = [{}]
        for name, param in self.params.items():
            values = param.grid(name)
            grown: list[dict[str, Any]] = []
            for point in points:
                if _applies(param, point):
                    grown.extend({**point, name: value} for value in values)
                else:
                    grown.append(point)
            points = grown
            if len(points) > MAX_GRID:
                raise InvalidInputError(
                    f"the grid has more than {MAX_GRID:,} points; coarsen the steps or use "
                    "a sampler that searches (tpe, gp, random)"
                )
        return points

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for name, param in self.params.items():
            entry = param.to_dict()
            if param.when:
                entry["when"] = {k: list(v) for k, v in param.conditions.items()}
            out[name] = entry
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "the space") -> Space:
        """The space ``data`` describes: ``{name: {"type": "float", "low": ..., ...}}``."""
        if not isinstance(data, Mapping):
            raise InvalidInputError(f"{where} must be a table of parameters")
        params = {}
        for name, entry in data.items():
            if not isinstance(entry, Mapping):
                raise InvalidInputError(
                    f"{where}: parameter {name!r} must be a table such as "
                    '{type = "float", low = 0.001, high = 1.0}'
                )
            entry = dict(entry)
            kind = entry.pop("type", None)
            if kind not in _KINDS:
                raise InvalidInputError(
                    f"{where}: parameter {name!r} has type {kind!r}; "
                    f"use one of {', '.join(map(repr, _KINDS))}"
                )
            when = entry.pop("when", None) or {}
            if not isinstance(when, Mapping):
                raise InvalidInputError(f"{where}: 'when' of {name!r} must be a table")
            entry["when"] = when
            try:
                params[name] = _KINDS[kind](**entry)
            except TypeError as exc:
                raise InvalidInputError(f"{where}: parameter {name!r}: {exc}") from None
        return cls(params)

    @classmethod
    def from_toml(cls, path: str | Path) -> Space:
        """Read a space from a TOML file with one table per parameter::

        [lr]
        type = "float"
        low = 1e-4
        high = 0.1
        log = true

        [depth]
        type = "int"
        low = 2
        high = 12
        when = { model = "forest" }
        """
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise InvalidInputError(f"no search space file {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInputError(f"{path} is not valid TOML: {exc}") from None
        return cls.from_dict(data.get("params", data), where=str(path))


def as_space(space: Space | Mapping[str, Param] | str | Path) -> Space:
    """A :class:`Space` from a space, a mapping of parameters, or a TOML file's path."""
    if isinstance(space, Space):
        return space
    if isinstance(space, str | Path):
        return Space.from_toml(space)
    return Space(space)


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def _check_param(name: str, param: Any) -> None:
    if not isinstance(name, str) or not name or len(name) > 250:
        raise InvalidInputError(f"parameter names are non-empty text, not {name!r}")
    if not isinstance(param, Param):
        raise InvalidInputError(
            f"parameter {name!r} must be Float(...), Int(...) or Categorical(...), not {param!r}"
        )
    if isinstance(param, Categorical):
        if not param.choices:
            raise InvalidInputError(f"categorical parameter {name!r} has no choices")
        if len(set(map(repr, param.choices))) != len(param.choices):
            raise InvalidInputError(f"categorical parameter {name!r} repeats a choice")
        for choice in param.choices:
            if not isinstance(choice, Choice):
                raise InvalidInputError(
                    f"categorical parameter {name!r}: choices are text, numbers, booleans "
                    f"or None, not {choice!r}"
                )
        return
    assert isinstance(param, Float | Int)
    number = (int,) if isinstance(param, Int) else (int, float)
    for end in ("low", "high"):
        value = getattr(param, end)
        if isinstance(value, bool) or not isinstance(value, number) or not math.isfinite(value):
            kind = "a whole number" if isinstance(param, Int) else "a finite number"
            raise InvalidInputError(f"parameter {name!r}: {end} must be {kind}, got {value!r}")
    if param.low > param.high:
        raise InvalidInputError(
            f"parameter {name!r}: low ({param.low}) is above high ({param.high})"
        )
    if param.log and param.low <= 0:
        raise InvalidInputError(
            f"parameter {name!r}: a log range must stay above 0, but low is {param.low}"
        )
    if param.step is not None and not param.step > 0:
        raise InvalidInputError(f"parameter {name!r}: step must be > 0, got {param.step}")
    if param.log and param.step not in (None, 1):
        raise InvalidInputError(f"parameter {name!r}: a log range cannot also have a step")
    if param.step is not None:
        steps = (param.high - param.low) / param.step
        if abs(steps - round(steps)) > 1e-9 * max(1.0, abs(steps)):
            raise InvalidInputError(
                f"parameter {name!r}: the range {param.low}..{param.high} is not a whole "
                f"number of steps of {param.step}; make high - low a multiple of the step"
            )
    try:
        param.distribution()
    except ValueError as exc:
        raise InvalidInputError(f"parameter {name!r}: {exc}") from None


def _ordered(params: Mapping[str, Param]) -> list[str]:
    """Names with every parameter after the ones its ``when`` names; checks each ``when``."""
    for name, param in params.items():
        for parent, values in param.conditions.items():
            other = params.get(parent)
            if parent == name or not isinstance(other, Categorical):
                raise InvalidInputError(
                    f"parameter {name!r} exists 'when' {parent!r} has some value, but "
                    f"{parent!r} is not another categorical parameter of the space"
                )
            missing = [v for v in values if v not in other.choices]
            if not values or missing:
                raise InvalidInputError(
                    f"parameter {name!r} exists when {parent!r} is {list(values)!r}, but "
                    f"{parent!r} has only the choices {list(other.choices)!r}"
                )
    done: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise InvalidInputError(f"the 'when' conditions of {name!r} form a cycle")
        visiting.add(name)
        for parent in params[name].when:
            visit(parent)
        visiting.discard(name)
        done.append(name)

    for name in params:
        visit(name)
    return done


def _applies(param: Param, chosen: Mapping[str, Any]) -> bool:
    return all(k in chosen and chosen[k] in v for k, v in param.conditions.items())
