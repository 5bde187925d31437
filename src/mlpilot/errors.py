"""Errors raised by mlpilot.

Every failure a user can cause or fix is an :class:`MlpilotError`. Each subclass also
inherits the built-in exception that best describes it, so ``except KeyError`` or
``except ValueError`` keep working for callers who do not know mlpilot's names.
The CLI prints ``str(error)`` on one line and exits with status 2; the API turns it
into a 4xx JSON answer.
"""

from __future__ import annotations

from typing import Any


class MlpilotError(Exception):
    """Root of every error mlpilot raises on purpose."""


class ConfigError(MlpilotError, ValueError):
    """A setting is missing, malformed or points somewhere unusable."""


class InvalidInputError(MlpilotError, ValueError):
    """A value given by the user breaks a rule (a key too long, a NaN metric, ...)."""


class NotFoundError(MlpilotError, KeyError):
    """A named object (run, experiment, artifact, ...) does not exist."""

    def __str__(self) -> str:
        # KeyError would repr() the message and wrap it in quotes.
        return str(self.args[0]) if self.args else ""


class ConflictError(MlpilotError, ValueError):
    """The request contradicts what is already stored (e.g. changing a logged param)."""


class AccessDeniedError(MlpilotError, PermissionError):
    """The caller's role on a team server does not allow what they asked."""


class FilterError(InvalidInputError):
    """A search filter or ordering expression could not be parsed."""


class ArtifactCorruptedError(MlpilotError, OSError):
    """Stored artifact bytes do not match their recorded sha256 digest."""


class StoreError(MlpilotError, RuntimeError):
    """The metadata store cannot be opened, migrated or written."""


class NoActiveRunError(MlpilotError, RuntimeError):
    """A module-level logging helper was called with no run started."""


class DataValidationError(InvalidInputError):
    """Data broke the rules of its schema; ``report`` names every failing rule."""

    def __init__(self, report: Any) -> None:
        super().__init__(str(report))
        self.report = report
