"""`mirror key ...`: turn encryption on and off, change the passphrase, cache and forget the key.

Each function takes an open :class:`~mirror_cli.db.store.Store` (opened without
unlocking), the environment (passphrase sources, CONTRACT.md "Secrets"),
whether a prompt may be shown, and optionally a prompt function, a
:class:`~mirror_cli.crypto.passphrase.KeyCache` and KDF parameters; it returns a dataclass
and never prints.

* ``enable`` -- new random data key, wrapped under Argon2id(new passphrase);
  every user-content field of every row (see ``mirror_cli.crypto.fields``) sealed in
  ONE transaction together with the key record and a ``key.enabled`` audit
  event, the first keyed one, which vouches for every reflection's new stored
  digest (keyed). Before that, ids older mirrors derived from text are renamed
  (``crypto.textids``) and every earlier digest is re-keyed (``audit.seal_history``).
  The full-text index is emptied and the file scrubbed (VACUUM, WAL truncated),
  so no earlier plaintext remains in the database, -wal or -shm.
* ``disable`` -- the reverse, once the current passphrase has opened the key;
  ``key.disabled`` closes the keyed run of the audit chain and publishes its
  MAC key (see ``mirror_cli.audit``). The full-text index is rebuilt by the
  triggers as content becomes text again. The cached key is forgotten.
* ``change`` -- re-wraps the same data key under a new passphrase (new salt,
  current KDF parameters): constant time whatever the journal's size; replaces
  the cached key. An old copy of the key record with the old passphrase still
  opens everything; ``mirror_cli.crypto.rotate`` replaces the data key itself.
* ``lock`` / ``unlock`` -- forget / derive and cache the key in the OS keyring.
* ``export_key`` / ``import_key`` -- the key-recovery file below.

Key-recovery file (``mirror key export``), UTF-8 JSON, mode 0600::

    {"format": "mirror-key", "version": 1, "db_id": "...", "key_id": "base64 (16 bytes)",
     "kdf": {"algorithm": "argon2id", "salt": "...", "iterations": 4, "lanes": 4, "memory_cost": 131072},
     "wrapped_key": "base64", "exported_at": "ISO-8601 Z", "tool_version": "x.y.z"}

It holds exactly the database's key record: the data key wrapped under the
passphrase-derived key. Without the passphrase it opens nothing.

A wrong passphrase changes nothing (exit 4). Nothing here puts a passphrase or
key in a message.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mirror_cli import __version__, audit, crypto
from mirror_cli.crypto import passphrase as keys
from mirror_cli.crypto import textids
from mirror_cli.crypto.fields import PLAIN, SEALED_COLUMNS
from mirror_cli.crypto.unlocked import UnlockedKey
from mirror_cli.db.scrub import SCRUB_PENDING, scrub_or_warn
from mirror_cli.db.store import Store
from mirror_cli.errors import InvalidInputError, LockedError, UsageError, VerificationError
from mirror_cli.ids import is_valid_id, now_iso
from mirror_cli.localfs import atomic_write, mark_encrypted, unmark_encrypted

KEY_FILE_FORMAT = "mirror-key"
KEY_FILE_VERSION = 1
MAX_KEY_FILE = 64 * 1024

EVENT_ENABLED = "key.enabled"
EVENT_DISABLED = audit.KEY_DISABLED
EVENT_CHANGED = "key.changed"
EVENT_IMPORTED = "key.imported"

_NOT_ENCRYPTED = ("this database is not encrypted.", "Run `mirror key enable` to encrypt it.")


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------


@dataclass
class KeyStatus:
    encrypted: bool
    unlocked: bool
    keyring_available: bool
    key_cached: bool | None  # None: could not tell (no keyring, or it failed)
    database: str
    db_id: str
    keyring_backend: str | None = None  # module.Class of the configured backend (used or not), None: none
    key_id: str | None = None
    kdf: dict[str, Any] | None = None  # algorithm, memory_cost (KiB), iterations, lanes (no salt)
    source: str | None = None  # where the key came from when unlocked
    problem: str | None = None  # why not unlocked (no key, wrong passphrase, ...)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EnableResult:
    db_id: str
    key_id: str
    kdf: dict[str, Any]
    converted: dict[str, int]
    key_cached: bool
    passphrase_source: str
    audit_seq: int
    forced: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"encrypted": True, **asdict(self)}


@dataclass
class DisableResult:
    db_id: str
    converted: dict[str, int]
    key_forgotten: bool
    audit_seq: int
    forced: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"encrypted": False, **asdict(self)}


@dataclass
class ChangeResult:
    db_id: str
    key_id: str
    kdf: dict[str, Any]
    key_cached: bool
    audit_seq: int
    warnings: list[str] = field(default_factory=list)
    remotes: list[dict[str, Any]] = field(default_factory=list)  # sync remotes re-wrapped (or why not)

    def to_dict(self) -> dict[str, Any]:
        return {"changed": True, "data_key_replaced": False, **asdict(self)}  # only re-wrapped: see `key rotate`


@dataclass
class LockResult:
    db_id: str
    keyring_available: bool
    forgotten: bool  # a cached key was removed

    def to_dict(self) -> dict[str, Any]:
        return {"locked": True, **asdict(self)}


@dataclass
class UnlockResult:
    db_id: str
    key_id: str | None
    source: str
    cached: bool
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"unlocked": True, **asdict(self)}


@dataclass
class KeyFileResult:
    path: str
    db_id: str
    key_id: str | None
    key_cached: bool | None = None  # import only
    audit_seq: int | None = None  # import only
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _meta(store: Store) -> crypto.CryptoMeta:
    raw = store.meta("crypto")
    if raw is None:
        raise UsageError(*_NOT_ENCRYPTED)
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    return crypto.CryptoMeta.from_dict(data)


def _names(store: Store) -> tuple[str, ...]:
    """What a passphrase must not simply be: the journal's file name, with and without suffix."""
    path = Path(store.path)
    return (path.name, path.stem, "mirror")


