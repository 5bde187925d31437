"""Search spaces: their parameters, conditions, TOML files, grids and bad input."""

from __future__ import annotations

import math
import re
import statistics
from pathlib import Path

import optuna
import pytest

from mlpilot.errors import InvalidInputError
from mlpilot.tune import Categorical, Float, Int, Space
from mlpilot.tune._samplers import quiet

MODELS = Space(
    model=Categorical(["svm", "forest", "linear"]),
    C=Float(1e-3, 1e3, log=True, when={"model": "svm"}),
    kernel=Categorical(["rbf", "poly"], when={"model": "svm"}),
    degree=Int(2, 4, when={"kernel": "poly"}),
    depth=Int(2, 12, when={"model": ["forest"]}),
)

MODELS_TOML = """
[model]
type = "categorical"
choices = ["svm", "forest", "linear"]

[C]
type = "float"
low = 1e-3
high = 1e3
log = true
when = { model = "svm" }

[kernel]
type = "categorical"
choices = ["rbf", "poly"]
when = { model = "svm" }

[degree]
type = "int"
low = 2
high = 4
when = { kernel = "poly" }

[depth]
type = "int"
low = 2
high = 12
when = { model = ["forest"] }
"""


def draws(space: Space, count: int, seed: int = 0) -> list[dict[str, object]]:
    """Points a random sampler picks from ``space``."""
    with quiet():
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        points = []
        for _ in range(count):
            trial = study.ask()
            points.append(space.suggest(trial))
            study.tell(trial, 0.0)
    return points


def test_points_stay_in_their_ranges_steps_and_choices() -> None:
    space = Space(
        lr=Float(1e-4, 1.0, log=True),
        dropout=Float(0.0, 0.5, step=0.1),
        layers=Int(1, 9, step=2),
        width=Int(16, 1024, log=True),
        act=Categorical(["relu", "tanh", None]),
    )

    points = draws(space, 200)

    for p in points:
        assert set(p) == {"lr", "dropout", "layers", "width", "act"}
        assert 1e-4 <= p["lr"] <= 1.0
        assert 0.0 <= p["dropout"] <= 0.5
        assert math.isclose(p["dropout"] * 10, round(p["dropout"] * 10), abs_tol=1e-9)
        assert isinstance(p["layers"], int) and p["layers"] in (1, 3, 5, 7, 9)
        assert isinstance(p["width"], int) and 16 <= p["width"] <= 1024
        assert p["act"] in ("relu", "tanh", None)
    # A log range is sampled evenly in its logarithm: most draws sit far below the middle.
    assert statistics.median(p["lr"] for p in points) < 0.05
    assert statistics.median(p["width"] for p in points) < 300
    assert {p["act"] for p in points} == {"relu", "tanh", None}


def test_a_conditional_parameter_exists_only_for_its_choices() -> None:
    points = draws(MODELS, 200)

    for p in points:
        expected = {"model"}
        if p["model"] == "svm":
            expected |= {"C", "kernel"} | ({"degree"} if p["kernel"] == "poly" else set())
        if p["model"] == "forest":
            expected |= {"depth"}
        assert set(p) == expected, p
    assert {p["model"] for p in points} == {"svm", "forest", "linear"}
    assert any("degree" in p for p in points)


def test_parameters_come_after_the_ones_their_condition_names() -> None:
    space = Space(
        depth=Int(2, 12, when={"model": "forest"}), model=Categorical(["forest", "linear"])
    )
    assert list(space.params) == ["model", "depth"]
    assert space.conditional
    assert not Space(x=Float(0, 1)).conditional


def test_a_toml_file_gives_the_same_space_as_python(tmp_path: Path) -> None:
    path = tmp_path / "space.toml"
    path.write_text(MODELS_TOML)
    nested = tmp_path / "nested.toml"
    # The parameters may also sit under one [params] table, beside other settings.
    nested.write_text(re.sub(r"^\[", "[params.", MODELS_TOML, flags=re.MULTILINE))

    assert Space.from_toml(path) == MODELS
    assert Space.from_toml(str(nested)) == MODELS
    assert Space.from_toml(path).params["depth"].when == {"model": ("forest",)}


