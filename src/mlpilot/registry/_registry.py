"""The model registry: models, their versions, and the aliases that point at them.

A version points at a run, at the model that run logged (by the sha256 of its bytes),
at the dataset version it was trained on, and holds its evaluation, signature and
environment. Aliases (``champion``, ``challenger``, any name) move between versions;
every move is recorded with who asked, why and the gate's numbers, so ``rollback`` is
one step and the history can be audited. The records live behind the store's
``registry`` interface (:class:`mlpilot.store.base._registry.RegistryRecords`); this
module turns their JSON back into scorings, gates, evaluations and signatures.
"""

from __future__ import annotations

import dataclasses
import platform
import re
from collections.abc import Mapping
from typing import Any

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.evaluate import Evaluation, GatePolicy, Scoring
from mlpilot.registry._signature import Signature
from mlpilot.store.base import _registry as records
from mlpilot.store.base._registry import AliasMove
from mlpilot.tracking import TrackingClient
from mlpilot.tracking._models import META_FILE, load_bytes, model_file, package_version, read_meta

#: The alias a server follows and promotion moves.
CHAMPION = "champion"
_URI = re.compile(r"^(?:models:/)?(?P<name>[^@/]+)(?:@(?P<alias>[^@/]+)|/(?P<version>\d+))$")
_PACKAGES = ("mlpilot", "scikit-learn", "numpy", "scipy", "pandas", "skops")


@dataclasses.dataclass(frozen=True)
class ModelRecord:
    """A declared model: how its versions are scored and the gate they pass."""

    name: str
    description: str
    scoring: Scoring
    gate: GatePolicy
    created_ms: int
    #: Each alias and the version it points at.
    aliases: dict[str, int]
    latest_version: int | None

    @classmethod
    def of(cls, record: records.ModelRecord) -> ModelRecord:
        """The model as the store recorded it, its scoring and gate as objects."""
        return cls(
            record.name,
            record.description,
            Scoring.from_dict(record.scoring),
            GatePolicy.from_dict(record.gate),
            record.created_ms,
            record.aliases,
            record.latest_version,
        )

    def to_dict(self) -> dict[str, Any]:
        """The model as JSON-able values (its time in UTC milliseconds)."""
        return {
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)},
            "scoring": self.scoring.to_dict(),
            "gate": self.gate.to_dict(),
            "aliases": dict(self.aliases),
        }


@dataclasses.dataclass(frozen=True)
class VersionRecord:
    """One registered version of a model."""

    model: str
    version: int
    run_id: str
    artifact: str
    #: The sha256 of the model's bytes; loading refuses bytes that do not match it.
    digest: str
    flavor: str
    #: The dataset version it was trained on, ``name@vN``.
    dataset: str | None
    evaluation: Evaluation | None
    signature: Signature | None
    environment: dict[str, Any]
    created_ms: int
    created_by: str
    aliases: list[str]

    @property
    def uri(self) -> str:
        return f"models:/{self.model}/{self.version}"

    @classmethod
    def of(cls, record: records.VersionRecord) -> VersionRecord:
        """The version as the store recorded it, its evaluation and signature as objects."""
        return cls(
            record.model,
            record.version,
            record.run_id,
            record.artifact,
            record.digest,
            record.flavor,
            record.dataset,
            None if record.evaluation is None else Evaluation.from_dict(record.evaluation),
            None if record.signature is None else Signature.from_dict(record.signature),
            record.environment,
            record.created_ms,
            record.created_by,
            record.aliases,
        )

    def to_dict(self) -> dict[str, Any]:
        """The version as JSON-able values (its time in UTC milliseconds)."""
        return {
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)},
            "evaluation": None if self.evaluation is None else self.evaluation.to_dict(),
            "signature": None if self.signature is None else self.signature.to_dict(),
            "aliases": list(self.aliases),
        }


