"""What a server serves and how: one :class:`ModelConfig` per model, and the server's
own settings, from arguments or a TOML file."""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlpilot.errors import ConfigError

_URI = re.compile(r"^(?:models:/)?(?P<name>[^@/\s]+)(?:@(?P<alias>[^@/\s]+)|/(?P<version>\d+))$")
MODES = ("canary", "shadow")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One served model.

    ``uri`` names an alias to follow (``churn@champion``: the server swaps when it
    moves) or a fixed version (``churn/3``). A ``challenger`` gets ``split`` of the
    requests (``canary``: its answers are returned) or a copy of them (``shadow``: only
    recorded).
    """

    uri: str
    max_batch: int = 64
    max_wait_ms: float = 2.0
    latency_target_ms: float = 50.0
    percentile: float = 95.0
    min_workers: int = 1
    max_workers: int | None = None
    #: Seconds without a request after which the model's workers stop (0: never);
    #: the next request loads it again.
    idle_unload_s: float = 0.0
    challenger: str | None = None
    split: float = 0.1
    mode: str = "canary"

    def __post_init__(self) -> None:
        _parse_uri(self.uri)
        if self.challenger is not None:
            _parse_uri(self.challenger)
            if _parse_uri(self.challenger)[0] != self.name:
                raise ConfigError(
                    f"challenger {self.challenger!r} must be a version of {self.name!r}"
                )
        if not _whole(self.max_batch) or self.max_batch < 1:
            raise ConfigError(f"{self.name}: max_batch must be a whole number >= 1")
        for field in ("max_wait_ms", "idle_unload_s"):
            value = getattr(self, field)
            if not _number(value) or value < 0:
                raise ConfigError(f"{self.name}: {field} must be a number >= 0")
        if not _number(self.latency_target_ms) or self.latency_target_ms <= 0:
            raise ConfigError(f"{self.name}: latency_target_ms must be a number > 0")
        if not _number(self.percentile) or not 50 <= self.percentile < 100:
            raise ConfigError(f"{self.name}: percentile must be between 50 and 100, e.g. 95")
        if not _whole(self.min_workers) or self.min_workers < 0:
            raise ConfigError(f"{self.name}: min_workers must be a whole number >= 0")
        if self.max_workers is not None and (
            not _whole(self.max_workers) or self.max_workers < max(1, self.min_workers)
        ):
            raise ConfigError(f"{self.name}: max_workers must be >= min_workers and >= 1")
        if not _number(self.split) or not 0 < self.split <= 1:
            raise ConfigError(f"{self.name}: split must be a share in (0, 1], e.g. 0.1")
        if self.mode not in MODES:
            raise ConfigError(f"{self.name}: mode must be one of {', '.join(MODES)}")

    @property
    def name(self) -> str:
        return _parse_uri(self.uri)[0]


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    models: tuple[ModelConfig, ...]
    host: str = "127.0.0.1"
    port: int = 8080
    #: Port for the Open Inference Protocol over gRPC; None: no gRPC.
    grpc_port: int | None = None
    #: Worker processes shared by all models; default: the machine's cores.
    workers: int | None = None
    max_body_mb: float = 8.0
    #: Share of requests whose rows go to the prediction log (0 to 1). Every request
    #: would cost about a fifth of the throughput; a tenth is enough to watch drift.
    log_sample: float = 0.1
    #: Seconds between looks at the registry for aliases that moved.
    poll_s: float = 1.0
    #: Seconds between re-distributions of workers among models.
    rebalance_s: float = 2.0

    def __post_init__(self) -> None:
        if not self.models:
            raise ConfigError("name at least one model to serve, e.g. churn@champion")
        names = [m.name for m in self.models]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ConfigError(f"model(s) {', '.join(repeated)} are listed more than once")
        if not isinstance(self.host, str) or not self.host:
            raise ConfigError(f"host must be an address such as 127.0.0.1, got {self.host!r}")
        if not _whole(self.port) or not 0 <= self.port < 65536:
            raise ConfigError(f"port must be a whole number below 65536, got {self.port!r}")
        if self.grpc_port is not None and (
            not _whole(self.grpc_port)
            or not 0 < self.grpc_port < 65536
            or self.grpc_port == self.port
        ):
            raise ConfigError(
                "grpc_port must be a whole number below 65536 other than port, "
                f"got {self.grpc_port!r}"
            )
        if self.workers is not None and (not _whole(self.workers) or self.workers < 1):
            raise ConfigError("workers must be a whole number >= 1")
        if self.workers is not None and self.workers < sum(m.min_workers for m in self.models):
            raise ConfigError(
                f"workers ({self.workers}) is fewer than the models' min_workers add up to"
            )
        for field in ("max_body_mb", "poll_s", "rebalance_s"):
            value = getattr(self, field)
            if not _number(value) or value <= 0:
                raise ConfigError(f"{field} must be a number > 0")
        if not _number(self.log_sample) or not 0 <= self.log_sample <= 1:
            raise ConfigError("log_sample must be a share between 0 and 1")

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> ServeConfig:
        """A ``[server]`` table and one ``[[models]]`` table per model; ``overrides``
        (not None) replace the server's settings."""
        try:
            document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read the serving config {path}: {exc}") from None
        return cls.from_dict(document, **overrides)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], **overrides: Any) -> ServeConfig:
        unknown = sorted(set(document) - {"server", "models"})
        if unknown:
            raise ConfigError(
                f"unknown table(s) {', '.join(map(repr, unknown))}; a serving config has "
                "[server] and [[models]]"
            )
        if not isinstance(document.get("server", {}), Mapping):
            raise ConfigError("server must be a table ([server]) of settings")
        server = dict(document.get("server", {}))
        server.update({k: v for k, v in overrides.items() if v is not None})
        models = document.get("models", [])
        if not isinstance(models, list):
            raise ConfigError("models must be a list of tables ([[models]])")
        return cls(models=tuple(_model(m) for m in models), **_known(cls, server, "server"))


def model_configs(uris: Sequence[str], **options: Any) -> tuple[ModelConfig, ...]:
    """One config per URI with the same ``options`` (those that are not None)."""
    given = {k: v for k, v in options.items() if v is not None}
    return tuple(ModelConfig(uri=uri, **given) for uri in uris)


def _model(table: Any) -> ModelConfig:
    if not isinstance(table, Mapping) or "uri" not in table:
        raise ConfigError('each [[models]] table needs a uri, e.g. uri = "churn@champion"')
    return ModelConfig(**_known(ModelConfig, table, f"model {table['uri']!r}"))


def _known(cls: type, table: Mapping[str, Any], where: str) -> dict[str, Any]:
    fields = {f.name for f in dataclasses.fields(cls)} - {"models"}
    unknown = sorted(set(table) - fields)
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {unknown}; known: {sorted(fields)}")
    return dict(table)


def _parse_uri(uri: str) -> tuple[str, str | None, int | None]:
    match = _URI.match(uri) if isinstance(uri, str) else None
    if match is None:
        raise ConfigError(
            f"serve a model as NAME@ALIAS or NAME/VERSION (churn@champion, churn/3), not {uri!r}"
        )
    version = match["version"]
    return match["name"], match["alias"], None if version is None else int(version)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
