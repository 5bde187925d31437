"""The model registry's records: models, their versions, aliases, alias moves and the
gate's decisions.

:class:`RegistryRecords` is what :mod:`mlpilot.registry` records and asks; it stores a
model's scoring and gate, and a version's evaluation and signature, as the JSON objects
their ``to_dict()`` gives, and the registry turns them back into objects.
:class:`mlpilot.testing.RegistryRecordsContract` is the contract every implementation
passes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

#: What the gate's decision led to: the alias moved because the challenger passed, moved
#: although it did not (someone overrode the gate, with a reason), or stayed.
OUTCOMES = ("promote", "override", "refuse")


@dataclasses.dataclass(frozen=True)
class ModelRecord:
    """A declared model: how its versions are scored and the gate they pass."""

    name: str
    description: str
    #: ``Scoring.to_dict()`` of :mod:`mlpilot.evaluate`.
    scoring: dict[str, Any]
    #: ``GatePolicy.to_dict()`` of :mod:`mlpilot.evaluate`.
    gate: dict[str, Any]
    created_ms: int
    #: Each alias and the version it points at.
    aliases: dict[str, int]
    latest_version: int | None

    def to_dict(self) -> dict[str, Any]:
        """The model as JSON-able values (its time in UTC milliseconds)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class VersionRecord:
    """One registered version of a model: the run and model bytes it points at."""

    model: str
    #: 1, 2, 3... in the order the versions were registered.
    version: int
    run_id: str
    #: The path the run logged the model under.
    artifact: str
    #: The sha256 of the model's bytes.
    digest: str
    flavor: str
    #: The dataset version it was trained on, ``name@vN``.
    dataset: str | None
    #: ``Evaluation.to_dict()`` of :mod:`mlpilot.evaluate`, if it was evaluated.
    evaluation: dict[str, Any] | None
    #: ``Signature.to_dict()`` of :mod:`mlpilot.registry`, if it has one.
    signature: dict[str, Any] | None
    environment: dict[str, Any]
    created_ms: int
    created_by: str
    #: The aliases that point at it, sorted.
    aliases: list[str]

    @property
    def uri(self) -> str:
        return f"models:/{self.model}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """The version as JSON-able values (its time in UTC milliseconds)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class AliasMove:
    """One move of an alias, with who moved it, why, and the gate's numbers if any."""

    model: str
    alias: str
    version: int
    #: The version the alias pointed at before, None if it is new.
    previous: int | None
    #: ``set`` by hand, ``rollback`` back one promotion, ``promote`` or ``override``
    #: through the gate.
    kind: str
    ts_ms: int
    actor: str
    reason: str
    #: For a promotion: the gate's checks and the evaluations behind them.
    decision: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """The move as JSON-able values (its time in UTC milliseconds)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class GateDecision:
    """What the gate decided about a challenger for an alias, passed or not."""

    model: str
    alias: str
    #: The challenger.
    version: int
    #: The version that held the alias when the decision was taken, None if none did.
    champion: int | None
    #: One of :data:`OUTCOMES`.
    outcome: str
    #: Whether the challenger passed the gate (an override moves it although it did not).
    passed: bool
    #: Why: the gate's summary, or the reason given for an override.
    reason: str
    #: The gate's checks, each ``{"name", "passed", "detail"}``.
    checks: list[dict[str, Any]]
    ts_ms: int
    actor: str

    @property
    def promoted(self) -> bool:
        """Whether the alias moved to the challenger."""
        return self.outcome != "refuse"

    def to_dict(self) -> dict[str, Any]:
        """The decision as JSON-able values (its time in UTC milliseconds)."""
        return dataclasses.asdict(self) | {"promoted": self.promoted}


@runtime_checkable
class RegistryRecords(Protocol):
    """Models, versions and aliases; each method is one atomic unit, and each write
    records its event in the same unit.

    A model name is a key without ``@`` or ``/``; an alias is a key. Unknown models,
    versions and aliases raise :class:`~mlpilot.errors.NotFoundError`; bad input
    :class:`~mlpilot.errors.InvalidInputError`; a clash with what is stored
    :class:`~mlpilot.errors.ConflictError`.
    """

    # -- models ----------------------------------------------------------------------

    def create_model(
        self,
        name: str,
        *,
        scoring: Mapping[str, Any],
        gate: Mapping[str, Any],
        description: str = "",
        exist_ok: bool = True,
    ) -> ModelRecord:
        """Declare model ``name``. With ``exist_ok`` an existing model with the same
        scoring and gate is returned; ConflictError if it has others, or if it exists
        and not ``exist_ok``. Of processes declaring it at once, none fails."""
        ...

    def update_model(
        self,
        name: str,
        *,
        scoring: Mapping[str, Any] | None = None,
        gate: Mapping[str, Any] | None = None,
    ) -> ModelRecord:
        """Replace the model's scoring or gate (those given)."""
        ...

    def get_model(self, name: str) -> ModelRecord: ...

    def list_models(self) -> list[ModelRecord]:
        """Every model, by name."""
        ...

    # -- versions --------------------------------------------------------------------

    def add_version(
        self,
        model: str,
        *,
        run_id: str,
        artifact: str,
        digest: str,
        flavor: str,
        environment: Mapping[str, Any],
        dataset: str | None = None,
        evaluation: Mapping[str, Any] | None = None,
        signature: Mapping[str, Any] | None = None,
    ) -> VersionRecord:
        """Register a new version of ``model`` pointing at run ``run_id``'s model bytes
        (``digest``, their sha256) and return it. Versions are numbered 1, 2, 3... with
        no gap and no repeat, also when processes register versions at once; JSON
        values hold JSON's types and finite numbers only."""
        ...

    def get_version(self, model: str, version: int) -> VersionRecord: ...

    def versions(self, model: str) -> list[VersionRecord]:
        """The model's versions, oldest first."""
        ...

    # -- aliases ---------------------------------------------------------------------

    def move_alias(
        self,
        model: str,
        alias: str,
        version: int,
        *,
        kind: str = "set",
        reason: str = "",
        actor: str | None = None,
    ) -> AliasMove:
        """Point ``alias`` at ``version`` (creating it), record the move and its event.
        ``kind`` is ``set`` or ``rollback``; moves through the gate are recorded by
        :meth:`record_decision`."""
        ...

    def moves(self, model: str, alias: str | None = None) -> list[AliasMove]:
        """How the model's aliases (or ``alias``) moved, oldest first."""
        ...

    def record_decision(
        self,
        model: str,
        alias: str,
        version: int,
        *,
        champion: int | None,
        outcome: str,
        reason: str,
        decision: Mapping[str, Any],
    ) -> GateDecision:
        """Record the gate's decision about ``version`` for ``alias``, and move the alias
        to it unless the outcome is ``refuse``.

        Args:
            champion: The version the alias pointed at when the challenger was scored
                against it (None: no version did). If it has moved since, nothing is
                recorded and ConflictError says so: the decision no longer holds.
            outcome: One of :data:`OUTCOMES`; ``promote`` needs a decision that passed,
                ``override`` and ``refuse`` one that did not, and ``override`` a reason.
            reason: Why: the gate's summary, or why it was overridden.
            decision: ``{"passed": bool, "checks": [{"name", "passed", "detail"}, ...]}``
                and any evidence (evaluations, comparison), kept with the alias move.
        """
        ...

    def decisions(self, model: str, alias: str | None = None) -> list[GateDecision]:
        """The gate's decisions about the model's versions (for ``alias``), oldest
        first."""
        ...
