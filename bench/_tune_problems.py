"""The objectives the tuning benchmark searches (worker processes import them by name).

* :func:`branin` and :func:`hartmann6`: the standard test functions, to minimise.
* :func:`svr_r2`: 3-fold cross-validated R² of scikit-learn's ``SVR`` on the bundled
  diabetes data, to maximise.
* :func:`sgd_epochs`: an ``SGDClassifier`` trained epoch by epoch on the bundled digits,
  reporting its validation accuracy after every epoch, for the pruner.
* :func:`noop`: a trivial function of its parameters, for the platform's overhead.

Each has a :class:`~mlpilot.tune.Space` beside it, and the test functions their vectorised
form for Monte Carlo estimates of how rare a good point is.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from mlpilot.tune import Categorical, Float, Int, Space, Trial

# --------------------------------------------------------------------------- test functions

#: Branin's global minimum, reached at three points of its domain.
BRANIN_BEST = 0.397887
BRANIN_SPACE = Space(x=Float(-5.0, 10.0), y=Float(0.0, 15.0))

#: Hartmann-6's global minimum on the unit hypercube.
HARTMANN6_BEST = -3.32237
HARTMANN6_SPACE = Space(**{f"x{i}": Float(0.0, 1.0) for i in range(6)})

_HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_HARTMANN_A = np.array(
    [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ]
)
_HARTMANN_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def branin_values(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Branin-Hoo at every point ``(x[i], y[i])``."""
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - t) * np.cos(x) + 10


def hartmann6_values(points: np.ndarray) -> np.ndarray:
    """Hartmann-6 at every row of the ``(n, 6)`` array ``points``."""
    distance = (_HARTMANN_A * (points[:, None, :] - _HARTMANN_P) ** 2).sum(axis=-1)
    return -(_HARTMANN_ALPHA * np.exp(-distance)).sum(axis=-1)


def branin(trial: Trial) -> float:
    return float(branin_values(np.array(trial.params["x"]), np.array(trial.params["y"])))


def hartmann6(trial: Trial) -> float:
    point = np.array([[trial.params[f"x{i}"] for i in range(6)]])
    return float(hartmann6_values(point)[0])


# --------------------------------------------------------------------------- a real model

SVR_SPACE = Space(
    C=Float(1.0, 1e3, log=True),
    gamma=Float(1e-4, 1.0, log=True),
    epsilon=Float(0.1, 100.0, log=True),
)


@functools.cache
def _diabetes() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_diabetes

    features, target = load_diabetes(return_X_y=True)
    return features, target


def svr_r2(trial: Trial) -> float:
    """Mean R² of a standardised RBF support-vector regression over the same three folds
    for every trial, so that the value is a deterministic function of the parameters."""
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    features, target = _diabetes()
    model = make_pipeline(StandardScaler(), SVR(kernel="rbf", **trial.params))
    folds = KFold(3, shuffle=True, random_state=0)
    return float(cross_val_score(model, features, target, cv=folds).mean())


# --------------------------------------------------------------------------- an iterative learner


def sgd_space(epochs: int) -> Space:
    """The SGD classifier's space; ``epochs`` is a parameter with one choice, so that the
    worker reads it from the trial like everything else."""
    return Space(
        loss=Categorical(["hinge", "log_loss", "modified_huber"]),
        alpha=Float(1e-6, 1e-1, log=True),
        learning_rate=Categorical(["constant", "invscaling", "adaptive"]),
        eta0=Float(1e-5, 1.0, log=True),
        epochs=Categorical([epochs]),
    )


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    features, labels = load_digits(return_X_y=True)
    train_x, valid_x, train_y, valid_y = train_test_split(
        features / 16.0, labels, test_size=0.3, random_state=0, stratify=labels
    )
    return train_x, valid_x, train_y, valid_y, np.unique(labels)


def sgd_epochs(trial: Trial) -> float:
    """Validation accuracy after ``epochs`` epochs, reported after each one (step ``e``
    is the accuracy once ``e + 1`` epochs are done). The data are shuffled by the
    trial's number, so a trial with the same number and parameters learns the same."""
    from sklearn.linear_model import SGDClassifier

    train_x, valid_x, train_y, valid_y, classes = _digits()
    params = dict(trial.params)
    epochs = int(params.pop("epochs"))
    model = SGDClassifier(random_state=0, **params)
    shuffle = np.random.default_rng(trial.number)
    score = 0.0
    for epoch in range(epochs):
        order = shuffle.permutation(len(train_y))
        model.partial_fit(train_x[order], train_y[order], classes=classes)
        score = float(model.score(valid_x, valid_y))
        trial.report(score, step=epoch)
    return score


# --------------------------------------------------------------------------- overhead

NOOP_SPACE = Space(
    x=Float(-5.0, 10.0),
    lr=Float(1e-4, 1.0, log=True),
    depth=Int(1, 12),
    kind=Categorical(["a", "b", "c"]),
)


def noop(trial: Trial) -> float:
    return float(trial.params["x"]) + float(trial.params["depth"])


def optuna_noop(trial: Any) -> float:
    """The same space and value, as an Optuna objective suggests them."""
    x = trial.suggest_float("x", -5.0, 10.0)
    trial.suggest_float("lr", 1e-4, 1.0, log=True)
    depth = trial.suggest_int("depth", 1, 12)
    trial.suggest_categorical("kind", ["a", "b", "c"])
    return float(x) + float(depth)


def raw_noop() -> None:
    """The raw floor: a call submitted straight to an executor."""
    return None


# --------------------------------------------------------------------------- random search, exactly


def random_hit_probability(problem: str, target: float, points: int, seed: int = 0) -> float:
    """Share of uniform random points of ``problem``'s domain at or below ``target``,
    estimated from ``points`` draws. Random search needs a geometric number of trials
    to reach the target, with median ``ln 2 / -ln(1 - p)``."""
    rng = np.random.default_rng(seed)
    hits, left = 0, points
    while left:
        n = min(left, 250_000)
        if problem == "branin":
            values = branin_values(rng.uniform(-5.0, 10.0, n), rng.uniform(0.0, 15.0, n))
        else:
            values = hartmann6_values(rng.uniform(0.0, 1.0, (n, 6)))
        hits += int(np.count_nonzero(values <= target))
        left -= n
    return hits / points
