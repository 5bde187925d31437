"""Apply Alembic migrations on first use, once, even with several processes starting."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from mlpilot.store._engine import write_options

_MIGRATIONS = Path(__file__).with_name("migrations")
# Any fixed 64-bit number: the PostgreSQL advisory lock that serialises migrations.
_PG_LOCK_KEY = 0x6D6C70696C6F74


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema; a no-op when it is there already."""
    head = head_revision()
    if current_revision(engine) == head:
        return
    with write_options(engine).begin() as conn:
        # Hold the write lock (SQLite) or an advisory lock (PostgreSQL) and look again:
        # another process may have migrated while this one waited.
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        if MigrationContext.configure(conn).get_current_revision() == head:
            return
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
