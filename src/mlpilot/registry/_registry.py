"""The model registry: models, their versions, and the aliases that point at them.

A version points at a run, at the model that run logged (by the sha256 of its bytes),
at the dataset version it was trained on, and holds its evaluation, signature and
environment. Aliases (``champion``, ``challenger``, any name) move between versions;
every move is a row of ``alias_moves`` with who asked, why and the gate's numbers, so
``rollback`` is one step and the history can be audited.
"""

from __future__ import annotations

import dataclasses
import hashlib
import platform
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.evaluate import Evaluation, GatePolicy, Scoring
from mlpilot.registry._signature import Signature
from mlpilot.store import _schema as db
from mlpilot.store import now_ms
from mlpilot.store._validate import check_key
from mlpilot.tracking import TrackingClient
from mlpilot.tracking._models import META_FILE, load_bytes, model_file, package_version, read_meta

#: The alias a server follows and promotion moves.
CHAMPION = "champion"
_URI = re.compile(r"^(?:models:/)?(?P<name>[^@/]+)(?:@(?P<alias>[^@/]+)|/(?P<version>\d+))$")
_PACKAGES = ("mlpilot", "scikit-learn", "numpy", "scipy", "pandas", "skops")


@dataclasses.dataclass(frozen=True)
class ModelRecord:
    name: str
    description: str
    scoring: Scoring
    gate: GatePolicy
    created_ms: int
    aliases: dict[str, int]
    latest_version: int | None


@dataclasses.dataclass(frozen=True)
class VersionRecord:
    """One registered version of a model."""

    model: str
    version: int
    run_id: str
    artifact: str
    digest: str
    flavor: str
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


@dataclasses.dataclass(frozen=True)
class AliasMove:
    model: str
    alias: str
    version: int
    previous: int | None
    kind: str
    ts_ms: int
    actor: str
    reason: str
    decision: dict[str, Any] | None


