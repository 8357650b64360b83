"""Compose text in the user's editor ($VISUAL, $EDITOR, or `editor:` in config)."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from mirror_cli.errors import OperationError, UsageError


def editor_command(env, configured: str | None) -> str | None:
    return env.get("VISUAL") or env.get("EDITOR") or configured or None


def edit_text(command: str, initial: str = "", *, suffix: str = ".md") -> str:
    """Open *command* on a private temp file holding *initial*; return what was saved."""
    folder = tempfile.mkdtemp(prefix="mirror-")  # mode 0700
    path = Path(folder) / f"reflection{suffix}"
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(initial)
        try:
            argv = shlex.split(command) + [str(path)]
            status = subprocess.call(argv)
        except (OSError, ValueError) as exc:
            raise OperationError(f"cannot start the editor {command!r}: {exc}.",
                                 "Set VISUAL or EDITOR to an editor command.") from None
        if status != 0:
            raise OperationError(f"the editor {command!r} exited with status {status}; nothing was saved.")
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise UsageError("the editor saved text that is not valid UTF-8; nothing was saved.",
                             "Set the editor to write UTF-8 and try again.") from None
    finally:
        with contextlib.suppress(OSError):
            size = path.stat().st_size
            with open(path, "r+b") as fh:  # overwrite before unlinking: the draft was private text
                fh.write(b"\0" * size)
        with contextlib.suppress(OSError):
            path.unlink()
        with contextlib.suppress(OSError):
            os.rmdir(folder)
