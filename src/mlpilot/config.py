"""Settings, read in one place.

Precedence, highest first: explicit arguments, ``MLPILOT_*`` environment variables,
the ``[mlpilot]`` table of ``mlpilot.toml`` in the working directory (or the file named
by ``MLPILOT_CONFIG``), then defaults.

Example ``mlpilot.toml``::

    [mlpilot]
    home = "/data/mlpilot"
    store_uri = "postgresql+psycopg://mlpilot@db/mlpilot"
    artifacts_uri = "s3://ml-artifacts/mlpilot"
"""

from __future__ import annotations

import dataclasses
import getpass
import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlpilot.errors import ConfigError

_ENV_PREFIX = "MLPILOT_"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Resolved settings. Build one with :func:`load_settings`."""

    home: Path
    store_uri: str
    artifacts_uri: str
    user: str
    #: Seconds between flushes of buffered metrics.
    flush_interval_s: float = 1.0
    #: Seconds between liveness beats of a running run.
    heartbeat_interval_s: float = 10.0
    #: A run whose last beat is older than this is marked failed.
    heartbeat_timeout_s: float = 120.0
    #: Local folder of decompressed dataset copies; default ``<home>/cache``.
    cache_dir: Path | None = None
    #: The cache drops its least recently read copies beyond this many GiB.
    cache_max_gb: float = 20.0

    @property
    def dataset_cache(self) -> Path:
        return (self.cache_dir or self.home / "cache") / "datasets"


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def load_settings(**overrides: Any) -> Settings:
    """Resolve settings from arguments, environment, ``mlpilot.toml`` and defaults.

    Args:
        overrides: Any :class:`Settings` field; ``None`` values are ignored.

    Raises:
        ConfigError: An unknown setting, a malformed value or an unreadable config file.
    """
    unknown = set(overrides) - set(_FIELDS)
    if unknown:
        raise ConfigError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(_FIELDS)}")
    raw: dict[str, Any] = dict(_read_toml())
    raw.update(_read_env(os.environ))
    raw.update({k: v for k, v in overrides.items() if v is not None})
    for name in ("home", "store_uri", "artifacts_uri", "user", "cache_dir"):
        if name in raw and not isinstance(raw[name], str | os.PathLike):
            raise ConfigError(f"setting {name!r} must be text, got {raw[name]!r}")

    home = Path(raw.get("home", ".mlpilot")).expanduser().absolute()
    store_uri = raw.get("store_uri") or f"sqlite:///{home / 'mlpilot.db'}"
    artifacts_uri = raw.get("artifacts_uri") or (home / "artifacts").as_uri()
    values: dict[str, Any] = {
        "home": home,
        "store_uri": str(store_uri),
        "artifacts_uri": str(artifacts_uri),
        "user": str(raw.get("user") or _default_user()),
    }
    if raw.get("cache_dir"):
        values["cache_dir"] = Path(raw["cache_dir"]).expanduser().absolute()
    for name in ("flush_interval_s", "heartbeat_interval_s", "heartbeat_timeout_s", "cache_max_gb"):
        if name in raw:
            values[name] = _positive_float(name, raw[name])
    return Settings(**values)


def _read_env(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        name: environ[_ENV_PREFIX + name.upper()]
        for name in _FIELDS
        if environ.get(_ENV_PREFIX + name.upper())
    }


def _read_toml() -> Mapping[str, Any]:
    path = Path(os.environ.get("MLPILOT_CONFIG", "mlpilot.toml"))
    if not path.is_file():
        if "MLPILOT_CONFIG" in os.environ:
            raise ConfigError(f"MLPILOT_CONFIG names {path}, which is not a file")
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    table = document.get("mlpilot", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [mlpilot] must be a table")
    unknown = set(table) - set(_FIELDS)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {sorted(unknown)}; known: {sorted(_FIELDS)}")
    return table


def _positive_float(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (number > 0 and math.isfinite(number)):
        raise ConfigError(
            f"setting {name!r} must be a positive, finite number of seconds, got {value!r}"
        )
    return number


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
