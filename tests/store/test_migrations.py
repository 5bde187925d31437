"""Schema migrations: a new database is brought to the newest schema exactly once."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, event, insert, inspect, select, text

from mlpilot.store import MetadataStore, now_ms
from mlpilot.store import _migrate as migrate
from mlpilot.store._schema import experiments, metadata


@contextmanager
def recorded_statements() -> Iterator[list[str]]:
    """Every SQL statement any engine sends while the block runs."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.strip().upper())

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def test_fresh_database_reaches_the_head_revision(empty_store_uri: str) -> None:
    head = migrate.head_revision()

    store = MetadataStore(empty_store_uri)
    try:
        assert head is not None
        assert migrate.current_revision(store.engine) == head
        tables = set(inspect(store.engine).get_table_names())
        assert set(metadata.tables) <= tables
    finally:
        store.close()


def test_opening_again_changes_nothing(empty_store_uri: str) -> None:
    first = MetadataStore(empty_store_uri)
    with first.write() as conn:
        conn.execute(insert(experiments).values(name="kept", description="", created_ms=now_ms()))
    first.close()

    with recorded_statements() as statements:
        second = MetadataStore(empty_store_uri)
    try:
        changes = [s for s in statements if s.split()[0] in {"CREATE", "ALTER", "DROP", "INSERT"}]
        assert changes == []
        assert migrate.current_revision(second.engine) == migrate.head_revision()
        with second.read() as conn:
            assert conn.execute(select(experiments.c.name)).scalars().all() == ["kept"]
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        second.close()


def test_the_head_read_from_the_scripts_is_alembics() -> None:
    assert migrate.script_head() == migrate.head_revision()


def test_opening_a_store_at_the_head_asks_one_question(store_uri: str) -> None:
    with recorded_statements() as statements:
        MetadataStore(store_uri).close()

    schema_statements = [s for s in statements if "PG_CATALOG" in s or "ALEMBIC" in s]
    assert schema_statements == ["SELECT VERSION_NUM FROM ALEMBIC_VERSION"]


def test_opening_a_store_at_the_head_does_not_load_alembic(store_uri: str) -> None:
    probe = (
        "import json, sys\n"
        "from mlpilot.store import MetadataStore\n"
        "MetadataStore(sys.argv[1]).close()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, store_uri],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(done.stdout) == []


def test_migrations_and_schema_agree(empty_store_uri: str) -> None:
    store = MetadataStore(empty_store_uri)
    try:
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
    finally:
        store.close()

    assert differences == []


def open_and_write(uri: str, name: str, barrier: Any) -> None:
    barrier.wait(timeout=60)
    store = MetadataStore(uri)
    try:
        with store.write() as conn:
            conn.execute(insert(experiments).values(name=name, description="", created_ms=now_ms()))
        if migrate.current_revision(store.engine) != migrate.head_revision():
            raise SystemExit(3)
    finally:
        store.close()


def test_processes_opening_a_fresh_store_at_once_all_succeed(empty_store_uri: str) -> None:
    names = [f"worker-{i}" for i in range(4)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(names))
    workers = [
        context.Process(target=open_and_write, args=(empty_store_uri, name, barrier))
        for name in names
    ]

    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    assert [worker.exitcode for worker in workers] == [0] * len(names)
    store = MetadataStore(empty_store_uri)
    try:
        with store.read() as conn:
            assert sorted(conn.execute(select(experiments.c.name)).scalars()) == names
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        store.close()


def test_sqlite_store_folder_is_created(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'a' / 'b' / 'mlpilot.db'}")
    store.close()

    assert (tmp_path / "a" / "b" / "mlpilot.db").is_file()
