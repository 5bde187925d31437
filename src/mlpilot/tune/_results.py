"""A stored study as a user reads it: its trials, the best of them, what mattered."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.trial import TrialState

from mlpilot.errors import InvalidInputError
from mlpilot.store.base._studies import FINISHED, StudyRecord, TrialRecord
from mlpilot.tracking import TrackingClient
from mlpilot.tune._samplers import quiet
from mlpilot.tune._space import Space

# fANOVA over shallow trees: a second or two for a thousand trials, not ten.
_FANOVA = {"n_trees": 16, "max_depth": 8, "seed": 0}


def frozen(
    trial: TrialRecord, space: Space, reports: Mapping[int, float]
) -> optuna.trial.FrozenTrial:
    """A stored trial as Optuna knows trials, for a sampler to learn from."""
    state = {
        "complete": TrialState.COMPLETE,
        "pruned": TrialState.PRUNED,
    }.get(trial.state, TrialState.FAIL)
    return optuna.trial.create_trial(
        state=state,
        params=trial.params,
        distributions=space.distributions(trial.params),
        values=trial.values if state == TrialState.COMPLETE else None,
        intermediate_values=dict(reports),
    )


class Study:
    """A stored study: its trials, the best of them, and what mattered."""

    def __init__(
        self,
        record: StudyRecord,
        trials: list[TrialRecord],
        client: TrackingClient,
        sampler_s: float = 0.0,
    ) -> None:
        self.record = record
        self.trials = trials
        self.client = client
        #: Seconds the sampler spent asking and being told, in the latest drive.
        self.sampler_s = sampler_s

    @classmethod
    def load(
        cls,
        ref: str,
        *,
        client: TrackingClient | None = None,
        status: str | None = None,
        sampler_s: float = 0.0,
    ) -> Study:
        """The study ``ref`` names: its run id (or a unique prefix) or its name."""
        client = client or TrackingClient()
        records = client.store.studies
        record = records.get(ref)
        if status is not None:
            record = dataclasses.replace(record, status=status)
        return cls(record, records.trials(record.run_id), client, sampler_s)

    def __repr__(self) -> str:
        return f"Study({self.name!r}, {len(self.trials)} trials, {self.status})"

    @property
    def id(self) -> str:
        return self.record.run_id

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def directions(self) -> list[str]:
        return self.record.directions

    @property
    def space(self) -> Space:
        return Space.from_dict(self.record.space)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for trial in self.trials:
            out[trial.state] = out.get(trial.state, 0) + 1
        return out

    @property
    def complete(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.state == "complete" and t.values]

    @property
    def best_trial(self) -> TrialRecord:
        """The complete trial with the best value (one objective)."""
        if len(self.directions) > 1:
            raise InvalidInputError(
                "a study with several objectives has no single best trial; see pareto_front"
            )
        if not self.complete:
            raise InvalidInputError(f"study {self.name!r} has no complete trial yet")
        sign = 1 if self.directions[0] == "maximize" else -1
        return max(self.complete, key=lambda t: (sign * t.values[0], -t.number))  # type: ignore[index]

    @property
    def best_params(self) -> dict[str, Any]:
        return self.best_trial.params

    @property
    def best_value(self) -> float:
        values = self.best_trial.values
        assert values is not None
        return values[0]

    @property
    def pareto_front(self) -> list[TrialRecord]:
        """The complete trials that no other trial beats on every objective."""
        signs = [1 if d == "maximize" else -1 for d in self.directions]
        points = [
            (t, [s * v for s, v in zip(signs, t.values or [], strict=True)]) for t in self.complete
        ]
        return [
            t
            for t, p in points
            if not any(all(a >= b for a, b in zip(q, p, strict=True)) and q != p for _, q in points)
        ]

    def to_dict(self) -> dict[str, Any]:
        """The study as JSON-able values: its record (``study_id`` for its run id), its
        trials by state, and its best trial (its Pareto front for several objectives)."""
        best: Any = None
        if self.complete and len(self.directions) == 1:
            best = self.best_trial.to_dict()
        elif self.complete:
            best = [t.to_dict() for t in self.pareto_front]
        record = self.record.to_dict()
        return {
            "study_id": record.pop("run_id"),
            **record,
            "trials_by_state": self.counts(),
            "best": best,
        }

    def optuna_study(self) -> optuna.Study:
        """The trials as an in-memory Optuna study, for Optuna's analysis and plots."""
        reports = self.client.store.studies.reports(self.id)
        space = self.space
        with quiet():
            study = optuna.create_study(directions=self.directions)  # type: ignore[arg-type]
            for trial in self.trials:
                if trial.state in FINISHED:
                    study.add_trial(frozen(trial, space, reports.get(trial.run_id, {})))
        return study

    def importances(self) -> dict[str, float]:
        """How much each parameter explains of the first objective (fANOVA), summing
        to 1; empty while fewer than two trials are complete or nothing varies.

        Read from the study's report when it has one, else computed (about a second).
        """
        if self.status != "running" and "importances.json" in {
            a.path for a in self.client.list_artifacts(self.id)
        }:
            stored: dict[str, float] = json.loads(
                self.client.read_artifact(self.id, "importances.json")
            )
            return stored
        return self.compute_importances()

    def compute_importances(self) -> dict[str, float]:
        if len(self.complete) < 2 or len(self.directions) > 1:
            return {}
        study = self.optuna_study()
        try:
            with quiet():
                found = optuna.importance.get_param_importances(
                    study,
                    evaluator=optuna.importance.FanovaImportanceEvaluator(**_FANOVA),
                    target=lambda t: t.values[0],
                )
            return {name: float(share) for name, share in found.items()}
        except (RuntimeError, ValueError):
            return {}  # no parameter is shared by every complete trial, or none varies
