"""Settings: precedence of the sources, and clear errors for values that cannot work."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from mlpilot.config import load_settings
from mlpilot.errors import ConfigError
from mlpilot.store import ArtifactStore, MetadataStore, Store

FLOAT_SETTINGS = ["flush_interval_s", "heartbeat_interval_s", "heartbeat_timeout_s"]


def write_toml(path: Path, body: str) -> Path:
    path.write_text(f"[mlpilot]\n{body}\n", encoding="utf-8")
    return path


def test_defaults_live_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLPILOT_HOME")

    settings = load_settings()

    home = tmp_path / ".mlpilot"
    assert settings.home == home
    assert settings.store_uri == f"sqlite:///{home / 'mlpilot.db'}"
    assert settings.artifacts_uri == (home / "artifacts").as_uri()
    assert settings.user == getpass.getuser()
    assert (settings.flush_interval_s, settings.heartbeat_interval_s) == (1.0, 10.0)
    assert settings.heartbeat_timeout_s == 120.0


def test_explicit_beats_env_beats_toml_beats_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_toml(
        tmp_path / "mlpilot.toml",
        'user = "toml"\nflush_interval_s = 3\nheartbeat_interval_s = 4\nstore_uri = "sqlite:///t.db"',
    )
    monkeypatch.setenv("MLPILOT_USER", "env")
    monkeypatch.setenv("MLPILOT_FLUSH_INTERVAL_S", "5")

    settings = load_settings(user="explicit")

    assert settings.user == "explicit"  # explicit over env and toml
    assert settings.flush_interval_s == 5.0  # env over toml
    assert settings.heartbeat_interval_s == 4.0  # toml over default
    assert settings.store_uri == "sqlite:///t.db"
    assert settings.heartbeat_timeout_s == 120.0  # default
    assert load_settings().user == "env"
    monkeypatch.delenv("MLPILOT_USER")
    assert load_settings().user == "toml"


def test_none_and_empty_values_fall_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_toml(tmp_path / "mlpilot.toml", 'user = "toml"')
    monkeypatch.setenv("MLPILOT_USER", "")

    assert load_settings(user=None).user == "toml"


def test_mlpilot_config_names_another_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_toml(tmp_path / "mlpilot.toml", 'user = "local"')
    other = write_toml(tmp_path / "team.toml", 'user = "team"')
    monkeypatch.setenv("MLPILOT_CONFIG", str(other))

    assert load_settings().user == "team"


def test_missing_mlpilot_config_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLPILOT_CONFIG", str(tmp_path / "absent.toml"))

    with pytest.raises(ConfigError, match="absent.toml"):
        load_settings()


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "mlpilot.toml").write_text("[mlpilot\nuser = ", encoding="utf-8")

    with pytest.raises(ConfigError, match=r"cannot read mlpilot\.toml"):
        load_settings()


def test_unknown_settings_are_named(tmp_path: Path) -> None:
    write_toml(tmp_path / "mlpilot.toml", 'colour = "blue"')
    with pytest.raises(ConfigError, match="colour"):
        load_settings()
    (tmp_path / "mlpilot.toml").unlink()
    with pytest.raises(ConfigError, match="flush_interval"):
        load_settings(flush_interval=1)


@pytest.mark.parametrize("name", FLOAT_SETTINGS)
@pytest.mark.parametrize("value", ["soon", "0", "-1", "nan", "inf", "-inf"])
def test_bad_number_from_env_names_the_setting(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"MLPILOT_{name.upper()}", value)

    with pytest.raises(ConfigError, match=name):
        load_settings()


@pytest.mark.parametrize("body", ['flush_interval_s = "fast"', "flush_interval_s = [1, 2]"])
def test_bad_number_from_toml_names_the_setting(tmp_path: Path, body: str) -> None:
    write_toml(tmp_path / "mlpilot.toml", body)

    with pytest.raises(ConfigError, match="flush_interval_s"):
        load_settings()


@pytest.mark.parametrize("name", ["home", "store_uri", "artifacts_uri", "user"])
def test_text_setting_of_another_type_names_the_setting(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLPILOT_HOME")
    write_toml(tmp_path / "mlpilot.toml", f"{name} = 5")

    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_number_settings_accept_text_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPILOT_HEARTBEAT_TIMEOUT_S", "2.5")

    assert load_settings().heartbeat_timeout_s == 2.5


@pytest.mark.parametrize(
    "uri",
    ["mysql://user@localhost/db", "ftp://example.org/x", "not a database url"],
)
def test_unsupported_store_uri_is_a_config_error(uri: str) -> None:
    with pytest.raises(ConfigError, match="sqlite"):
        Store(load_settings(store_uri=uri))


@pytest.mark.parametrize("uri", ["sqlite:///:memory:", "sqlite://"])
def test_in_memory_sqlite_is_a_config_error(uri: str) -> None:
    with pytest.raises(ConfigError, match="file path"):
        MetadataStore(uri)


def test_unknown_artifact_protocol_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="nosuchproto"):
        ArtifactStore("nosuchproto://bucket/prefix")


def test_store_opens_where_the_environment_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLPILOT_STORE_URI", f"sqlite:///{tmp_path / 'elsewhere' / 'db.sqlite'}")

    store = Store(load_settings())
    store.close()

    assert (tmp_path / "elsewhere" / "db.sqlite").is_file()
