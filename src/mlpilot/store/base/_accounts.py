"""Accounts: the users of a team server, their roles and their API tokens.

A user has one role: ``read`` (every read), ``edit`` (reads and writes) or ``admin``
(also the accounts themselves). A token is a random secret shown once, when it is
made; the store keeps only its SHA-256 (a secret of 256 random bits needs no slow hash
to be safe from guessing) and compares in constant time. A revoked token, or one of
a removed user, stops working at the next request.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

#: Roles, each allowing what the one before allows and more.
ROLES = ("read", "edit", "admin")


@dataclasses.dataclass(frozen=True)
class User:
    name: str
    role: str
    created_ms: int
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TokenRecord:
    """A token as stored: never its secret."""

    id: str
    user: str
    label: str
    created_ms: int
    revoked_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class NewToken:
    """A token just made: ``secret`` is what its user sends, shown this once."""

    record: TokenRecord
    secret: str


@runtime_checkable
class AccountRecords(Protocol):
    """Users and tokens; each method is one atomic unit. Unknown names and ids raise
    :class:`~mlpilot.errors.NotFoundError`, bad ones
    :class:`~mlpilot.errors.InvalidInputError`, a user who exists already
    :class:`~mlpilot.errors.ConflictError`. Changes record ``user.*`` and ``token.*``
    events, without secrets."""

    def add_user(self, name: str, role: str) -> User:
        """Add a user with ``role`` (read, edit or admin)."""
        ...

    def set_role(self, name: str, role: str) -> User:
        """Give a user another role."""
        ...

    def remove_user(self, name: str) -> None:
        """Remove a user, revoking every token of theirs."""
        ...

    def get_user(self, name: str) -> User: ...

    def list_users(self) -> list[User]:
        """Every user, by name."""
        ...

    def create_token(self, user: str, label: str = "") -> NewToken:
        """Make a token for ``user``; its secret is in the answer and nowhere else."""
        ...

    def revoke_token(self, token_id: str) -> TokenRecord:
        """Revoke a token (by its id, as listed); revoking it again changes nothing."""
        ...

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        """Tokens, revoked ones too, oldest first; of ``user`` only if given."""
        ...

    def authenticate(self, secret: str) -> User | None:
        """The user whose live token ``secret`` is, or None (malformed, unknown,
        revoked, or its user removed)."""
        ...