def _kdf_summary(params: crypto.KdfParams) -> dict[str, Any]:
    return {"algorithm": params.algorithm, "memory_cost": params.memory_cost, "iterations": params.iterations,
            "lanes": params.lanes}


def _open_with_passphrase(store: Store, meta: crypto.CryptoMeta, found: keys.Passphrase) -> tuple[bytes, bytes]:
    """(kek, dek) from a passphrase; wrong -> LockedError; a key record that lies -> VerificationError."""
    kek = crypto.derive_kek(found.value, meta.kdf)
    dek = crypto.unwrap_data_key(kek, meta.wrapped_key, store.db_id, source=found.source)
    if meta.key_id is not None and crypto.key_id(dek) != meta.key_id:
        raise VerificationError("the database's key record is inconsistent (its key id does not match the key).",
                                "Restore the database from a backup.")
    return kek, dek


def _current_passphrase_opening(store: Store, meta: crypto.CryptoMeta, env: Mapping[str, str], interactive: bool,
                                prompt: keys.Prompt | None) -> tuple[keys.Passphrase, bytes, bytes]:
    """The current passphrase (env, else up to three prompts), checked against the key record."""
    found = keys.current_passphrase(env, interactive, prompt=prompt)
    attempts = keys.PROMPT_ATTEMPTS if found.source == keys.SOURCE_PROMPT else 1
    for attempt in range(attempts):
        try:
            kek, dek = _open_with_passphrase(store, meta, found)
            return found, kek, dek
        except LockedError:
            if attempt + 1 >= attempts:
                raise
        answer = keys._ask(prompt, "Wrong passphrase, try again: ")
        if answer is None:
            break
        found = keys.Passphrase(answer, keys.SOURCE_PROMPT)
    raise LockedError("wrong passphrase (from prompt): it does not open this key.",
                      "Nothing was changed. Run the command again.")


def _cache(cache: keys.KeyCache, db_id: str, kek: bytes, warnings: list[str]) -> bool:
    """Cache the KEK when a keyring is available; keyring trouble (or a plaintext one) becomes a warning."""
    try:
        return cache.store(db_id, kek)
    except keys.KeyringFailure as exc:
        warnings.append(str(exc))
        return False
    finally:
        notice = cache.notice()
        if notice and notice not in warnings:
            warnings.append(notice)


def _check_chain(store: Store, force: bool, action: str) -> bool:
    """Refuse to vouch anew for data the audit chain says was changed outside mirror (unless *force*)."""
    report = audit.verify(store.conn, key=store.key.audit_key if store.key is not None else None,
                          encrypted=store.encrypted)
    if report.ok:
        return False
    if not force:
        raise VerificationError(
            f"the audit chain fails verification at event #{report.first_bad_seq} ({report.problem}) "
            f"so `key {action}` would vouch for data changed outside mirror; nothing was changed.",
            f"Run `mirror audit verify` to see the problem, or add --force to {action} anyway "
            "(the audit event records it).")
    return True