class ModelRegistry:
    """Registers, finds, loads and promotes model versions in one store.

    Args:
        client: The client whose store holds the registry (by default one opened from
            the environment's settings).
    """

    def __init__(self, client: TrackingClient | None = None) -> None:
        self.client = client or TrackingClient()
        self.records = self.client.store.registry

    # -- models --------------------------------------------------------------------

    def create_model(
        self,
        name: str,
        *,
        scoring: Scoring | None = None,
        gate: GatePolicy | None = None,
        description: str = "",
        exist_ok: bool = True,
    ) -> ModelRecord:
        """Declare a model once: how its versions are scored and the gate they pass.

        With ``exist_ok``, an existing model is returned, and refused only if it was
        declared with another scoring or gate (change those with :meth:`update_model`).
        """
        scoring, gate = scoring or Scoring(), gate or GatePolicy()
        return ModelRecord.of(
            self.records.create_model(
                name,
                scoring=scoring.to_dict(),
                gate=gate.to_dict(),
                description=description,
                exist_ok=exist_ok,
            )
        )

    def update_model(
        self, name: str, *, scoring: Scoring | None = None, gate: GatePolicy | None = None
    ) -> ModelRecord:
        """Change how the model's versions are scored, or the gate they pass."""
        return ModelRecord.of(
            self.records.update_model(
                name,
                scoring=None if scoring is None else scoring.to_dict(),
                gate=None if gate is None else gate.to_dict(),
            )
        )

    def get_model(self, name: str) -> ModelRecord:
        return ModelRecord.of(self.records.get_model(name))

    def list_models(self) -> list[ModelRecord]:
        return [ModelRecord.of(m) for m in self.records.list_models()]

    # -- versions ------------------------------------------------------------------

    def register(
        self,
        name: str,
        run_id: str,
        *,
        artifact: str = "model",
        dataset: str | None = None,
        evaluation: Evaluation | None = None,
        signature: Signature | None = None,
        code_digest: str | None = None,
        seeds: Mapping[str, Any] | None = None,
    ) -> VersionRecord:
        """Register the model run ``run_id`` logged as ``artifact`` as a new version.

        The version records the digest of the model's bytes; loading refuses bytes that
        do not match it.
        """
        run_id = self.client.resolve_run_id(run_id)
        records = {a.path: a for a in self.client.list_artifacts(run_id, artifact)}
        if f"{artifact}/{META_FILE}" not in records:
            raise NotFoundError(
                f"run {run_id} logged no model {artifact!r}; log it with run.log_model(model)"
            )
        meta = read_meta(self.client, run_id, artifact)
        path = f"{artifact}/{model_file(meta)}"
        if path not in records:
            raise NotFoundError(f"run {run_id} has no {path!r}, which its model.json names")
        if dataset is not None:
            dataset = self.client.datasets.get(dataset).ref
        environment = {
            "python": platform.python_version(),
            "packages": {p: package_version(p) for p in _PACKAGES} | meta.get("packages", {}),
            "model_class": meta.get("class"),
            "code_digest": code_digest,
            "seeds": dict(seeds or {}),
        }
        return VersionRecord.of(
            self.records.add_version(
                name,
                run_id=run_id,
                artifact=artifact,
                digest=records[path].digest,
                flavor=f"{meta.get('flavor', 'sklearn')}/{meta.get('format', 'skops')}",
                environment=environment,
                dataset=dataset,
                evaluation=None if evaluation is None else evaluation.to_dict(),
                signature=None if signature is None else signature.to_dict(),
            )
        )

    def get_version(self, name: str, version: int) -> VersionRecord:
        return VersionRecord.of(self.records.get_version(name, version))

    def versions(self, name: str) -> list[VersionRecord]:
        """The model's versions, oldest first."""
        return [VersionRecord.of(v) for v in self.records.versions(name)]

    def resolve(self, uri: str) -> VersionRecord:
        """The version ``uri`` names: ``models:/NAME@ALIAS``, ``models:/NAME/3``,
        ``NAME@ALIAS`` or ``NAME/3``."""
        match = _URI.match(uri.strip()) if isinstance(uri, str) else None
        if match is None:
            raise InvalidInputError(
                f"name a model version as NAME@ALIAS or NAME/VERSION (models:/churn@champion, "
                f"churn/3), not {uri!r}"
            )
        name = match["name"]
        if match["version"] is not None:
            return self.get_version(name, int(match["version"]))
        model = self.get_model(name)
        alias = match["alias"]
        if alias not in model.aliases:
            known = ", ".join(sorted(model.aliases)) or "none yet"
            raise NotFoundError(f"model {name!r} has no alias {alias!r}; its aliases: {known}")
        return self.get_version(name, model.aliases[alias])

    def load(self, uri: str | VersionRecord) -> Any:
        """Load the model a version points at, after checking its bytes are the ones
        registered (a file changed since then is refused)."""
        version = uri if isinstance(uri, VersionRecord) else self.resolve(uri)
        data = self.client.store.artifacts.get_bytes(version.digest)  # verifies the sha256
        meta = read_meta(self.client, version.run_id, version.artifact)
        return load_bytes(data, meta, f"model {version.model} version {version.version}")

    def check_loadable(self, uri: str) -> VersionRecord:
        """Load the version and check it against its record: digest, and signature."""
        version = self.resolve(uri)
        self.load(version)
        return version

    # -- aliases -------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int, *, reason: str = "") -> AliasMove:
        """Point ``alias`` at ``version`` and record the move. The version's model bytes
        must be in the store and match their digest: an alias never points at a missing
        or altered model."""
        self.check_bytes(self.get_version(name, version), alias)
        return self.records.move_alias(name, alias, version, reason=reason)

    def check_bytes(self, target: VersionRecord, alias: str) -> None:
        """Refuse to point ``alias`` at ``target`` if its model bytes are lost or altered.

        Raises:
            ConflictError: The bytes are not in the store.
            ArtifactCorruptedError: They no longer match the registered digest.
        """
        if not self.client.store.artifacts.exists(target.digest):
            raise ConflictError(
                f"version {target.version} of {target.model!r} has lost its model file; it "
                f"cannot take the alias {alias!r}"
            )
        self.client.store.artifacts.get_bytes(target.digest)  # raises if the bytes changed

    def moves(self, name: str, alias: str | None = None) -> list[AliasMove]:
        """How the model's aliases moved, oldest first."""
        return self.records.moves(name, alias)

    def rollback(
        self, name: str, *, reason: str, alias: str = CHAMPION, actor: str | None = None
    ) -> AliasMove:
        """Move ``alias`` back to the version it pointed at before the current one was
        promoted; rolling back again goes one promotion further back. ``actor`` is who
        the move names (the user by default; a monitor, when one rolls back).

        Raises:
            ConflictError: The alias has no earlier version to go back to.
        """
        if not reason or not reason.strip():
            raise InvalidInputError("say why you roll back (--reason)")
        model = self.get_model(name)
        if alias not in model.aliases:
            raise NotFoundError(f"model {name!r} has no alias {alias!r} to roll back")
        current = model.aliases[alias]
        arrivals = [
            m for m in self.moves(name, alias) if m.version == current and m.kind != "rollback"
        ]
        if not arrivals or arrivals[-1].previous is None:
            raise ConflictError(
                f"{name}@{alias} (version {current}) has no previous version to roll back to"
            )
        target = arrivals[-1].previous
        self.check_bytes(self.get_version(name, target), alias)
        return self.records.move_alias(
            name, alias, target, kind="rollback", reason=reason, actor=actor
        )
