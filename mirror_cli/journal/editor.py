"""Compose text in the user's editor ($VISUAL, $EDITOR, or `editor:` in config).

The text goes through a draft file in a private (0700) folder: in RAM (``/dev/shm``, the RAM
folder backups work in, :mod:`mirror_cli.backup.workspace`) when it has room, else in the
journal's own folder; never the shared temp folder, since the draft of an encrypted journal
is its plaintext. The draft outlives the editor: the caller discards it once the text is
committed, or keeps it, and says where, when saving failed (:class:`Draft`). The editor runs
without the passphrase variables (``MIRROR_*PASSPHRASE*``) in its environment.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mirror_cli.backup.workspace import RAM_DIR, _ram_has_room
from mirror_cli.errors import OperationError, UsageError
from mirror_cli.localfs import ensure_private_dir

DRAFT_PREFIX = "mirror-draft-"  # not a backup work folder's name: their sweep must not take a kept draft


def editor_command(env, configured: str | None) -> str | None:
    return env.get("VISUAL") or env.get("EDITOR") or configured or None


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """*env* (default: this process's) without the passphrase variables, for a child process."""
    source = os.environ if env is None else env
    return {k: v for k, v in source.items() if not (k.upper().startswith("MIRROR_") and "PASSPHRASE" in k.upper())}


@dataclass
class Draft:
    """The draft file the editor saved, and the text read from it."""

    path: Path
    text: str

    def retry_hint(self, retry: str) -> str:
        return f"Your text is kept in {self.path}; `{retry} < {self.path}` saves it."

    def discard(self) -> None:
        """Overwrite, then remove the draft and its folder (once its text is committed)."""
        _erase(self.path)


def _erase(path: Path) -> None:
    with contextlib.suppress(OSError):
        size = path.stat().st_size
        with open(path, "r+b") as fh:  # overwrite before unlinking: the draft was private text
            fh.write(b"\0" * size)
            fh.flush()
            os.fsync(fh.fileno())
    with contextlib.suppress(OSError):
        path.unlink()
    with contextlib.suppress(OSError):
        os.rmdir(path.parent)


def _draft_folder(local: Path, expected: int) -> Path:
    """A fresh private 0700 folder: in RAM when it has room for *expected* bytes, else in *local*."""
    parent = RAM_DIR if _ram_has_room(expected) else ensure_private_dir(Path(local).absolute())
    try:
        return Path(tempfile.mkdtemp(prefix=DRAFT_PREFIX, dir=parent))  # mode 0700
    except OSError as exc:
        raise OperationError(f"cannot create a private folder for the draft in {parent}: {exc.strerror}.") from None


def edit_text(command: str, initial: str = "", *, local: Path, retry: str = "mirror reflect",
              suffix: str = ".md") -> Draft:
    """Open *command* on a private draft holding *initial*; return the saved :class:`Draft`.

    *local* is the journal's folder (the draft's place when RAM has no room); *retry* is the
    command that saves a kept draft from stdin, named in the hint when the editor fails after
    writing something (the draft is then kept). A draft with nothing new is removed.
    """
    data = initial.encode("utf-8")
    path = _draft_folder(local, len(data) + (1 << 20)) / f"reflection{suffix}"
    keep = False
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            argv = shlex.split(command) + [str(path)]
            status = subprocess.call(argv, env=child_env())
        except (OSError, ValueError) as exc:
            raise OperationError(f"cannot start the editor {command!r}: {exc}.",
                                 "Set VISUAL or EDITOR to an editor command.") from None
        try:
            saved = path.read_bytes()
        except OSError:
            saved = b""
        keep = bool(saved.strip()) and saved != data  # something new was written: never lose it
        draft = Draft(path, "")
        if status != 0:
            raise OperationError(f"the editor {command!r} exited with status {status}; nothing was saved.",
                                 draft.retry_hint(retry) if keep else None)
        try:
            draft.text = saved.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError("the editor saved text that is not valid UTF-8; nothing was saved.",
                             "Set the editor to write UTF-8." + (
                                 f" Your text is kept in {path}; `iconv -f latin1 -t utf-8 {path} | {retry}` "
                                 "saves it." if keep else "")) from None
        keep = True
        return draft
    finally:
        if not keep:
            _erase(path)

