"""One exception family. Every message says what went wrong *and what to do next*.

The CLI catches :class:`TinyOpsError` once, prints its message and exits with
``exit_code`` (1 unless a subclass says otherwise). Library code never prints.
"""

from __future__ import annotations


class TinyOpsError(Exception):
    """Base of every error tinyops raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} — {hint}")

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} — {self.hint}"


class WorkspaceError(TinyOpsError):
    """No workspace, or a workspace that cannot be opened."""


class NotFoundError(TinyOpsError):
    """A named thing (dataset, model, version, alias, build, device…) does not exist."""


class ReferenceSyntaxError(TinyOpsError):
    """A reference such as ``NAME@VERSION:VARIANT`` is malformed."""


class InputError(TinyOpsError):
    """A user-supplied file or value is unreadable or invalid."""


class BlobCorruptError(TinyOpsError):
    """A blob's bytes no longer match its sha256."""


class ConflictError(TinyOpsError):
    """The request contradicts what is stored (e.g. alias to a missing version)."""


class MissingExtraError(TinyOpsError):
    """An optional dependency (TensorFlow, LiteRT, TFLite Micro…) is not installed; the hint names the extra."""


class ModelError(TinyOpsError):
    """Training, conversion, evaluation or an interpreter failed."""


class DoesNotFitError(TinyOpsError):
    """A model does not fit a device profile."""


class DeviceError(TinyOpsError):
    """A device, serial link or emulated board misbehaved."""


class FleetError(TinyOpsError):
    """Broker, MQTT or rollout trouble."""


class SignatureError(TinyOpsError):
    """A bundle's hashes or signature do not verify."""


class DriftDetected(TinyOpsError):
    """Not a failure: drift was found. Exit code 3 so scripts can branch on it."""

    exit_code = 3


class GateFailed(TinyOpsError):
    """A pipeline gate did not pass."""
