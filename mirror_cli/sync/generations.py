"""Key generations as one sync meets them (docs/formats/sync.md, "Rotation and revocation").

The engine calls these small hooks; ``rotate`` makes new generations:

* :func:`finish_pending` — re-drive what a rotation left to do on the remote (its outbox: the new
  envelope, the old generation's "moved" head, the old objects to delete), so a rotation killed half
  way is completed by the next run;
* :func:`explain_locked` — the key does not open any more: the remote was rotated (or its passphrase
  changed) on another device; read the old generation's "moved" head with the key this device still
  holds, obey a revocation (and a wipe request), else say so and ask for the passphrase once (exit 4);
* :func:`move` — the key opened is a newer generation than the pinned one: check this device is not
  revoked, forget the old generation's cursors, republish everything under the new one, delete this
  device's objects of the old generation;
* :func:`check_heads` — names of older generations listed as ``retired`` by an authenticated head are
  not tampering; a head that says ``moved_to_gen`` stops the sync; revoked devices are never merged.
"""

from __future__ import annotations

import json
from typing import Any

from mirror_cli.crypto.passphrase import KeyringFailure
from mirror_cli.errors import LockedError, OperationError, VerificationError
from mirror_cli.ids import hlc_iso, parse_iso
from mirror_cli.journal import reflections as journal
from mirror_cli.remotes.base import Exists, NotFound, Remote, RemoteError
from mirror_cli.sync import access, checkpoint, config, objects
from mirror_cli.sync.keys import RemoteKey, derive_envelope_kek, open_envelope, parse_envelope
from mirror_cli.sync.session import HEAD_EXTRAS, SyncState

PLAN = "sync_rotation_plan:"  # meta key + remote name: what a rotation still has to do on the remote


class Revoked(LockedError):
    """This device was revoked from the remote (exit 4)."""


# -- a rotation's outbox ---------------------------------------------------------------------------


def save_plan(store, name: str, plan: dict[str, Any]) -> None:
    """Call inside write(): {"put_new": [[name, hex]], "put": [[name, hex]], "delete": [names]}."""
    store.set_meta(PLAN + name, json.dumps(plan, sort_keys=True))


def finish_pending(store, name: str, remote: Remote) -> bool:
    """Do what a rotation left to do on the remote (idempotent); True when there was something."""
    text = store.meta(PLAN + name)
    if not text:
        return False
    plan = json.loads(text)
    for obj, blob in plan.get("put_new", []):
        try:
            remote.put_new(obj, bytes.fromhex(blob))
        except Exists:
            pass  # written before a crash
    for obj, blob in plan.get("put", []):
        remote.put(obj, bytes.fromhex(blob))
    if plan.get("delete"):
        remote.delete(plan["delete"])
    with store.write():
        store.set_meta(PLAN + name, None)
    return True


# -- the old generation, read with what this device still holds --------------------------------------


def old_key(sync: SyncState) -> RemoteKey | None:
    """The pinned (older) generation's key: its envelope as this device last read it, opened by the
    keyring's cached KEK or a passphrase source; None when neither opens it."""
    cfg = sync.cfg
    for name, (_tag, blob) in sorted(getattr(sync, "_cached", {}).items()):
        if not name.startswith("k/"):
            continue
        try:
            env = parse_envelope(blob, name)
        except VerificationError:
            continue
        if env.gen != cfg.gen:
            continue
        keks = []
        if sync.opts.cache is not None:
            try:
                keks.append(sync.opts.cache.load("remote:" + sync.remote_id))
            except KeyringFailure:
                pass
        for kek in keks:
            key = open_envelope(kek, env, sync.remote_id) if kek else None
            if key is not None and key.key_id == cfg.key_id:
                return key
        found = access.sync_passphrase(sync.opts.env)
        if found is not None:
            key = open_envelope(derive_envelope_kek(found.value, env), env, sync.remote_id)
            if key is not None and key.key_id == cfg.key_id:
                return key
    return None


def _opened_heads(sync: SyncState, key: RemoteKey) -> list[objects.Head]:
    out = []
    for name, tag in sync._listing.items():
        if name.startswith("h/") and len(name) == 28:
            try:
                out.append(objects.open_head(key, sync.remote_id, name, sync._read(name, tag, sync._cached)))
            except (NotFound, VerificationError):
                continue
    return out


def _when(head: objects.Head) -> str:
    return parse_iso(hlc_iso(head.hlc)).astimezone().strftime("%Y-%m-%d %H:%M")


def rotated_message(sync: SyncState, head: objects.Head | None, gen: int) -> LockedError:
    where = f"on {head.label!r} on {_when(head)}" if head is not None else f"(now generation {gen})"
    return LockedError(f"the remote key of {sync.cfg.name} was rotated {where}; run `mirror sync` once with the "
                       "passphrase.", "Give it with MIRROR_SYNC_PASSPHRASE_FILE or MIRROR_SYNC_PASSPHRASE (or in a "
                       "terminal); the new key is then cached. Nothing was changed here.")


def explain_locked(sync: SyncState, read: dict[str, bytes], exc: LockedError) -> None:
    """The key did not open: say why when the remote moved on (and obey a revocation); else re-raise."""
    cfg = sync.cfg
    try:
        envs = [parse_envelope(blob, name) for name, blob in read.items()]
    except VerificationError:
        raise exc from None
    if cfg.gen is None or not envs:
        raise exc
    if all(e.gen > cfg.gen for e in envs):
        key = old_key(sync)
        moved = [h for h in _opened_heads(sync, key) if h.moved_to_gen] if key is not None else []
        me = sync.store.meta("device_id") or ""
        for head in moved:
            if me in head.revoked:
                obey(sync, head, me)
        newest = max(moved, key=lambda h: h.hlc) if moved else None
        raise rotated_message(sync, newest, max(e.gen for e in envs)) from None
    known = {name for name in getattr(sync, "_cached", {}) if name.startswith("k/")}
    if known and not known & set(read) and all(e.gen == cfg.gen for e in envs):
        raise LockedError(f"the passphrase of remote {cfg.name} was changed on another device; run `mirror sync` "
                          "once with the new passphrase.", "Give it with MIRROR_SYNC_PASSPHRASE_FILE or "
                          "MIRROR_SYNC_PASSPHRASE (or in a terminal); nothing was changed here.") from None
    raise exc


