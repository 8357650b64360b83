"""Where the key comes from: passphrase sources and the OS keyring cache.

Sources, first wins (CONTRACT.md, "Secrets"):

1. ``MIRROR_PASSPHRASE_FILE`` -- the file's first line, without its line end;
2. ``MIRROR_PASSPHRASE``;
3. the OS keyring -- service ``mirror``, user name = the database id, holding
   the passphrase-derived key (KEK, base64), never the passphrase;
4. a prompt, only when stdin is a terminal (the caller says so: *interactive*).

Otherwise :class:`LockedError` (exit 4) naming these options. A source that
is present but wrong fails at once (a wrong ``MIRROR_PASSPHRASE`` does not
fall through to the keyring); a cached key that no longer opens the database
(the passphrase was changed elsewhere) is skipped with a warning.

The keyring is handled like jrnl does: no backend (``NoKeyringError``, the
``fail`` or ``null`` backend, an empty chainer) means "unavailable", quietly;
any other keyring error becomes a warning in the result, or a
:class:`KeyringFailure` (exit 1) where a command needs the keyring. A backend
that keeps the key in plain text on disk (keyrings.alt) is not used unless
``MIRROR_ALLOW_PLAINTEXT_KEYRING=1``: a warning, then as if there were none. The
``keyring`` package is imported only inside :class:`KeyCache`.

Nothing here prints; secrets never appear in messages, reprs or exception
contexts.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mirror_cli import crypto
from mirror_cli.crypto.unlocked import forbid_core_dumps
from mirror_cli.errors import LockedError, OperationError, UsageError

SERVICE = "mirror"

PASSPHRASE_FILE = "MIRROR_PASSPHRASE_FILE"
PASSPHRASE_ENV = "MIRROR_PASSPHRASE"
NEW_PASSPHRASE_FILE = "MIRROR_NEW_PASSPHRASE_FILE"
NEW_PASSPHRASE_ENV = "MIRROR_NEW_PASSPHRASE"
IMPORT_PASSPHRASE_FILE = "MIRROR_IMPORT_PASSPHRASE_FILE"  # an encrypted file sealed under another passphrase
IMPORT_PASSPHRASE_ENV = "MIRROR_IMPORT_PASSPHRASE"
EXPORT_PASSPHRASE_FILE = "MIRROR_EXPORT_PASSPHRASE_FILE"  # the passphrase of one `export --encrypt` file
EXPORT_PASSPHRASE_ENV = "MIRROR_EXPORT_PASSPHRASE"
SOURCE_KEYRING = "keyring"
SOURCE_PROMPT = "prompt"

PROMPT_ATTEMPTS = 3
MAX_PASSPHRASE_LINE = 64 * 1024

_NO_KEY_HINT = ("Set MIRROR_PASSPHRASE_FILE (a file whose first line is the passphrase) or "
                "MIRROR_PASSPHRASE, or run `mirror key unlock` in a terminal to cache the key "
                "in the OS keyring.")
_NO_KEY_NO_KEYRING_HINT = ("Set MIRROR_PASSPHRASE_FILE (a file whose first line is the passphrase) or "
                           "MIRROR_PASSPHRASE, or run the command in a terminal to be asked (there is no "
                           "OS keyring here to cache the key).")
_NO_KEYRING_HINT = ("Use MIRROR_PASSPHRASE_FILE (a file whose first line is the passphrase) or "
                    "MIRROR_PASSPHRASE instead.")

Prompt = Callable[[str], str]


@dataclass(frozen=True)
class Passphrase:
    """A passphrase and the name of where it came from (never shown: the value)."""

    value: str = field(repr=False)
    source: str
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        forbid_core_dumps()  # a core file would hold the passphrase


@dataclass(frozen=True)
class UnlockResult:
    dek: bytes = field(repr=False)
    kek: bytes = field(repr=False)
    source: str  # PASSPHRASE_FILE, PASSPHRASE_ENV, "keyring" or "prompt"
    warnings: tuple[str, ...] = ()  # for the CLI to show on stderr (keyring trouble, loose file mode)


# ---------------------------------------------------------------------------
# passphrase sources
# ---------------------------------------------------------------------------


def _read_first_line(path: str, var: str) -> Passphrase:
    """First line of *path* without ``\\n`` / ``\\r\\n`` (a UTF-8 BOM is dropped)."""
    warnings: list[str] = []
    problem = None
    line = b""
    try:
        with open(path, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            line = fh.readline(MAX_PASSPHRASE_LINE + 1)
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
    if problem is not None:
        raise UsageError(f"cannot read {var} {path}: {problem}.", "Check the path and its permissions.")
    if stat.S_ISREG(mode) and mode & 0o077:
        warnings.append(f"{var} {path} can be read by other users; run `chmod 600 {path}`.")
    text = None
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if text is None:
        raise UsageError(f"the first line of {var} {path} is not UTF-8 text.", "Save the file as UTF-8.")
    if text.endswith("\n"):
        text = text[:-1]
    if text.endswith("\r"):
        text = text[:-1]
    if not text:
        raise UsageError(f"the first line of {var} {path} is empty.", "Put the passphrase on the first line.")
    return Passphrase(text, var, tuple(warnings))


def _from_env(env: Mapping[str, str], file_var: str, env_var: str) -> Passphrase | None:
    path = env.get(file_var)
    if path:
        return _read_first_line(path, file_var)
    value = env.get(env_var)
    if value:
        return Passphrase(value, env_var)
    return None


def passphrase_from_env(env: Mapping[str, str]) -> Passphrase | None:
    """``MIRROR_PASSPHRASE_FILE``, then ``MIRROR_PASSPHRASE``; None when neither is set."""
    return _from_env(env, PASSPHRASE_FILE, PASSPHRASE_ENV)


def _ask(prompt: Prompt | None, text: str) -> str | None:
    if prompt is None:
        import getpass

        prompt = getpass.getpass
    try:
        answer = prompt(text)
    except EOFError:
        return None
    return answer or None


def current_passphrase(env: Mapping[str, str], interactive: bool, *, prompt: Prompt | None = None) -> Passphrase:
    """The current passphrase (``key disable``/``change``/``export``): env sources, then a prompt.

    The keyring is not a source here: it holds the derived key, not the
    passphrase (use :func:`unlock` when the key is enough).
    """
    return _given_or_asked(passphrase_from_env(env), interactive, prompt, "Current passphrase for mirror: ",
                           LockedError("this needs the current passphrase and none was given.",
                                       "Set MIRROR_PASSPHRASE_FILE (a file whose first line is the passphrase) "
                                       "or MIRROR_PASSPHRASE, or run the command in a terminal to be asked."))


def _given_or_asked(found: Passphrase | None, interactive: bool, prompt: Prompt | None, question: str,
                    missing: LockedError) -> Passphrase:
    """*found* (from the environment), else the answer to *question* on a terminal, else *missing*."""
    if found is not None:
        return found
    if interactive:
        answer = _ask(prompt, question)
        if answer is not None:
            return Passphrase(answer, SOURCE_PROMPT)
    raise missing


def import_passphrase(env: Mapping[str, str], interactive: bool, *, prompt: Prompt | None = None) -> Passphrase:
    """The passphrase of an encrypted export being imported, when the database's own key does not
    open it (another database, or one re-keyed since): ``MIRROR_IMPORT_PASSPHRASE_FILE``,
    ``MIRROR_IMPORT_PASSPHRASE``, then the current-passphrase variables, then a prompt. The import
    variables let a database unlocked by one passphrase read a file sealed under another, from cron."""
    found = _from_env(env, IMPORT_PASSPHRASE_FILE, IMPORT_PASSPHRASE_ENV) or passphrase_from_env(env)
    return _given_or_asked(found, interactive, prompt, "Passphrase of the encrypted file: ", LockedError(
        "this file is encrypted under another key and no passphrase for it was given.",
        "Set MIRROR_IMPORT_PASSPHRASE_FILE (a file whose first line is the passphrase that was current when "
        "it was made) or MIRROR_IMPORT_PASSPHRASE, or run the command in a terminal."))


def new_passphrase(env: Mapping[str, str], interactive: bool, *, prompt: Prompt | None = None,
                   allow_current: bool = False) -> Passphrase:
    """A new passphrase (``key enable``, ``key change``).

    Sources: ``MIRROR_NEW_PASSPHRASE_FILE``, ``MIRROR_NEW_PASSPHRASE``, then
    (``key enable`` only, *allow_current*) ``MIRROR_PASSPHRASE_FILE`` and
    ``MIRROR_PASSPHRASE``, then a prompt asked twice on a terminal.
    """
    found = _from_env(env, NEW_PASSPHRASE_FILE, NEW_PASSPHRASE_ENV)
    if found is None and allow_current:
        found = passphrase_from_env(env)
    if found is not None:
        if "\n" in found.value or "\r" in found.value:
            # A passphrase file holds one line and a prompt reads one: this one could only ever be
            # given through the environment again.
            raise UsageError(f"the new passphrase (from {found.source}) holds a line break; nothing was changed.",
                             "Choose a passphrase of one line: it must also work at a prompt and in a "
                             "passphrase file.")
        return found
    if interactive:
        first = _ask(prompt, "New passphrase for mirror: ")
        if first is None:
            raise UsageError("no passphrase was entered.", "Type a non-empty passphrase.")
        second = _ask(prompt, "Repeat the new passphrase: ")
        if second != first:
            raise UsageError("the two passphrases do not match; nothing was changed.", "Run the command again.")
        return Passphrase(first, SOURCE_PROMPT)
    names = "MIRROR_NEW_PASSPHRASE_FILE or MIRROR_NEW_PASSPHRASE"
    if allow_current:
        names = "MIRROR_NEW_PASSPHRASE_FILE, MIRROR_NEW_PASSPHRASE, MIRROR_PASSPHRASE_FILE or MIRROR_PASSPHRASE"
    raise LockedError("a new passphrase is needed and none was given.",
                      f"Set {names}, or run the command in a terminal to be asked twice.")


def export_passphrase(env: Mapping[str, str], interactive: bool, *, prompt: Prompt | None = None) -> Passphrase:
    """The passphrase of one ``export --encrypt`` file (its own key is wrapped under it, its own salt).

    Sources: ``MIRROR_EXPORT_PASSPHRASE_FILE``, ``MIRROR_EXPORT_PASSPHRASE``, then the new- and
    current-passphrase variables (as before this file had a key of its own), then a prompt asked
    twice on a terminal. The journal's data key is never what opens the file.
    """
    found = (_from_env(env, EXPORT_PASSPHRASE_FILE, EXPORT_PASSPHRASE_ENV)
             or _from_env(env, NEW_PASSPHRASE_FILE, NEW_PASSPHRASE_ENV) or passphrase_from_env(env))
    if found is not None:
        return found
    if interactive:
        first = _ask(prompt, "Passphrase for the encrypted export: ")
        if first is None:
            raise UsageError("no passphrase was entered; nothing was exported.", "Type a non-empty passphrase.")
        if _ask(prompt, "Repeat the passphrase: ") != first:
            raise UsageError("the two passphrases do not match; nothing was exported.", "Run the command again.")
        return Passphrase(first, SOURCE_PROMPT)
    raise LockedError("`export --encrypt` needs a passphrase for the file and none was given.",
                      "Set MIRROR_EXPORT_PASSPHRASE_FILE (a file whose first line is the passphrase) or "
                      "MIRROR_EXPORT_PASSPHRASE, or run the command in a terminal to be asked twice.")


MIN_PASSPHRASE_LENGTH = 8

# The most used passwords of the public breach lists (lower case, 8+ characters; shorter ones fail on length).
_COMMON = frozenset("""
password password1 password123 passw0rd p@ssw0rd 12345678 123456789 1234567890 0123456789 87654321
11111111 00000000 qwertyuiop qwerty123 qwertyui 1q2w3e4r 1qaz2wsx zaq12wsx abc12345 abcd1234 iloveyou
sunshine princess football baseball welcome1 welcome123 superman starwars trustno1 letmein1 whatever
computer michelle jennifer internet asdfghjk asdfghjkl 1234qwer q1w2e3r4 q1w2e3r4t5 aa123456 changeme
secret123 passphrase mypassword mirror123 journal1 journal123 dragon123 monkey123 master123 admin123
""".split())


def weakness(value: str, names: tuple[str, ...] = ()) -> str | None:
    """Why *value* is too weak for a new passphrase, or None.

    A few honest rules, no estimator: at least 8 characters; not one of the most
    common passwords; not the name of the journal; not one character (or a
    two-character pattern) repeated; not a plain run like ``12345678`` or ``abcdefgh``.
    """
    if len(value) < MIN_PASSPHRASE_LENGTH:
        return f"it is shorter than {MIN_PASSPHRASE_LENGTH} characters"
    folded = value.strip().casefold()
    if folded in _COMMON:
        return "it is one of the most common passwords"
    if any(folded == n.casefold() for n in names if n):
        return "it is the name of the journal"
    if len(set(folded)) <= 2:
        return "it repeats one or two characters"
    steps = {ord(b) - ord(a) for a, b in zip(folded, folded[1:])}
    if steps <= {1} or steps <= {-1}:
        return "it is a plain run of characters"
    return None


def refuse_weak(found: Passphrase, *, allow_weak: bool, names: tuple[str, ...] = ()) -> None:
    """UsageError (exit 2) when the new passphrase *found* is weak, unless *allow_weak*."""
    why = None if allow_weak else weakness(found.value, names)
    if why is not None:
        raise UsageError(f"the new passphrase (from {found.source}) is too weak: {why}; nothing was changed.",
                         "Choose a longer passphrase (several unrelated words work well), or pass "
                         "--allow-weak to use it anyway.")


# ---------------------------------------------------------------------------
# unlock
# ---------------------------------------------------------------------------


def unlock(crypto_meta: dict[str, Any], db_id: str, env: Mapping[str, str], *, interactive: bool,
           prompt: Prompt | None = None, cache: KeyCache | None = None) -> UnlockResult:
    """Find the key of an encrypted database: file, env, keyring, prompt (in that order).

    *crypto_meta* is the store's ``crypto`` meta record (see
    :class:`mirror_cli.crypto.CryptoMeta`). Does not write to the keyring:
    ``key unlock``/``enable``/``change`` cache ``result.kek`` themselves.
    """
    meta = crypto.CryptoMeta.from_dict(crypto_meta)
    warnings: list[str] = []

    found = passphrase_from_env(env)
    if found is not None:
        warnings.extend(found.warnings)
        kek = crypto.derive_kek(found.value, meta.kdf)
        try:
            dek = crypto.unwrap_data_key(kek, meta.wrapped_key, db_id, source=found.source)
        except LockedError as exc:  # the variable comes first, so only correcting it helps (not `key unlock`)
            raise LockedError(exc.message, f"Check {found.source}: it must hold the passphrase last set with "
                                           "`mirror key enable` or `mirror key change`.") from None
        return UnlockResult(dek, kek, found.source, tuple(warnings))

    cache = cache if cache is not None else KeyCache(env=env)
    cached = None
    try:
        cached = cache.load(db_id)
    except KeyringFailure as exc:
        warnings.append(str(exc))
    notice = cache.notice()
    if notice:
        warnings.append(notice)
    if cached is not None:
        dek = None
        try:
            dek = crypto.unwrap_data_key(cached, meta.wrapped_key, db_id, source=SOURCE_KEYRING)
        except LockedError:
            warnings.append("the key cached in the OS keyring no longer opens this database (was the "
                            "passphrase changed elsewhere?); run `mirror key unlock` to replace it.")
        if dek is not None:
            return UnlockResult(dek, cached, SOURCE_KEYRING, tuple(warnings))

    if interactive:
        wrong: LockedError | None = None
        for attempt in range(PROMPT_ATTEMPTS):
            text = "Passphrase for mirror: " if attempt == 0 else "Wrong passphrase, try again: "
            answer = _ask(prompt, text)
            if answer is None:
                break
            kek = crypto.derive_kek(answer, meta.kdf)
            try:
                dek = crypto.unwrap_data_key(kek, meta.wrapped_key, db_id, source=SOURCE_PROMPT)
            except LockedError as exc:
                wrong = exc
                continue
            return UnlockResult(dek, kek, SOURCE_PROMPT, tuple(warnings))
        if wrong is not None:
            raise LockedError(wrong.message, wrong.hint)

    hint = _NO_KEY_HINT if cache.available() else _NO_KEY_NO_KEYRING_HINT
    if warnings:
        hint = " ".join([hint, *(w[:1].upper() + w[1:] for w in warnings)])
    raise LockedError("this database is encrypted and no key is available.", hint)


# ---------------------------------------------------------------------------
# keyring cache
# ---------------------------------------------------------------------------


def _sentence(text: str | None) -> str | None:
    return text[:1].upper() + text[1:] if text else None


class KeyringFailure(OperationError):
    """The OS keyring exists but failed (locked, D-Bus error, ...)."""


class _Unavailable:
    pass


_UNAVAILABLE = _Unavailable()


_MACOS_KEYRING_API = "keyring.backends.macOS.api"
ALLOW_PLAINTEXT_KEYRING = "MIRROR_ALLOW_PLAINTEXT_KEYRING"
_PLAINTEXT_MODULES = ("keyrings.alt",)  # keyrings.alt's file backends keep the secret readable on disk


def backend_name(backend: Any) -> str:
    return f"{type(backend).__module__}.{type(backend).__qualname__}"


def _is_plaintext(backend: Any) -> bool:
    module = type(backend).__module__
    return any(module == m or module.startswith(m + ".") for m in _PLAINTEXT_MODULES)


def _is_chainer(backend: Any) -> bool:
    return type(backend).__module__ == "keyring.backends.chainer"


class KeyCache:
    """The derived key (KEK) of each database in the OS keyring: service ``mirror``, user = db id.

    *backend* overrides the process-wide keyring (``keyring.get_keyring()``).
    """

    service = SERVICE

    def __init__(self, backend: Any = None, env: Mapping[str, str] | None = None) -> None:
        self._explicit = backend
        self._env = env
        self.refused: str | None = None  # the plaintext backend not used, once one was found

    def _backend(self) -> Any:
        """The usable backend, or None when there is no OS keyring (or only a plaintext one, refused)."""
        backend = self._configured()
        if backend is None:
            return None
        env = self._env if self._env is not None else os.environ
        if env.get(ALLOW_PLAINTEXT_KEYRING) == "1":
            return backend
        members = list(getattr(backend, "backends", None) or []) if _is_chainer(backend) else [backend]
        kept = [b for b in members if not _is_plaintext(b)]
        if len(kept) == len(members):
            return backend
        self.refused = ", ".join(backend_name(b) for b in members if _is_plaintext(b))
        return kept[0] if kept else None

    def notice(self) -> str | None:
        """The warning to show when a plaintext keyring backend was found and not used."""
        if self.refused is None:
            return None
        return (f"the keyring backend {self.refused} keeps keys in plain text on disk, so mirror does not use "
                f"it; set {ALLOW_PLAINTEXT_KEYRING}=1 to use it anyway.")

    def backend_name(self) -> str | None:
        """The configured keyring backend (module.Class), used or not; None when there is none."""
        try:
            backend = self._configured()
        except KeyringFailure:
            return None
        return backend_name(backend) if backend is not None else None

    def _configured(self) -> Any:
        """The configured backend, or None when there is no OS keyring (plaintext ones included)."""
        if sys.platform != "darwin":
            # keyring finds its backend by importing every one it ships. Importing the macOS
            # backend's API runs ctypes.util.find_library three times, which on Linux spawns
            # ldconfig (and gcc): ~70 ms of every encrypted command, for a backend that is never
            # viable off macOS. Marked absent, that import fails at once; keyring catches the
            # ImportError and reports the backend unavailable, as it would anyway.
            sys.modules.setdefault(_MACOS_KEYRING_API, None)
        try:
            import keyring
            from keyring.backends import chainer, fail, null
        except ImportError:
            return None
        backend = self._explicit
        if backend is None:
            try:
                backend = keyring.get_keyring()
            except Exception as exc:  # a bad PYTHON_KEYRING_BACKEND, a broken plugin
                raise KeyringFailure(f"the OS keyring could not be loaded ({type(exc).__name__}).",
                                     "Check PYTHON_KEYRING_BACKEND and the keyring configuration.") from None
        if isinstance(backend, (fail.Keyring, null.Keyring)):
            return None
        if isinstance(backend, chainer.ChainerBackend) and not list(backend.backends):
            return None
        return backend

    def _call(self, action: str, fn: Callable[[Any], Any], secret: str | None = None) -> Any:
        backend = self._backend()
        if backend is None:
            return _UNAVAILABLE
        from keyring.errors import NoKeyringError

        failure = None
        try:
            return fn(backend)
        except NoKeyringError:
            return _UNAVAILABLE
        except Exception as exc:  # KeyringError, and backends that leak D-Bus/OS errors
            detail = str(exc)
            if secret:
                detail = detail.replace(secret, "<hidden>")
            detail = detail.strip()[:200]
            failure = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        raise KeyringFailure(f"the OS keyring failed to {action} the key ({failure}).",
                             "Unlock the keyring (or log in to a desktop session), or use "
                             "MIRROR_PASSPHRASE_FILE instead.")

    def available(self) -> bool:
        """True when an OS keyring backend is configured (does not touch the keyring itself)."""
        try:
            return self._backend() is not None
        except KeyringFailure:
            return False

    def require(self) -> None:
        """For commands that need the keyring (``key unlock``): LockedError (exit 4) when there is none."""
        if not self.available():
            hint = " ".join(filter(None, [_NO_KEYRING_HINT, _sentence(self.notice())]))
            raise LockedError("no OS keyring is available here, so the key cannot be cached.", hint)

    def load(self, db_id: str) -> bytes | None:
        """The cached KEK, or None (no keyring, no entry, or an entry that is not a key)."""
        value = self._call("read", lambda kr: kr.get_password(self.service, db_id))
        if value is _UNAVAILABLE or not isinstance(value, str):
            return None
        kek = None
        try:
            kek = base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            pass
        return kek if kek is not None and len(kek) == crypto.KEY_SIZE else None

    def store(self, db_id: str, kek: bytes, *, required: bool = False) -> bool:
        """Cache *kek*; False when there is no keyring (LockedError instead when *required*)."""
        if not isinstance(kek, bytes) or len(kek) != crypto.KEY_SIZE:
            raise UsageError("only a 32-byte derived key can be cached.")
        value = base64.b64encode(kek).decode("ascii")
        result = self._call("store", lambda kr: kr.set_password(self.service, db_id, value), secret=value)
        if result is _UNAVAILABLE:
            if required:
                raise LockedError("no OS keyring is available here, so the key cannot be cached.",
                                  _NO_KEYRING_HINT)
            return False
        return True

    def forget(self, db_id: str) -> bool:
        """Remove the cached key; True when there was one."""
        value = self._call("read", lambda kr: kr.get_password(self.service, db_id))
        if value is _UNAVAILABLE or value is None:
            return False
        self._call("remove", lambda kr: kr.delete_password(self.service, db_id), secret=value)
        return True
