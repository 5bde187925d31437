"""Samplers: Optuna's, driven through its ask-and-tell interface.

Optuna does the search; mlpilot keeps the record. Each study holds an in-memory Optuna
study that a resumed study rebuilds from the stored trials, so Optuna's own storage is
never the source of truth.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import optuna
from optuna.exceptions import ExperimentalWarning

from mlpilot.errors import InvalidInputError
from mlpilot.tune._space import Space

#: Sampler names, with what each is for.
SAMPLERS = {
    "tpe": "Tree-structured Parzen estimator: the default; conditional spaces, any budget",
    "gp": "Gaussian-process Bayesian optimisation: few, costly trials (needs PyTorch)",
    "cmaes": "CMA-ES: continuous spaces, hundreds of trials, one objective",
    "nsga2": "NSGA-II, a genetic algorithm: several objectives",
    "random": "independent uniform draws: the baseline",
    "grid": "every point of the space once, in random order",
}


def make_sampler(
    name: str, *, seed: int | None, space: Space, objectives: int
) -> optuna.samplers.BaseSampler:
    """The Optuna sampler ``name`` stands for, set up for parallel trials.

    Raises:
        InvalidInputError: An unknown name, a sampler that cannot search this many
            objectives, or one whose optional dependency is missing.
    """
    if name not in SAMPLERS:
        raise InvalidInputError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
    if name == "cmaes" and objectives > 1:
        raise InvalidInputError(
            "sampler 'cmaes' optimises one objective; use 'nsga2', 'tpe' or 'gp' for several"
        )
    with quiet():
        if name == "tpe":
            # The constant liar makes running trials count as bad results, so that trials
            # asked for while others run spread out instead of piling on one point.
            return optuna.samplers.TPESampler(
                seed=seed, constant_liar=True, multivariate=True, group=space.conditional
            )
        if name == "gp":
            try:
                import torch  # noqa: F401
            except ImportError:
                raise InvalidInputError(
                    "sampler 'gp' needs PyTorch; install it with pip install 'mlpilot[gp]'"
                ) from None
            # Optuna's GP sampler conditions on running trials, like a constant liar.
            return optuna.samplers.GPSampler(seed=seed)
        if name == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed)
        # "random", and "grid", whose points the study enqueues in a shuffled order.
        return optuna.samplers.RandomSampler(seed=seed)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence Optuna's line per trial and its warnings about experimental options:
    mlpilot reports trials itself."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)
