"""The model registry in SQL: ``registered_models``, ``model_versions``,
``model_aliases`` and ``alias_moves``; the gate's decisions are read from the events
that record them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._metadata import MetadataStore, now_ms
from mlpilot.store._registry_input import (
    check_reason,
    check_text_value,
    checked_decision,
    json_object,
    model_name,
    version_number,
)
from mlpilot.store._schema import (
    MAX_PATH_LENGTH,
    alias_moves,
    events,
    model_aliases,
    model_versions,
    registered_models,
    runs,
)
from mlpilot.store._validate import check_key
from mlpilot.store.base._registry import (
    AliasMove,
    GateDecision,
    ModelRecord,
    VersionRecord,
)
from mlpilot.store.sql._tracking import write_retrying

#: The events that record the gate's decisions, by outcome.
_DECISION_EVENTS = {
    "promote": "model.alias_promote",
    "override": "model.alias_override",
    "refuse": "model.promotion_refused",
}
_MAX_FLAVOR = 32


class SqlRegistryRecords:
    """:class:`~mlpilot.store.base.RegistryRecords` over the metadata database.

    Args:
        metadata: The database.
        actor: Who the events of writes name unless a call names another (the
            settings' user).
    """

    def __init__(self, metadata: MetadataStore, actor: str) -> None:
        self._metadata = metadata
        self._actor = actor

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
        name = model_name(name)
        scoring, gate = json_object(scoring, "scoring"), json_object(gate, "gate")
        if not isinstance(description, str):
            raise InvalidInputError(f"a description is text, got {description!r}")

        def create(conn: Connection) -> None:
            existing = conn.execute(
                select(registered_models.c.scoring, registered_models.c.gate).where(
                    registered_models.c.name == name
                )
            ).first()
            if existing is None:
                conn.execute(
                    insert(registered_models).values(
                        name=name,
                        description=description,
                        scoring=scoring,
                        gate=gate,
                        created_ms=now_ms(),
                    )
                )
                self._event(conn, "model.created", name, scoring=scoring)
            elif not exist_ok:
                raise ConflictError(f"model {name!r} exists already")
            elif existing.scoring != scoring or existing.gate != gate:
                raise ConflictError(
                    f"model {name!r} exists with another scoring or gate "
                    f"({existing.scoring}, {existing.gate}); use the same, or update_model"
                )

        try:
            write_retrying(self._metadata, create)
        except IntegrityError:
            # Declared by another process since the check (PostgreSQL): compare with it.
            write_retrying(self._metadata, create)
        return self.get_model(name)

    def update_model(
        self,
        name: str,
        *,
        scoring: Mapping[str, Any] | None = None,
        gate: Mapping[str, Any] | None = None,
    ) -> ModelRecord:
        values: dict[str, Any] = {}
        if scoring is not None:
            values["scoring"] = json_object(scoring, "scoring")
        if gate is not None:
            values["gate"] = json_object(gate, "gate")
        with self._metadata.write() as conn:
            _lock_model(conn, name)
            if values:
                conn.execute(
                    update(registered_models)
                    .where(registered_models.c.name == name)
                    .values(**values)
                )
                self._event(conn, "model.updated", name, **values)
        return self.get_model(name)

    def get_model(self, name: str) -> ModelRecord:
        with self._metadata.read() as conn:
            row = _model_row(conn, name)
            aliases = dict(
                conn.execute(
                    select(model_aliases.c.alias, model_aliases.c.version).where(
                        model_aliases.c.model == name
                    )
                ).all()
            )
            latest = conn.execute(
                select(func.max(model_versions.c.version)).where(model_versions.c.model == name)
            ).scalar()
        return ModelRecord(
            row.name, row.description, row.scoring, row.gate, row.created_ms, aliases, latest
        )

    def list_models(self) -> list[ModelRecord]:
        with self._metadata.read() as conn:
            names = (
                conn.execute(select(registered_models.c.name).order_by(registered_models.c.name))
                .scalars()
                .all()
            )
        return [self.get_model(n) for n in names]

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
        check_text_value(run_id, "run id", 32)
        check_text_value(artifact, "artifact path", MAX_PATH_LENGTH)
        check_text_value(flavor, "flavor", _MAX_FLAVOR)
        if not isinstance(digest, str) or len(digest) != 64 or digest.strip("0123456789abcdef"):
            raise InvalidInputError(f"a digest is a sha256 in 64 hex digits, got {digest!r}")
        if dataset is not None:
            check_key(dataset, "dataset version")
        values = {
            "run_id": run_id,
            "artifact": artifact,
            "digest": digest,
            "flavor": flavor,
            "dataset": dataset,
            "evaluation": None if evaluation is None else json_object(evaluation, "evaluation"),
            "signature": None if signature is None else json_object(signature, "signature"),
            "environment": json_object(environment, "environment"),
            "created_by": self._actor,
        }

        def add(conn: Connection) -> int:
            # The model's row is locked until commit, so that two processes registering
            # at once number their versions one after the other, not both max + 1.
            _lock_model(conn, model)
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFoundError(f"no run {run_id!r} to register a version from")
            version: int = (
                conn.execute(
                    select(func.coalesce(func.max(model_versions.c.version), 0)).where(
                        model_versions.c.model == model
                    )
                ).scalar_one()
                + 1
            )
            conn.execute(
                insert(model_versions).values(
                    model=model, version=version, created_ms=now_ms(), **values
                )
            )
            self._event(
                conn,
                "model.version_registered",
                model,
                version=version,
                run_id=run_id,
                dataset=dataset,
            )
            return version

        return self.get_version(model, write_retrying(self._metadata, add))

    def get_version(self, model: str, version: int) -> VersionRecord:
        version = version_number(version)
        with self._metadata.read() as conn:
            _model_row(conn, model)
            row = conn.execute(
                select(model_versions).where(
                    model_versions.c.model == model, model_versions.c.version == version
                )
            ).first()
            if row is None:
                raise NotFoundError(
                    f"model {model!r} has no version {version}; list them with "
                    f"`mlpilot models versions {model}`"
                )
            aliases = (
                conn.execute(
                    select(model_aliases.c.alias).where(
                        model_aliases.c.model == model, model_aliases.c.version == version
                    )
                )
                .scalars()
                .all()
            )
        return _version_record(row, list(aliases))

    def versions(self, model: str) -> list[VersionRecord]:
        with self._metadata.read() as conn:
            _model_row(conn, model)
            rows = conn.execute(
                select(model_versions)
                .where(model_versions.c.model == model)
                .order_by(model_versions.c.version)
            ).all()
            aliases: dict[int, list[str]] = {}
            for alias, version in conn.execute(
                select(model_aliases.c.alias, model_aliases.c.version).where(
                    model_aliases.c.model == model
                )
            ):
                aliases.setdefault(version, []).append(alias)
        return [_version_record(r, aliases.get(r.version, [])) for r in rows]

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
        alias = check_key(alias, "alias")
        version = version_number(version)
        if kind not in ("set", "rollback"):
            raise InvalidInputError(
                f"an alias is moved by hand as 'set' or 'rollback', not {kind!r}; a "
                "promotion is recorded with its decision"
            )
        check_reason(reason)
        actor = self._actor if actor is None else check_key(actor, "actor")
        return write_retrying(
            self._metadata,
            lambda conn: self._move(conn, model, alias, version, kind, reason, actor, None),
        )

    def moves(self, model: str, alias: str | None = None) -> list[AliasMove]:
        query = select(alias_moves).where(alias_moves.c.model == model)
        if alias is not None:
            query = query.where(alias_moves.c.alias == alias)
        with self._metadata.read() as conn:
            _model_row(conn, model)
            rows = conn.execute(query.order_by(alias_moves.c.id)).all()
        return [AliasMove(**{k: v for k, v in r._mapping.items() if k != "id"}) for r in rows]

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
        alias = check_key(alias, "alias")
        version = version_number(version)
        if champion is not None:
            champion = version_number(champion)
        evidence, passed, checks = checked_decision(outcome, reason, decision)
        actor = self._actor

        def record(conn: Connection) -> GateDecision:
            _lock_model(conn, model)  # no other move between the check and this one
            current = _alias_version(conn, model, alias)
            if current != champion:
                raise ConflictError(
                    f"{model}@{alias} moved to version {current} while version {version} "
                    f"was scored against version {champion}; promote it again"
                )
            if outcome == "refuse":
                _require_version(conn, model, version)
                self._event(
                    conn,
                    _DECISION_EVENTS[outcome],
                    model,
                    alias=alias,
                    version=version,
                    champion=champion,
                    reason=reason,
                    passed=passed,
                    checks=checks,
                )
                ts_ms = now_ms()
            else:
                ts_ms = self._move(
                    conn, model, alias, version, outcome, reason, actor, evidence
                ).ts_ms
            return GateDecision(
                model, alias, version, champion, outcome, passed, reason, checks, ts_ms, actor
            )

        return write_retrying(self._metadata, record)

    def decisions(self, model: str, alias: str | None = None) -> list[GateDecision]:
        query = (
            select(events)
            .where(
                events.c.object_type == "model",
                events.c.object_id == model,
                events.c.kind.in_(list(_DECISION_EVENTS.values())),
            )
            .order_by(events.c.id)
        )
        outcomes = {kind: outcome for outcome, kind in _DECISION_EVENTS.items()}
        with self._metadata.read() as conn:
            _model_row(conn, model)
            rows = conn.execute(query).all()
        found = []
        for row in rows:
            payload = row.payload or {}
            if alias is not None and payload.get("alias") != alias:
                continue
            outcome = outcomes[row.kind]
            found.append(
                GateDecision(
                    model,
                    payload["alias"],
                    payload["version"],
                    payload.get("champion", payload.get("previous")),
                    outcome,
                    payload.get("passed", outcome == "promote"),
                    payload.get("reason", ""),
                    payload.get("checks", []),
                    row.ts_ms,
                    row.actor,
                )
            )
        return found

    # -- helpers ---------------------------------------------------------------------

    def _move(
        self,
        conn: Connection,
        model: str,
        alias: str,
        version: int,
        kind: str,
        reason: str,
        actor: str,
        decision: dict[str, Any] | None,
    ) -> AliasMove:
        """Move the alias inside the caller's transaction: row, history and event."""
        _lock_model(conn, model)
        _require_version(conn, model, version)
        previous = _alias_version(conn, model, alias)
        where = (model_aliases.c.model == model, model_aliases.c.alias == alias)
        conn.execute(delete(model_aliases).where(*where))
        conn.execute(insert(model_aliases).values(model=model, alias=alias, version=version))
        move = AliasMove(model, alias, version, previous, kind, now_ms(), actor, reason, decision)
        conn.execute(insert(alias_moves).values(**move.to_dict()))
        payload: dict[str, Any] = {
            "alias": alias,
            "version": version,
            "previous": previous,
            "reason": reason,
        }
        if decision is not None:
            payload |= {"passed": decision["passed"], "checks": decision["checks"]}
        self._metadata.record_event(conn, f"model.alias_{kind}", "model", model, actor, **payload)
        return move

    def _event(self, conn: Connection, kind: str, model: str, **payload: Any) -> None:
        self._metadata.record_event(conn, kind, "model", model, self._actor, **payload)


def _model_row(conn: Connection, name: str) -> Row[Any]:
    row = conn.execute(select(registered_models).where(registered_models.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no model named {name!r}; list them with `mlpilot models list`")
    return row


def _lock_model(conn: Connection, name: str) -> None:
    """Lock the model's row until the transaction ends (SQLite's write transactions
    hold the whole database already)."""
    found = conn.execute(
        select(registered_models.c.name).where(registered_models.c.name == name).with_for_update()
    ).first()
    if found is None:
        raise NotFoundError(f"no model named {name!r}; list them with `mlpilot models list`")


def _require_version(conn: Connection, model: str, version: int) -> None:
    found = conn.execute(
        select(model_versions.c.version).where(
            model_versions.c.model == model, model_versions.c.version == version
        )
    ).first()
    if found is None:
        raise NotFoundError(f"model {model!r} has no version {version}")


def _alias_version(conn: Connection, model: str, alias: str) -> int | None:
    found: int | None = conn.execute(
        select(model_aliases.c.version).where(
            model_aliases.c.model == model, model_aliases.c.alias == alias
        )
    ).scalar()
    return found


def _version_record(row: Row[Any], aliases: list[str]) -> VersionRecord:
    return VersionRecord(**row._mapping, aliases=sorted(aliases))
