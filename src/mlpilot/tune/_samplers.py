"""Samplers: Optuna's, driven through its ask-and-tell interface.

Optuna does the search; mlpilot keeps the record. Each study holds an in-memory Optuna
study that a resumed study rebuilds from the stored trials, so Optuna's own storage is
never the source of truth.

Samplers are found by name in :data:`SAMPLERS`. Each name stands for a factory called
with the keyword arguments ``seed`` (``int | None``), ``space`` (the study's
:class:`~mlpilot.tune.Space`) and ``objectives`` (how many), which returns an Optuna
``BaseSampler``. A package adds a sampler by declaring such a factory (or a sampler
class taking those arguments) as an entry point in the group ``mlpilot.samplers``.
Optuna is imported only when a sampler is made.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mlpilot._plugins import Registry
from mlpilot.errors import InvalidInputError
from mlpilot.tune._space import Space

if TYPE_CHECKING:
    from optuna.samplers import BaseSampler

#: Samplers by the name a study is told to use.
SAMPLERS: Registry[BaseSampler] = Registry(
    "samplers",
    "sampler",
    "optuna.samplers:BaseSampler",
    {
        name: f"mlpilot.tune._samplers:_{name}"
        for name in ("tpe", "gp", "cmaes", "nsga2", "random", "grid")
    },
)


def make_sampler(
    name: str | BaseSampler, *, seed: int | None, space: Space, objectives: int
) -> BaseSampler:
    """The Optuna sampler ``name`` stands for, set up for parallel trials; an Optuna
    ``BaseSampler`` is used as it is.

    Raises:
        InvalidInputError: An unknown name, a sampler that cannot search this many
            objectives, or one whose optional dependency is missing.
    """
    if isinstance(name, str) and ":" in name and name not in SAMPLERS:
        raise InvalidInputError(
            f"this study ran with the sampler object {name}, which has no name to make it "
            "by; pass an instance of it as the sampler"
        )
    with quiet():
        return SAMPLERS.get(name, seed=seed, space=space, objectives=objectives)


def sampler_name(sampler: str | BaseSampler) -> str:
    """The name a study records for ``sampler``: its name, or for an Optuna sampler
    object, the import path of its class (a study resumed from it needs the object
    passed again)."""
    if isinstance(sampler, str):
        return sampler
    return f"{type(sampler).__module__}:{type(sampler).__qualname__}"


def _tpe(*, seed: int | None, space: Space, objectives: int) -> BaseSampler:
    """Tree-structured Parzen estimator: the default; conditional spaces, any budget."""
    import optuna

    # The constant liar makes running trials count as bad results, so that trials asked
    # for while others run spread out instead of piling on one point.
    return optuna.samplers.TPESampler(
        seed=seed, constant_liar=True, multivariate=True, group=space.conditional
    )


def _gp(*, seed: int | None, space: Space, objectives: int) -> BaseSampler:
    """Gaussian-process Bayesian optimisation: few, costly trials (needs PyTorch)."""
    import optuna

    try:
        import torch  # noqa: F401
    except ImportError:
        raise InvalidInputError(
            "sampler 'gp' needs PyTorch; install it with pip install 'mlpilot[gp]'"
        ) from None
    # Optuna's GP sampler conditions on running trials, like a constant liar.
    return optuna.samplers.GPSampler(seed=seed)


def _cmaes(*, seed: int | None, space: Space, objectives: int) -> BaseSampler:
    """CMA-ES: continuous spaces, hundreds of trials, one objective."""
    import optuna

    if objectives > 1:
        raise InvalidInputError(
            "sampler 'cmaes' optimises one objective; use 'nsga2', 'tpe' or 'gp' for several"
        )
    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _nsga2(*, seed: int | None, space: Space, objectives: int) -> BaseSampler:
    """NSGA-II, a genetic algorithm: several objectives."""
    import optuna

    return optuna.samplers.NSGAIISampler(seed=seed)


def _random(*, seed: int | None, space: Space, objectives: int) -> BaseSampler:
    """Independent uniform draws: the baseline."""
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _grid(*, seed: int | None, space: Space, objectives: int) -> BaseSampler:
    """Every point of the space once, in random order: the study enqueues the points,
    shuffled, and random draws stand behind them."""
    return _random(seed=seed, space=space, objectives=objectives)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence Optuna's line per trial and its warnings about experimental options:
    mlpilot reports trials itself."""
    import optuna
    from optuna.exceptions import ExperimentalWarning

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)
