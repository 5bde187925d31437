"""Stores that cannot be opened give one clear error, never a raw driver exception."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select

from mlpilot.errors import ConfigError, NotFoundError, StoreError
from mlpilot.store import ArtifactStore, MetadataStore
from mlpilot.store._schema import experiments


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 300)
    with pytest.raises(StoreError, match="cannot open the metadata store"):
        MetadataStore(f"sqlite:///{garbage}")


def test_a_schema_from_a_newer_mlpilot_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    MetadataStore(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError, match="newer mlpilot"):
        MetadataStore(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("9999",)


def test_an_artifact_location_that_cannot_be_a_folder_is_a_config_error(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match="cannot use .* as the artifact store"):
        ArtifactStore((a_file / "artifacts").as_uri())


def test_without_leave_to_create_a_missing_sqlite_store_is_not_found(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "mlpilot.db"
    with pytest.raises(NotFoundError, match=f"no mlpilot store at {path}"):
        MetadataStore(f"sqlite:///{path}", create=False)
    assert not (tmp_path / "no").exists()


def test_without_leave_to_create_an_empty_sqlite_file_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(NotFoundError, match="no mlpilot store at"):
        MetadataStore(f"sqlite:///{path}", create=False)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_without_leave_to_create_a_database_with_no_schema_is_left_alone(
    empty_store_uri: str,
) -> None:
    with pytest.raises(NotFoundError, match="no mlpilot store at"):
        MetadataStore(empty_store_uri, create=False)

    if empty_store_uri.startswith("sqlite"):
        assert not Path("store").exists()
    else:
        engine = create_engine(empty_store_uri)
        try:
            assert inspect(engine).get_table_names() == []
        finally:
            engine.dispose()


def test_without_leave_to_create_an_existing_store_opens(store_uri: str) -> None:
    store = MetadataStore(store_uri, create=False)
    try:
        with store.read() as conn:
            assert conn.execute(select(func.count()).select_from(experiments)).scalar() == 0
    finally:
        store.close()
