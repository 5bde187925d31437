"""The contract of :class:`~mlpilot.store.base.AccountRecords`, as pytest tests.

An implementation proves itself by subclassing :class:`AccountRecordsContract` in a test
module that provides a ``store`` fixture (a fresh, empty :class:`~mlpilot.store.Store`).
"""

from __future__ import annotations

import pytest

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._store import Store
from mlpilot.store.base._accounts import AccountRecords


class AccountRecordsContract:
    """Tests every account records implementation passes."""

    def test_users_have_one_role_each(self, store: Store) -> None:
        records = store.accounts
        assert isinstance(records, AccountRecords)
        ana = records.add_user("ana", "admin")
        records.add_user("bo", "read")
        assert (ana.name, ana.role, ana.created_by) == ("ana", "admin", store.settings.user)
        with pytest.raises(ConflictError, match="exists"):
            records.add_user("ana", "read")
        assert records.set_role("bo", "edit").role == "edit"
        assert [(u.name, u.role) for u in records.list_users()] == [
            ("ana", "admin"),
            ("bo", "edit"),
        ]
        assert records.get_user("bo").role == "edit"
        kinds = [e.kind for e in store.events.read("user.")]
        assert kinds == ["user.added", "user.added", "user.role_set"]

    def test_a_token_is_shown_once_and_proves_its_user(self, store: Store) -> None:
        records = store.accounts
        records.add_user("ana", "edit")
        made = records.create_token("ana", "laptop")
        assert made.secret.startswith(f"mlp_{made.record.id}_")
        user = records.authenticate(made.secret)
        assert user is not None and (user.name, user.role) == ("ana", "edit")
        # The store keeps no secret: not in listings, not in events.
        listed = records.list_tokens("ana")
        assert [t.id for t in listed] == [made.record.id]
        assert made.secret not in repr(listed)
        assert all(made.secret not in repr(e.payload) for e in store.events.read())
        altered = made.secret[:-1] + ("B" if made.secret.endswith("A") else "A")
        for wrong in ("", "mlp_", altered, made.secret + "x", "Bearer x"):
            assert records.authenticate(wrong) is None

    def test_revoking_and_removing_take_effect_at_once(self, store: Store) -> None:
        records = store.accounts
        records.add_user("ana", "admin")
        records.add_user("bo", "read")
        first, second = records.create_token("ana"), records.create_token("ana")
        theirs = records.create_token("bo")
        revoked = records.revoke_token(first.record.id)
        assert revoked.revoked_ms is not None
        assert records.revoke_token(first.record.id) == revoked  # again: no change
        assert records.authenticate(first.secret) is None
        assert records.authenticate(second.secret) is not None
        records.remove_user("bo")
        assert records.authenticate(theirs.secret) is None
        assert records.list_tokens("bo")[0].revoked_ms is not None
        with pytest.raises(NotFoundError, match="no user named 'bo'"):
            records.get_user("bo")

    def test_bad_input_is_refused(self, store: Store) -> None:
        records = store.accounts
        with pytest.raises(InvalidInputError, match="unknown role"):
            records.add_user("ana", "owner")
        with pytest.raises(InvalidInputError):
            records.add_user("", "read")
        with pytest.raises(NotFoundError):
            records.create_token("nobody")
        with pytest.raises(NotFoundError):
            records.set_role("nobody", "read")
        with pytest.raises(NotFoundError):
            records.remove_user("nobody")
        with pytest.raises(NotFoundError):
            records.revoke_token("0" * 16)
        assert records.list_users() == [] and records.list_tokens() == []