class ModelRegistry:
    """Registers, finds, loads and promotes model versions in one store."""

    def __init__(self, client: TrackingClient | None = None) -> None:
        self.client = client or TrackingClient()
        self.metadata = self.client.store.metadata
        self.actor = self.client.settings.user

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
        name = _model_name(name)
        scoring, gate = scoring or Scoring(), gate or GatePolicy()
        with self.metadata.write() as conn:
            existing = conn.execute(
                select(db.registered_models.c.scoring, db.registered_models.c.gate).where(
                    db.registered_models.c.name == name
                )
            ).first()
            if existing is None:
                conn.execute(
                    insert(db.registered_models).values(
                        name=name,
                        description=description,
                        scoring=scoring.to_dict(),
                        gate=gate.to_dict(),
                        created_ms=now_ms(),
                    )
                )
                self.metadata.record_event(
                    conn, "model.created", "model", name, self.actor, scoring=scoring.to_dict()
                )
            elif not exist_ok:
                raise ConflictError(f"model {name!r} exists already")
            elif existing[0] != scoring.to_dict() or existing[1] != gate.to_dict():
                raise ConflictError(
                    f"model {name!r} exists with another scoring or gate "
                    f"({existing[0]}, {existing[1]}); use the same, or update_model"
                )
        return self.get_model(name)

    def update_model(
        self, name: str, *, scoring: Scoring | None = None, gate: GatePolicy | None = None
    ) -> ModelRecord:
        values: dict[str, Any] = {}
        if scoring is not None:
            values["scoring"] = scoring.to_dict()
        if gate is not None:
            values["gate"] = gate.to_dict()
        with self.metadata.write() as conn:
            self._require_model(conn, name)
            if values:
                conn.execute(
                    db.registered_models.update()
                    .where(db.registered_models.c.name == name)
                    .values(**values)
                )
                self.metadata.record_event(
                    conn, "model.updated", "model", name, self.actor, **values
                )
        return self.get_model(name)

    def get_model(self, name: str) -> ModelRecord:
        with self.metadata.read() as conn:
            row = self._require_model(conn, name)
            aliases = dict(
                conn.execute(
                    select(db.model_aliases.c.alias, db.model_aliases.c.version).where(
                        db.model_aliases.c.model == name
                    )
                ).all()
            )
            latest = conn.execute(
                select(func.max(db.model_versions.c.version)).where(
                    db.model_versions.c.model == name
                )
            ).scalar()
        return ModelRecord(
            row.name,
            row.description,
            Scoring.from_dict(row.scoring),
            GatePolicy.from_dict(row.gate),
            row.created_ms,
            aliases,
            latest,
        )

    def list_models(self) -> list[ModelRecord]:
        with self.metadata.read() as conn:
            names = (
                conn.execute(
                    select(db.registered_models.c.name).order_by(db.registered_models.c.name)
                )
                .scalars()
                .all()
            )
        return [self.get_model(n) for n in names]

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
        name = _model_name(name)
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
        with self.metadata.write() as conn:
            self._require_model(conn, name)
            version = (
                conn.execute(
                    select(func.coalesce(func.max(db.model_versions.c.version), 0)).where(
                        db.model_versions.c.model == name
                    )
                ).scalar_one()
                + 1
            )
            conn.execute(
                insert(db.model_versions).values(
                    model=name,
                    version=version,
                    run_id=run_id,
                    artifact=artifact,
                    digest=records[path].digest,
                    flavor=f"{meta.get('flavor', 'sklearn')}/{meta.get('format', 'skops')}",
                    dataset=dataset,
                    evaluation=None if evaluation is None else evaluation.to_dict(),
                    signature=None if signature is None else signature.to_dict(),
                    environment=environment,
                    created_ms=now_ms(),
                    created_by=self.actor,
                )
            )
            self.metadata.record_event(
                conn,
                "model.version_registered",
                "model",
                name,
                self.actor,
                version=version,
                run_id=run_id,
                dataset=dataset,
            )
        return self.get_version(name, version)

    def get_version(self, name: str, version: int) -> VersionRecord:
        with self.metadata.read() as conn:
            self._require_model(conn, name)
            row = conn.execute(
                select(db.model_versions).where(
                    db.model_versions.c.model == name, db.model_versions.c.version == version
                )
            ).first()
            if row is None:
                raise NotFoundError(
                    f"model {name!r} has no version {version}; list them with "
                    f"`mlpilot models versions {name}`"
                )
            aliases = (
                conn.execute(
                    select(db.model_aliases.c.alias).where(
                        db.model_aliases.c.model == name, db.model_aliases.c.version == version
                    )
                )
                .scalars()
                .all()
            )
        return _version_record(row, list(aliases))

    def versions(self, name: str) -> list[VersionRecord]:
        with self.metadata.read() as conn:
            self._require_model(conn, name)
            rows = conn.execute(
                select(db.model_versions)
                .where(db.model_versions.c.model == name)
                .order_by(db.model_versions.c.version)
            ).all()
            aliases: dict[int, list[str]] = {}
            for alias, version in conn.execute(
                select(db.model_aliases.c.alias, db.model_aliases.c.version).where(
                    db.model_aliases.c.model == name
                )
            ):
                aliases.setdefault(version, []).append(alias)
        return [_version_record(r, aliases.get(r.version, [])) for r in rows]

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

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        kind: str = "set",
        reason: str = "",
        decision: Mapping[str, Any] | None = None,
    ) -> AliasMove:
        """Point ``alias`` at ``version`` and record the move. The version's model bytes
        must be in the store and match their digest: an alias never points at a missing
        or altered model."""
        alias = check_key(alias, "alias")
        target = self.get_version(name, version)
        if not self.client.store.artifacts.exists(target.digest):
            raise ConflictError(
                f"version {version} of {name!r} has lost its model file; it cannot take "
                f"the alias {alias!r}"
            )
        self.client.store.artifacts.get_bytes(target.digest)  # raises if the bytes changed
        with self.metadata.write() as conn:
            previous = conn.execute(
                select(db.model_aliases.c.version).where(
                    db.model_aliases.c.model == name, db.model_aliases.c.alias == alias
                )
            ).scalar()
            conn.execute(
                delete(db.model_aliases).where(
                    db.model_aliases.c.model == name, db.model_aliases.c.alias == alias
                )
            )
            conn.execute(insert(db.model_aliases).values(model=name, alias=alias, version=version))
            move = AliasMove(
                name,
                alias,
                version,
                previous,
                kind,
                now_ms(),
                self.actor,
                reason,
                dict(decision) if decision else None,
            )
            conn.execute(insert(db.alias_moves).values(**dataclasses.asdict(move)))
            self.metadata.record_event(
                conn,
                f"model.alias_{kind}",
                "model",
                name,
                self.actor,
                alias=alias,
                version=version,
                previous=previous,
                reason=reason,
            )
        return move

    def moves(self, name: str, alias: str | None = None) -> list[AliasMove]:
        """How the model's aliases moved, oldest first."""
        query = select(db.alias_moves).where(db.alias_moves.c.model == name)
        if alias is not None:
            query = query.where(db.alias_moves.c.alias == alias)
        with self.metadata.read() as conn:
            rows = conn.execute(query.order_by(db.alias_moves.c.id)).all()
        return [
            AliasMove(
                r.model,
                r.alias,
                r.version,
                r.previous,
                r.kind,
                r.ts_ms,
                r.actor,
                r.reason,
                r.decision,
            )
            for r in rows
        ]

    def rollback(self, name: str, *, reason: str, alias: str = CHAMPION) -> AliasMove:
        """Move ``alias`` back to the version it pointed at before the current one was
        promoted; rolling back again goes one promotion further back.

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
        return self.set_alias(name, alias, arrivals[-1].previous, kind="rollback", reason=reason)

    # -- helpers -------------------------------------------------------------------

    def _require_model(self, conn: Connection, name: str) -> Any:
        row = conn.execute(
            select(db.registered_models).where(db.registered_models.c.name == name)
        ).first()
        if row is None:
            raise NotFoundError(f"no model named {name!r}; list them with `mlpilot models list`")
        return row


def _model_name(name: str) -> str:
    name = check_key(name, "model name")
    if "@" in name or "/" in name:
        raise InvalidInputError(f"a model name cannot contain '@' or '/': {name!r}")
    return name


def _version_record(row: Any, aliases: list[str]) -> VersionRecord:
    return VersionRecord(
        row.model,
        row.version,
        row.run_id,
        row.artifact,
        row.digest,
        row.flavor,
        row.dataset,
        None if row.evaluation is None else Evaluation.from_dict(row.evaluation),
        None if row.signature is None else Signature.from_dict(row.signature),
        row.environment,
        row.created_ms,
        row.created_by,
        sorted(aliases),
    )


def code_digest(*sources: str) -> str:
    """A digest of source texts, for a version's environment."""
    return hashlib.sha256("\0".join(sources).encode()).hexdigest()
