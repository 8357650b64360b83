"""`mirror key rotate`: a new random data key, everything re-sealed under it in one transaction.

``key change`` only re-wraps the data key, so an old copy of the key record (an
old ``key export``, an old backup's header, a ``.before-restore-*`` file) and
the passphrase that was current for it still open everything, written before
or after the change. ``rotate`` is for when a passphrase or key file may have
leaked: after it, those old copies open nothing written afterwards.

In ONE write transaction:

* every sealed column (``crypto.fields.SEALED_COLUMNS``: reflections, patterns,
  occurrences, tensions and the pattern engine's caches) is opened with the old
  data key and sealed with the new one;
* the old key's audit run is closed by a ``key.retired`` event keyed under the
  old audit MAC key and publishing it (as ``key.disabled`` does, see
  ``mirror_cli.audit``), so ``audit verify`` can still check the old links;
* the key record (meta ``crypto``) is replaced: the new data key wrapped under
  the passphrase (the current one, or a new one with ``new_passphrase=True``)
  with a new salt;
* ``key.rotated``, the first event keyed under the new key, vouches for every
  reflection's newly stored row.

Then the cached key (OS keyring) is replaced and the file is scrubbed (VACUUM,
WAL truncated), so the old ciphertext does not stay in free pages where the
old key could open it. A wrong passphrase or any failure changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mirror_cli import audit, crypto
from mirror_cli.crypto import passphrase as keys
from mirror_cli.crypto.manage import (_all_vouches, _cache, _check_chain, _convert, _current_passphrase_opening,
                                      _kdf_summary, _meta, _names)
from mirror_cli.crypto.unlocked import UnlockedKey
from mirror_cli.db.scrub import SCRUB_PENDING, scrub_or_warn
from mirror_cli.db.store import Store
from mirror_cli.errors import UsageError

EVENT_RETIRED = audit.KEY_RETIRED
EVENT_ROTATED = "key.rotated"


@dataclass
class RotateResult:
    db_id: str
    key_id: str
    previous_key_id: str | None
    kdf: dict[str, Any]
    converted: dict[str, int]
    new_passphrase: bool
    key_cached: bool
    audit_seq: int
    forced: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rotated": True, **asdict(self)}


def rotate(store: Store, env: Mapping[str, str], *, interactive: bool, prompt: keys.Prompt | None = None,
           cache: keys.KeyCache | None = None, kdf_params: crypto.KdfParams | None = None,
           new_passphrase: bool = False, allow_weak: bool = False, force: bool = False) -> RotateResult:
    """Replace the data key: re-seal every sealed value under a new random key, in one transaction."""
    meta = _meta(store)
    found, _kek, old_dek = _current_passphrase_opening(store, meta, env, interactive, prompt)
    wrap_with = found
    if new_passphrase:
        wrap_with = keys.new_passphrase(env, interactive, prompt=prompt)
        keys.refuse_weak(wrap_with, allow_weak=allow_weak, names=_names(store))
    warnings = list(dict.fromkeys([*found.warnings, *wrap_with.warnings]))
    record = crypto.new_key_record(wrap_with.value, store.db_id, kdf_params=kdf_params)  # a new random data key
    new_meta = crypto.CryptoMeta.from_dict(record.meta)
    old_key = UnlockedKey.from_dek(old_dek, found.source)
    new_key = UnlockedKey.from_dek(record.dek, found.source)
    store.key = old_key
    try:
        with store.write():
            if _meta(store).wrapped_key != meta.wrapped_key:
                raise UsageError("the key was changed by another mirror process meanwhile; nothing was changed.",
                                 "Run the command again with the current passphrase.")
            forced = _check_chain(store, force, "rotate")
            converted = _convert(store, old_key.fields, new_key.fields)
            store.append_event(EVENT_RETIRED, {"key_id": meta.key_id, "reason": "key rotate",
                                               audit.RETIRED_KEY_FIELD: old_key.audit_key.hex()})
            store.set_meta("crypto", json.dumps(record.meta, sort_keys=True, separators=(",", ":")))
            store.set_meta(SCRUB_PENDING, "key rotate")
            store.key = new_key
            data: dict[str, Any] = {"key_id": new_meta.key_id, "previous_key_id": meta.key_id,
                                    "kdf": _kdf_summary(new_meta.kdf), "converted": converted,
                                    "new_passphrase": new_passphrase}
            if forced:
                data["forced_over_failed_verify"] = True
            event = store.append_event(EVENT_ROTATED, data, _all_vouches(store, new_key.vouch_key))
    except BaseException:
        store.key = old_key  # rolled back: the old key is still the database's
        raise
    cached = _cache(cache if cache is not None else keys.KeyCache(env=env), store.db_id, record.kek, warnings)
    wiped = scrub_or_warn(store, "the data key was rotated")
    if wiped:
        warnings.append(wiped)
    return RotateResult(store.db_id, new_meta.key_id or "", meta.key_id, _kdf_summary(new_meta.kdf), converted,
                        new_passphrase, cached, event.seq, forced, warnings)
