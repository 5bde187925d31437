"""API tokens kept for servers by ``mlpilot login``, in a file only their user can read.

``$XDG_CONFIG_HOME/mlpilot/credentials.json`` (``~/.config/...`` by default) maps each
server's URL to its token. ``MLPILOT_TOKEN``, when set, is used instead.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import httpx

from mlpilot.errors import ConfigError, StoreError


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "mlpilot" / "credentials.json"


def _read() -> dict[str, str]:
    try:
        found = json.loads(credentials_path().read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def load_token(url: str) -> str | None:
    """The token ``mlpilot login`` kept for the server at ``url``, if any."""
    return _read().get(url.rstrip("/"))


def save_token(url: str, token: str) -> Path:
    """Keep ``token`` for ``url``, readable by this user only; returns the file."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tokens = _read() | {url.rstrip("/"): token}
    # Written whole under another name and moved into place, created private.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".credentials.")
    try:
        with os.fdopen(descriptor, "w") as handle:
            json.dump(tokens, handle, indent=2)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def check_token(url: str, token: str) -> dict[str, Any]:
    """Who ``token`` is on the server at ``url``: ``{"user": ..., "role": ...}``."""
    try:
        response = httpx.get(
            f"{url.rstrip('/')}/api/v1/whoami",
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
        )
    except httpx.TransportError as exc:
        raise StoreError(f"cannot reach the mlpilot server at {url} ({exc})") from None
    if response.status_code == 401:
        raise ConfigError(f"the server at {url} does not know this token (or it was revoked)")
    response.raise_for_status()
    who: dict[str, Any] = response.json()
    return who
