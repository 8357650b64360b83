"""Errors and exit codes.

Exit codes are API (CONTRACT.md, "Exit codes"). Every failure the core can
report is a :class:`MirrorError` subclass carrying its exit code and a short
message that says what failed and what to do next. The CLI maps them to
stderr + exit status in exactly one place (``mirror_cli.cli.app.main``).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # I/O error, remote unreachable, disk full, lock not obtained
    USAGE = 2  # unknown command or flag, bad argument value
    VERIFY = 3  # tampering, corruption, unrecoverable data
    LOCKED = 4  # no key available, or wrong passphrase
    INVALID_INPUT = 5  # import file, backup file, manifest rejected; nothing changed


class MirrorError(Exception):
    """Base class: a failure with a user-facing message and an exit code."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class OperationError(MirrorError):
    """The operation failed (I/O, disk full, lock not obtained in time)."""

    exit_code = ExitCode.FAILED


class UsageError(MirrorError):
    """A bad argument value, an unknown id, a missing path, an unparsable config."""

    exit_code = ExitCode.USAGE


class VerificationError(MirrorError):
    """Tampering, corruption, or data that cannot be recovered."""

    exit_code = ExitCode.VERIFY


class LockedError(MirrorError):
    """No key available, or a wrong passphrase."""

    exit_code = ExitCode.LOCKED


class InvalidInputError(MirrorError):
    """An input file (import, backup, manifest) was rejected; nothing was changed."""

    exit_code = ExitCode.INVALID_INPUT