def test_a_space_survives_a_trip_through_a_dict() -> None:
    again = Space.from_dict(MODELS.to_dict())

    assert again == MODELS
    assert again.to_dict() == MODELS.to_dict()
    assert again.params["C"] == MODELS.params["C"]
    assert MODELS.to_dict()["C"] == {
        "type": "float",
        "low": 1e-3,
        "high": 1e3,
        "log": True,
        "step": None,
        "when": {"model": ["svm"]},
    }
    assert Space(x=Float(0, 1)) != Space(x=Float(0, 2))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Space(), "the search space is empty"),
        (lambda: Space(x=Float(1.0, 0.5)), "low (1.0) is above high (0.5)"),
        (lambda: Space(n=Int(5, 2)), "low (5) is above high (2)"),
        (lambda: Space(x=Float(0.0, 1.0, log=True)), "a log range must stay above 0"),
        (lambda: Space(n=Int(-3, 8, log=True)), "a log range must stay above 0"),
        (lambda: Space(x=Float(0.0, math.inf)), "high must be a finite number"),
        (lambda: Space(x=Float(0.0, 1.0, step=0)), "step must be > 0"),
        (lambda: Space(c=Categorical([])), "categorical parameter 'c' has no choices"),
        (lambda: Space(c=Categorical(["a", "b", "a"])), "categorical parameter 'c' repeats"),
        (lambda: Space(x=3), "must be Float(...), Int(...) or Categorical(...)"),
        (
            lambda: Space(depth=Int(2, 9, when={"model": "forest"})),
            "'model' is not another categorical parameter",
        ),
        (
            lambda: Space(x=Float(0, 1), depth=Int(2, 9, when={"x": 0.5})),
            "'x' is not another categorical parameter",
        ),
        (
            lambda: Space(
                model=Categorical(["svm", "forest"]), depth=Int(2, 9, when={"model": "tree"})
            ),
            "'model' has only the choices ['svm', 'forest']",
        ),
        (
            lambda: Space(
                a=Categorical(["u", "v"], when={"b": "p"}),
                b=Categorical(["p", "q"], when={"a": "u"}),
            ),
            "form a cycle",
        ),
    ],
)
def test_a_bad_space_is_refused_with_a_clear_message(make: object, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        make()  # type: ignore[operator]
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[x]\ntype = "bool"\n', "parameter 'x' has type 'bool'; use one of"),
        ("[x]\nlow = 1\n", "parameter 'x' has type None"),
        ('[x]\ntype = "float"\nlow = 0\nhigh = 1\nstride = 2\n', "parameter 'x':"),
        ('[x]\ntype = "float"\nlow = 2\nhigh = 1\n', "low (2) is above high (1)"),
        ("x = 3\n", "parameter 'x' must be a table"),
        ("[x\ntype = 1\n", "is not valid TOML"),
    ],
)
def test_a_bad_toml_file_is_refused_with_a_clear_message(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "space.toml"
    path.write_text(text)
    with pytest.raises(InvalidInputError) as caught:
        Space.from_toml(path)
    assert message in str(caught.value)


def test_a_missing_toml_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no search space file .*nowhere.toml"):
        Space.from_toml(tmp_path / "nowhere.toml")


def test_the_grid_holds_each_point_once_and_respects_conditions() -> None:
    space = Space(
        model=Categorical(["svm", "forest", "linear"]),
        C=Float(0.1, 1.0, step=0.45, when={"model": "svm"}),
        depth=Int(2, 6, step=2, when={"model": "forest"}),
    )

    grid = space.grid()

    rounded = [{k: round(v, 9) if isinstance(v, float) else v for k, v in p.items()} for p in grid]
    assert sorted(rounded, key=repr) == sorted(
        [
            {"model": "svm", "C": 0.1},
            {"model": "svm", "C": 0.55},
            {"model": "svm", "C": 1.0},
            {"model": "forest", "depth": 2},
            {"model": "forest", "depth": 4},
            {"model": "forest", "depth": 6},
            {"model": "linear"},
        ],
        key=repr,
    )


def test_the_grid_refuses_a_float_without_a_step() -> None:
    space = Space(n=Int(1, 3), x=Float(0.0, 1.0))
    with pytest.raises(InvalidInputError, match="needs a step for float parameter 'x'"):
        space.grid()