def obey(sync: SyncState, head: objects.Head, me: str) -> None:
    """This device is listed as revoked by *head*: wipe the journal when asked to, then stop (exit 4)."""
    by = f"by {head.label!r} on {_when(head)}"
    if me in head.wipe_device and not sync.opts.dry_run:
        counts = journal.delete_all(sync.store)
        with sync.store.write():
            config.set_paused(sync.store, sync.cfg.name, True)
        raise Revoked(f"THIS DEVICE WAS REVOKED from remote {sync.cfg.name} {by}, which asked it to wipe itself: "
                      f"this journal's data was deleted ({counts.get('reflections', 0)} reflection(s), the audit "
                      "log and the sync state) and the remote is paused.",
                      "Backups and exports kept elsewhere were not touched (`mirror delete --all` lists them).")
    raise Revoked(f"this device was revoked from remote {sync.cfg.name} {by}; it can no longer sync there.",
                  "Nothing was changed here. `mirror remote remove " + sync.cfg.name + "` forgets the remote.")


# -- moving to a newer generation --------------------------------------------------------------------


def move(sync: SyncState, new: RemoteKey) -> None:
    """The key opened is generation *new*.gen, newer than the pinned one: unless this device was
    revoked, forget the old generation's cursors and republish everything under the new one."""
    me = sync.store.meta("device_id") or ""
    for head in _opened_heads(sync, new):
        if me and me in head.revoked:
            obey(sync, head, me)
    if sync.opts.dry_run:
        raise OperationError(f"the remote key of {sync.cfg.name} was rotated; a dry run cannot move to it.",
                             f"Run `mirror sync {sync.cfg.name}` once.")
    key = old_key(sync)
    old_names: list[str] = []
    with sync.store.write():
        row = sync.store.conn.execute("SELECT dev, seq, ckpt FROM sync_self WHERE remote = ?",
                                      (sync.cfg.name,)).fetchone()
        if row is not None and key is not None:
            old_names = own_objects(key, row[0], int(row[1]), json.loads(row[2]) if row[2] else None)
        reset(sync.store, sync.cfg.name, sync.remote_id, republish=True)
        config.pin(sync.store, sync.cfg.name, sync.remote_id, new.key_id, new.gen)
    sync.cfg.gen, sync.cfg.key_id = new.gen, new.key_id
    sync.report.notes.append(f"the remote key of {sync.cfg.name} was rotated; this device moved to generation "
                             f"{new.gen} and republished its journal there.")
    if old_names:
        try:
            sync.remote.delete(old_names)
        except RemoteError:
            pass  # leftovers of a retired generation: unreadable without its key, harmless


def own_objects(key: RemoteKey, dev: str, seq: int, ckpt: dict[str, Any] | None) -> list[str]:
    """The names of *dev*'s head, segments and checkpoints under *key* (some may be collected already)."""
    names = [objects.head_name(key, dev)]
    names += [objects.segment_name(key, dev, s) for s in range(1, seq + 1)]
    for c in (ckpt, (ckpt or {}).get("prev")):
        if c:
            names += [checkpoint.chunk_name(key, dev, c["no"], i) for i in range(c["chunks"])]
    return names


def reset(store, name: str, remote_id: str, *, republish: bool) -> None:
    """Call inside write(): this device's cursors for *name* start again under a new generation
    (with *republish*, every record is sent again)."""
    row = store.conn.execute("SELECT dev FROM sync_self WHERE remote = ?", (name,)).fetchone()
    if row is not None:
        store.conn.execute("UPDATE sync_self SET seq = 0, chain = ?, staged = NULL, ckpt = NULL, head_tag = NULL"
                           + (", scan_rev = 0" if republish else "") + " WHERE remote = ?",
                           (objects.chain_start(remote_id, row[0]), name))
    tables = ("sync_peers", "sync_outbox", "sync_heads") + (("sync_sent",) if republish else ())
    for table in tables:
        store.conn.execute(f"DELETE FROM {table} WHERE remote = ?", (name,))  # noqa: S608
    if republish:
        store.set_meta(HEAD_EXTRAS + name, None)


# -- the heads of the current generation -----------------------------------------------------------------


def check_heads(sync: SyncState, found: dict[str, Any], failed: list[tuple[str, VerificationError]]) -> set[str]:
    """After the heads were opened: heads that did not open are errors unless an authenticated head
    lists them as ``retired``; a head that moved on stops the sync; this device revoked -> obey;
    revoked devices' heads are dropped from *found*. Returns the revoked devices."""
    heads = [p.head for p in found.values()]
    retired = {n for h in heads for n in h.retired}
    for name, exc in failed:
        if name not in retired:
            raise exc
    for h in heads:
        if h.moved_to_gen:
            raise rotated_message(sync, h, h.moved_to_gen)
    revoked = {d for h in heads for d in h.revoked}
    me = sync.store.meta("device_id") or ""
    for h in heads:
        if me and me in h.revoked:
            obey(sync, h, me)
    for dev in revoked:
        found.pop(dev, None)
    return revoked
