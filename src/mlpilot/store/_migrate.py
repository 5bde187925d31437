"""Apply Alembic migrations on first use, once, even with several processes starting.

Opening a store that is already at the newest revision costs one query: the newest
revision is read from the migration scripts' source and compared with the
``alembic_version`` row. Alembic itself, slow to import and to load its scripts, is
loaded only when there is something to migrate (or to refuse).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from mlpilot.errors import StoreError
from mlpilot.store._engine import no_store_error, write_options

if TYPE_CHECKING:
    from alembic.config import Config

_MIGRATIONS = Path(__file__).with_name("migrations")
# Any fixed 64-bit number: the PostgreSQL advisory lock that serialises migrations.
_PG_LOCK_KEY = 0x6D6C70696C6F74


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str | None:
    """The newest revision, as Alembic reads it from the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@functools.cache
def script_head() -> str | None:
    """The newest revision, read from the scripts' source without Alembic.

    None when the scripts do not form one line of revisions (a merge pending, say);
    :func:`upgrade` then leaves the question to Alembic.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (_MIGRATIONS / "versions").glob("*.py"):
        found = _module_constants(script, ("revision", "down_revision"))
        revision, down = found.get("revision"), found.get("down_revision")
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple):
            parents.update(str(d) for d in down)
        elif down is not None:
            return None
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _module_constants(script: Path, names: tuple[str, ...]) -> dict[str, object]:
    found: dict[str, object] = {}
    for node in ast.parse(script.read_text(encoding="utf-8")).body:
        target = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and target.id in names:
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                found[target.id] = ...
    return found


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None when it has no mlpilot schema (yet)."""
    found = _stored_revisions(engine)
    return found[0] if found is not None and len(found) == 1 else None


def _stored_revisions(engine: Engine) -> list[str] | None:
    """The ``alembic_version`` rows (one, unless branches are pending), or None when
    the database has no such table."""
    with engine.connect() as conn:
        try:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        except DBAPIError as exc:
            if _is_missing_table(exc):
                return None
            raise
    return [str(row[0]) for row in rows]


def _is_missing_table(exc: DBAPIError) -> bool:
    # PostgreSQL's SQLSTATE for an undefined table; SQLite has only its message.
    return getattr(exc.orig, "sqlstate", None) == "42P01" or "no such table" in str(exc.orig)


def upgrade(engine: Engine, *, create: bool = True) -> None:
    """Bring the database to the newest schema; a no-op when it is there already.

    Args:
        engine: The metadata database.
        create: Whether a database with no mlpilot schema may be given one. When False,
            such a database is left untouched and raises.

    Raises:
        NotFoundError: ``create`` is False and the database holds no mlpilot store.
        StoreError: The database is at a revision these scripts do not know (written
            by a newer mlpilot).
    """
    stored = _stored_revisions(engine)
    head = script_head()
    if head is not None and stored == [head]:
        return
    if not stored and not create:
        raise no_store_error(_where(engine))
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.util import CommandError

    with write_options(engine).begin() as conn:
        # Hold the write lock (SQLite) or an advisory lock (PostgreSQL) and look again:
        # another process may have migrated while this one waited.
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        if MigrationContext.configure(conn).get_current_revision() == head_revision():
            return
        config = alembic_config()
        config.attributes["connection"] = conn
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            raise StoreError(
                f"the metadata store {_where(engine)} has a schema this version of mlpilot "
                f"does not know ({exc}); it was written by a newer mlpilot, so upgrade "
                "mlpilot to open it"
            ) from exc


def _where(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
