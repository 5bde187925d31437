"""Accounts in SQL: the ``users`` and ``api_tokens`` tables."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._metadata import MetadataStore, now_ms
from mlpilot.store._schema import api_tokens, users
from mlpilot.store._validate import check_key
from mlpilot.store.base._accounts import ROLES, NewToken, TokenRecord, User
from mlpilot.store.sql._retry import write_retrying

#: ``mlp_<id>_<secret>``: the id finds the row, the secret proves the holder.
_TOKEN = re.compile(r"mlp_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SqlAccountRecords:
    """:class:`~mlpilot.store.base.AccountRecords` over the metadata database."""

    def __init__(self, metadata: MetadataStore, actor: str) -> None:
        self._metadata = metadata
        self._actor = actor

    def add_user(self, name: str, role: str) -> User:
        check_key(name, "a user name")
        _check_role(role)
        user = User(name, role, now_ms(), self._actor)

        def add(conn: Connection) -> None:
            conn.execute(insert(users).values(user.to_dict()))
            self._event(conn, "user.added", name, role=role)

        try:
            write_retrying(self._metadata, add)
        except IntegrityError:
            raise ConflictError(f"user {name!r} exists already") from None
        return user

    def set_role(self, name: str, role: str) -> User:
        _check_role(role)

        def change(conn: Connection) -> None:
            if not conn.execute(
                update(users).where(users.c.name == name).values(role=role)
            ).rowcount:
                raise NotFoundError(_no_user(name))
            self._event(conn, "user.role_set", name, role=role)

        write_retrying(self._metadata, change)
        return self.get_user(name)

    def remove_user(self, name: str) -> None:
        def remove(conn: Connection) -> None:
            if not conn.execute(users.delete().where(users.c.name == name)).rowcount:
                raise NotFoundError(_no_user(name))
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.user == name, api_tokens.c.revoked_ms.is_(None))
                .values(revoked_ms=now_ms())
            )
            self._event(conn, "user.removed", name)

        write_retrying(self._metadata, remove)

    def get_user(self, name: str) -> User:
        with self._metadata.read() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        if row is None:
            raise NotFoundError(_no_user(name))
        return User(**row._asdict())

    def list_users(self) -> list[User]:
        with self._metadata.read() as conn:
            rows = conn.execute(select(users).order_by(users.c.name)).all()
        return [User(**row._asdict()) for row in rows]

    def create_token(self, user: str, label: str = "") -> NewToken:
        if not isinstance(label, str) or len(label) > 250:
            raise InvalidInputError(
                f"a token's label is text of up to 250 characters, got {label!r}"
            )
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        record = TokenRecord(token_id, user, label, now_ms())

        def create(conn: Connection) -> None:
            if conn.execute(select(users.c.name).where(users.c.name == user)).first() is None:
                raise NotFoundError(_no_user(user))
            conn.execute(insert(api_tokens).values(record.to_dict() | {"digest": _digest(secret)}))
            self._event(conn, "token.created", user, token=token_id, label=label)

        write_retrying(self._metadata, create)
        return NewToken(record, f"mlp_{token_id}_{secret}")

    def revoke_token(self, token_id: str) -> TokenRecord:
        def revoke(conn: Connection) -> None:
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
            if row is None:
                raise NotFoundError(f"no token has the id {token_id!r}; see mlpilot tokens list")
            if row.revoked_ms is None:
                conn.execute(
                    update(api_tokens)
                    .where(api_tokens.c.id == token_id)
                    .values(revoked_ms=now_ms())
                )
                self._event(conn, "token.revoked", row.user, token=token_id)

        write_retrying(self._metadata, revoke)
        return next(t for t in self.list_tokens() if t.id == token_id)

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        query = select(api_tokens).order_by(api_tokens.c.created_ms, api_tokens.c.id)
        if user is not None:
            query = query.where(api_tokens.c.user == user)
        with self._metadata.read() as conn:
            rows = conn.execute(query).all()
        return [_record(row._asdict()) for row in rows]

    def authenticate(self, secret: str) -> User | None:
        match = _TOKEN.fullmatch(secret) if isinstance(secret, str) else None
        if match is None:
            return None
        with self._metadata.read() as conn:
            row = conn.execute(
                select(
                    api_tokens.c.digest,
                    users.c.name,
                    users.c.role,
                    users.c.created_ms,
                    users.c.created_by,
                )
                .join(users, users.c.name == api_tokens.c.user)
                .where(api_tokens.c.id == match.group(1), api_tokens.c.revoked_ms.is_(None))
            ).first()
        if row is None or not hmac.compare_digest(row.digest, _digest(match.group(2))):
            return None
        return User(row.name, row.role, row.created_ms, row.created_by)

    def _event(self, conn: Connection, kind: str, user: str, **payload: Any) -> None:
        self._metadata.record_event(conn, kind, "user", user, self._actor, **payload)


def _record(row: dict[str, Any]) -> TokenRecord:
    row.pop("digest")
    return TokenRecord(**row)


def _check_role(role: Any) -> None:
    if role not in ROLES:
        raise InvalidInputError(f"unknown role {role!r}; one of {', '.join(ROLES)}")


def _no_user(name: str) -> str:
    return f"no user named {name!r}; see mlpilot users list"