def _convert(store: Store, source: Any, target: Any, progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Re-store every user-content field: open with *source*, seal with *target*. Inside a write.
    *progress* gets the number of reflections done so far."""
    conn = store.conn
    counts: dict[str, int] = {}
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table, (id_expr, columns) in SEALED_COLUMNS.items():
        if table not in present:
            continue
        cols = ", ".join(columns)
        rows = conn.execute(f"SELECT rowid, {id_expr}, {cols} FROM {table}").fetchall()  # noqa: S608
        updates = []
        for done, row in enumerate(rows):
            if progress is not None and table == "reflections" and done % 200 == 0:
                progress(done)
            rowid, rid, values = row[0], row[1], row[2:]
            out = []
            for column, stored in zip(columns, values):
                if stored is None:
                    out.append(None)
                    continue
                text = source.open(table, rid, column, stored)
                if not isinstance(text, str):
                    raise VerificationError(f"{table} {rid}: field {column} does not hold text.",
                                            "Run `mirror audit verify`; the row was changed outside mirror.")
                out.append(target.seal(table, rid, column, text))
            updates.append((*out, rowid))
        sets = ", ".join(f"{c} = ?" for c in columns)
        conn.executemany(f"UPDATE {table} SET {sets} WHERE rowid = ?", updates)  # noqa: S608
        counts[table] = len(rows)
    return counts


ANALYSIS_META = "analysis"  # the pattern analysis' state (mirror_cli.patterns): {"rev", "count", "encrypted", ...}


def _analysis_converted(store: Store, *, encrypted: bool) -> None:
    """The pattern analysis records whether its cached fields (``analysis_state``, ``pattern_stats``)
    are sealed; :func:`_convert` just re-stored them, so its state stays valid with the new flag.
    (Done here, not by calling the patterns package, which sits above crypto.)"""
    raw = store.meta(ANALYSIS_META)
    try:
        state = json.loads(raw) if raw else None
    except ValueError:
        state = None
    if isinstance(state, dict):
        state["encrypted"] = encrypted
        store.set_meta(ANALYSIS_META, json.dumps(state))


def _all_vouches(store: Store, vouch_key: bytes | None) -> list[tuple[str, str, str | None]]:
    return [("reflection", row[0], audit.row_digest(row, vouch_key))
            for row in store.conn.execute(f"SELECT {audit.REFLECTION_SELECT} FROM reflections")]


# ---------------------------------------------------------------------------
# status
# ---------------------------------------------------------------------------


def status(store: Store, env: Mapping[str, str], *, cache: keys.KeyCache | None = None) -> KeyStatus:
    """Whether the database is encrypted, and whether a key is at hand without prompting."""
    cache = cache if cache is not None else keys.KeyCache(env=env)
    available = cache.available()
    result = KeyStatus(encrypted=store.encrypted, unlocked=False, keyring_available=available, key_cached=None,
                       database=str(Path(store.path).absolute()), db_id=store.db_id,
                       keyring_backend=cache.backend_name())
    notice = cache.notice()
    if notice:
        result.warnings.append(notice)
    if available:
        try:
            result.key_cached = cache.load(store.db_id) is not None
        except keys.KeyringFailure as exc:
            result.warnings.append(str(exc))
    if not result.encrypted:
        return result
    meta = _meta(store)
    result.key_id, result.kdf = meta.key_id, _kdf_summary(meta.kdf)
    try:
        unlocked = keys.unlock(meta.to_dict(), store.db_id, env, interactive=False, cache=cache)
    except LockedError as exc:
        result.problem = exc.message
        return result
    result.unlocked, result.source = True, unlocked.source
    result.warnings.extend(w for w in unlocked.warnings if w not in result.warnings)
    return result


# ---------------------------------------------------------------------------
# enable / disable
# ---------------------------------------------------------------------------


def enable(store: Store, env: Mapping[str, str], *, interactive: bool, prompt: keys.Prompt | None = None,
           cache: keys.KeyCache | None = None, kdf_params: crypto.KdfParams | None = None,
           force: bool = False, allow_weak: bool = False,
           progress: Callable[[int], None] | None = None) -> EnableResult:
    """Encrypt every user-content field in one transaction, then scrub the file (*progress*: reflections done)."""
    if store.encrypted:
        raise UsageError("this database is already encrypted.",
                         "Use `mirror key change` for a new passphrase, `mirror key status` to check.")
    found = keys.new_passphrase(env, interactive, prompt=prompt, allow_current=True)
    keys.refuse_weak(found, allow_weak=allow_weak, names=_names(store))
    warnings = list(found.warnings)
    record = crypto.new_key_record(found.value, store.db_id, kdf_params=kdf_params)
    meta = crypto.CryptoMeta.from_dict(record.meta)
    forced = False
    try:
        with store.write():
            if store.encrypted:  # another process won the race
                raise UsageError("this database is already encrypted.")
            forced = _check_chain(store, force, "enable")
            store.key = key = UnlockedKey.from_dek(record.dek, found.source)
            textids.rekey_legacy_ids(store.conn, record.dek)  # before sealing: fields are bound to ids
            converted = _convert(store, PLAIN, key.fields, progress)
            _analysis_converted(store, encrypted=True)
            store.conn.execute("INSERT INTO reflections_fts (reflections_fts) VALUES ('delete-all')")
            store.set_meta("crypto", json.dumps(record.meta, sort_keys=True, separators=(",", ":")))
            store.set_meta(SCRUB_PENDING, "key enable")
            data: dict[str, Any] = {"key_id": meta.key_id, "kdf": _kdf_summary(meta.kdf), "converted": converted}
            if forced:
                data["forced_over_failed_verify"] = True
            # no unkeyed digest of earlier text is left (mirror_cli.audit, "Row digests")
            audit.seal_history(store.conn)
            event = store.append_event(EVENT_ENABLED, data, _all_vouches(store, key.vouch_key))
    except BaseException:
        store.key = None
        raise
    mark_encrypted(store.db_id, store.path)
    cached = _cache(cache if cache is not None else keys.KeyCache(env=env), store.db_id, record.kek, warnings)
    wiped = scrub_or_warn(store, "the journal is encrypted")
    if wiped:
        warnings.append(wiped)
    return EnableResult(store.db_id, meta.key_id or "", _kdf_summary(meta.kdf), converted, cached, found.source,
                        event.seq, forced, warnings)


def disable(store: Store, env: Mapping[str, str], *, interactive: bool, prompt: keys.Prompt | None = None,
            cache: keys.KeyCache | None = None, force: bool = False) -> DisableResult:
    """Decrypt every user-content field in one transaction, after the current passphrase opens the key."""
    meta = _meta(store)
    found, _kek, dek = _current_passphrase_opening(store, meta, env, interactive, prompt)
    warnings = list(found.warnings)
    store.key = key = UnlockedKey.from_dek(dek, found.source)
    try:
        with store.write():
            # (store.write() refused already if another process re-keyed the database meanwhile)
            forced = _check_chain(store, force, "disable")
            converted = _convert(store, key.fields, PLAIN)
            _analysis_converted(store, encrypted=False)
            data: dict[str, Any] = {"key_id": meta.key_id, "converted": converted,
                                    audit.RETIRED_KEY_FIELD: key.audit_key.hex()}
            if forced:
                data["forced_over_failed_verify"] = True
            event = store.append_event(EVENT_DISABLED, data, _all_vouches(store, None))
            store.set_meta("crypto", None)
            store.key = None
    except BaseException:
        # still encrypted: keep the key for the caller
        store.key = key if store.meta("crypto") is not None else None
        raise
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    forgotten = False
    try:
        forgotten = (cache if cache is not None else keys.KeyCache(env=env)).forget(store.db_id)
    except keys.KeyringFailure as exc:
        warnings.append(str(exc))
    unmark_encrypted(store.db_id, store.path)
    return DisableResult(store.db_id, converted, forgotten, event.seq, forced, warnings)


# ---------------------------------------------------------------------------
# change, lock, unlock
# ---------------------------------------------------------------------------


def change(store: Store, env: Mapping[str, str], *, interactive: bool, prompt: keys.Prompt | None = None,
           cache: keys.KeyCache | None = None, kdf_params: crypto.KdfParams | None = None,
           allow_weak: bool = False,
           carry: Callable[[str, str], list[dict[str, Any]]] | None = None) -> ChangeResult:
    """Re-wrap the data key under a new passphrase; nothing else is re-encrypted. *carry* (old, new)
    is then given both passphrases to re-wrap what else uses the journal's (its sync remotes)."""
    meta = _meta(store)
    found, _kek, dek = _current_passphrase_opening(store, meta, env, interactive, prompt)
    new = keys.new_passphrase(env, interactive, prompt=prompt)
    keys.refuse_weak(new, allow_weak=allow_weak, names=_names(store))
    warnings = list(dict.fromkeys([*found.warnings, *new.warnings]))
    record = crypto.new_key_record(new.value, store.db_id, dek=dek, kdf_params=kdf_params)
    new_meta = crypto.CryptoMeta.from_dict(record.meta)
    store.key = UnlockedKey.from_dek(dek, found.source)
    with store.write():
        if _meta(store).wrapped_key != meta.wrapped_key:
            raise UsageError("the passphrase was changed by another mirror process meanwhile; nothing was changed.",
                             "Run the command again with the current passphrase.")
        store.set_meta("crypto", json.dumps(record.meta, sort_keys=True, separators=(",", ":")))
        event = store.append_event(EVENT_CHANGED, {"key_id": new_meta.key_id, "kdf": _kdf_summary(new_meta.kdf)})
    cached = _cache(cache if cache is not None else keys.KeyCache(env=env), store.db_id, record.kek, warnings)
    carried = carry(found.value, new.value) if carry is not None else []
    return ChangeResult(store.db_id, new_meta.key_id or "", _kdf_summary(new_meta.kdf), cached, event.seq, warnings,
                        carried)


def lock(store: Store, *, cache: keys.KeyCache | None = None) -> LockResult:
    """Forget the key cached in the OS keyring for this database (nothing to do without a keyring)."""
    cache = cache if cache is not None else keys.KeyCache()
    available = cache.available()
    forgotten = cache.forget(store.db_id) if available else False
    return LockResult(store.db_id, available, forgotten)


def unlock(store: Store, env: Mapping[str, str], *, interactive: bool, prompt: keys.Prompt | None = None,
           cache: keys.KeyCache | None = None) -> UnlockResult:
    """Derive the key from the passphrase and cache it in the OS keyring (exit 4 when there is none)."""
    meta = _meta(store)
    cache = cache if cache is not None else keys.KeyCache(env=env)
    cache.require()
    found, kek, dek = _current_passphrase_opening(store, meta, env, interactive, prompt)
    cache.store(store.db_id, kek, required=True)
    store.key = UnlockedKey.from_dek(dek, found.source)
    return UnlockResult(store.db_id, meta.key_id, found.source, True, list(found.warnings))


# ---------------------------------------------------------------------------
# key-recovery file
# ---------------------------------------------------------------------------


def export_key(store: Store, path: Path | str, env: Mapping[str, str], *, interactive: bool,
               prompt: keys.Prompt | None = None, overwrite: bool = False) -> KeyFileResult:
    """Write the key-recovery file (atomically, 0600) after the passphrase proves it will open it."""
    to_stdout = str(path) == "-"
    path = Path(path).expanduser().absolute()
    if not to_stdout and path.is_dir():
        raise UsageError(f"{path} is a folder.", "Give a file name, e.g. mirror-key.json.")
    if not to_stdout and path.exists() and not overwrite:
        raise UsageError(f"{path} already exists; nothing was written.", "Choose another name or add --force.")
    meta = _meta(store)
    found, _kek, _dek = _current_passphrase_opening(store, meta, env, interactive, prompt)
    doc = {"format": KEY_FILE_FORMAT, "version": KEY_FILE_VERSION, "db_id": store.db_id, "key_id": meta.key_id,
           "kdf": meta.kdf.to_dict(), "wrapped_key": meta.wrapped_key, "exported_at": now_iso(),
           "tool_version": __version__}
    text = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")
    if to_stdout:  # `key export -`: to a pipe (gpg, a password manager), as jq and restic read "-"
        sys.stdout.buffer.write(text)
        sys.stdout.flush()
        return KeyFileResult("-", store.db_id, meta.key_id, warnings=list(found.warnings))
    with atomic_write(path, "wb") as fh:
        fh.write(text)
    return KeyFileResult(str(path), store.db_id, meta.key_id, warnings=list(found.warnings))


def read_key_file(path: Path | str) -> tuple[str, crypto.CryptoMeta]:
    """Parse a key-recovery file -> (db_id, key record). Anything else -> InvalidInputError (exit 5)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_KEY_FILE + 1)
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist.", "Check the path.") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}.") from None
    bad = f"{path} is not a mirror key-recovery file"
    if len(raw) > MAX_KEY_FILE:
        raise InvalidInputError(f"{bad} (too large); nothing was changed.")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        raise InvalidInputError(f"{bad} (not JSON); nothing was changed.",
                                "Give a file written by `mirror key export`.") from None
    if not isinstance(doc, dict) or doc.get("format") != KEY_FILE_FORMAT:
        raise InvalidInputError(f"{bad} (no \"format\": \"{KEY_FILE_FORMAT}\"); nothing was changed.",
                                "Give a file written by `mirror key export`.")
    if doc.get("version") != KEY_FILE_VERSION:
        raise InvalidInputError(f"{path} has key-file version {str(doc.get('version'))[:20]}, which this mirror "
                                "cannot read; nothing was changed.", "Upgrade mirror.")
    db_id = doc.get("db_id")
    if not isinstance(db_id, str) or not is_valid_id(db_id):
        raise InvalidInputError(f"{path}: field db_id is missing or not an id; nothing was changed.")
    if not isinstance(doc.get("wrapped_key"), str):
        raise InvalidInputError(f"{path}: field wrapped_key is missing; nothing was changed.")
    try:
        kdf = crypto.KdfParams.from_dict(doc.get("kdf"))  # InvalidInputError on hostile parameters
    except InvalidInputError as exc:
        raise InvalidInputError(f"{path}: {exc.message.rstrip('.')}; nothing was changed.", exc.hint) from None
    kid = doc.get("key_id")
    return db_id, crypto.CryptoMeta(crypto.CRYPTO_META_VERSION, kdf, doc["wrapped_key"],
                                    kid if isinstance(kid, str) else None)


def import_key(store: Store, path: Path | str, env: Mapping[str, str], *, interactive: bool,
               prompt: keys.Prompt | None = None, cache: keys.KeyCache | None = None) -> KeyFileResult:
    """Adopt a key-recovery file on a fresh, empty, unencrypted database (after the passphrase opens it).

    The database takes the file's db id and key record, so ciphertext made
    under that key (a synced remote, an encrypted backup) opens here.
    """
    db_id, meta = read_key_file(path)
    if store.encrypted:
        raise UsageError("this database is already encrypted; nothing was changed.",
                         "Import a key only into a fresh database (e.g. `mirror --db new.db key import FILE`).")
    held = {t: store.count(t) for t in ("reflections", "patterns", "tensions")}
    if any(held.values()):
        raise UsageError(f"this database is not empty ({held['reflections']} reflections); nothing was changed.",
                         "Import a key only into a fresh database (e.g. `mirror --db new.db key import FILE`).")
    found = keys.current_passphrase(env, interactive, prompt=prompt)
    kek = crypto.derive_kek(found.value, meta.kdf)
    try:
        dek = crypto.unwrap_data_key(kek, meta.wrapped_key, db_id, source=found.source)
    except VerificationError as exc:
        raise InvalidInputError(f"{Path(path)}: {exc.message} Nothing was changed.") from None
    except LockedError as exc:
        raise LockedError(exc.message, "Nothing was changed. Give the passphrase that was current when the "
                                       "file was exported (MIRROR_PASSPHRASE_FILE, MIRROR_PASSPHRASE or a prompt).") from None
    if meta.key_id is not None and crypto.key_id(dek) != meta.key_id:
        raise InvalidInputError(f"{Path(path)}: its key id does not match its key; nothing was changed.")
    meta = crypto.CryptoMeta(meta.version, meta.kdf, meta.wrapped_key, crypto.key_id(dek))
    warnings = list(found.warnings)
    old_id = store.db_id
    try:
        with store.write():
            if store.encrypted or any(store.count(t) for t in ("reflections", "patterns", "tensions")):
                raise UsageError("this database changed while the key was being checked; nothing was changed.")
            store.set_meta("db_id", db_id)
            store.set_meta("crypto", json.dumps(meta.to_dict(), sort_keys=True, separators=(",", ":")))
            store.key = UnlockedKey.from_dek(dek, found.source)
            event = store.append_event(EVENT_IMPORTED, {"key_id": meta.key_id, "db_id": db_id,
                                                        "previous_db_id": old_id})
    except BaseException:
        store.key = None
        raise
    cached = _cache(cache if cache is not None else keys.KeyCache(env=env), db_id, kek, warnings)
    return KeyFileResult(str(Path(path).absolute()), db_id, meta.key_id, cached, event.seq, warnings)
