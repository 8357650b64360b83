"""`mirror remote rotate` and `mirror remote revoke`: a new remote key generation (docs/formats/sync.md,
"Rotation and revocation").

The rotating device first syncs (pull, then push), then makes RK_{g+1} and writes, under the new
generation, a full checkpoint and its head (new name key: every name is new). It then commits the
new generation here, with an outbox of what is left on the remote: the new passphrase envelope (new
salt, so a KEK cached on a lost device opens nothing), the old generation's head saying
``moved_to_gen`` (with ``revoked`` and ``wipe_device`` for devices that still hold the old key), and
the old objects to delete (the old envelopes, this device's old segments and checkpoints, and a
revoked device's objects). Other devices move on their next sync (``generations.move``).

A revoked device keeps what it had already synced: revocation only stops what comes next.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from mirror_cli.crypto.kdf import derive_kek
from mirror_cli.crypto.passphrase import Passphrase
from mirror_cli.db.store import Store
from mirror_cli.errors import LockedError, OperationError, UsageError
from mirror_cli.ids import hlc_next
from mirror_cli.remotes.base import Remote
from mirror_cli.sync import access, checkpoint, config, generations, objects
from mirror_cli.sync.engine import Options, Sync
from mirror_cli.sync.keys import (b32, derive_envelope_kek, new_remote_key, open_envelope, seal_envelope)
from mirror_cli.sync.push import CLIENT
from mirror_cli.sync.session import HEAD_EXTRAS, Peer

KEPT = ("A revoked device keeps everything it had already synced: revocation only stops what comes next. "
        "If it may know the passphrase, change it too (`mirror key change`, or `mirror key change --remote NAME`).")


@dataclass
class Rotated:
    remote: str
    generation: int
    key_id: str
    revoked: list[dict[str, Any]] = field(default_factory=list)
    wipe_device: bool = False
    deleted: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"remote": self.remote, "generation": self.generation, "key_id": self.key_id,
                "revoked": self.revoked, "wipe_device": self.wipe_device, "old_objects_deleted": self.deleted,
                "notes": self.notes}


def find_device(heads: dict[str, Peer], ref: str, me: str) -> str:
    """The device *ref* names: its label, or the start of its id (at least 4 hex digits)."""
    ref = ref.strip()
    hits = [d for d, p in heads.items() if p.head.label == ref]
    if not hits and len(ref) >= 4:
        hits = [d for d in heads if d.startswith(ref.lower())]
    known = ", ".join(f"{p.head.label} ({d[:8]})" for d, p in sorted(heads.items())) or "none"
    if len(hits) != 1:
        raise UsageError(f"{'no' if not hits else 'more than one'} device on this remote matches {ref!r} "
                         f"(devices: {known}).", "Name it by its label or the id `mirror remote devices` shows.")
    if hits[0] == me:
        raise UsageError("a device cannot revoke itself.", "Revoke it from another device.")
    return hits[0]


def _passphrase(remote: Remote, sync: Sync, opts: Options) -> Passphrase:
    """The remote's passphrase (the new envelope needs a new salt, so the cached KEK is not enough),
    checked against the current generation's envelope."""
    envs = [e for _, e in access.envelopes(remote) if e.gen == sync.key.gen]
    if not envs:
        raise UsageError("rotating a --key-only remote is not supported yet (it keeps no passphrase envelope).",
                         "Make a new remote (`mirror remote add ... --key-only`) and remove this one.")
    found = access.sync_passphrase(opts.env)
    if found is None and opts.interactive:
        import getpass

        answer = (opts.prompt or getpass.getpass)("Sync passphrase for this remote: ")
        found = Passphrase(answer, "prompt") if answer else None
    if found is None:
        raise LockedError("rotating the remote key needs the remote's passphrase and none was given.",
                          "Set MIRROR_SYNC_PASSPHRASE_FILE or MIRROR_SYNC_PASSPHRASE, or run it in a terminal.")
    for e in envs:
        key = open_envelope(derive_envelope_kek(found.value, e), e, sync.remote_id)
        if key is not None and key.key_id == sync.key.key_id:
            return found
    raise LockedError(f"wrong passphrase (from {found.source}): it does not open this remote's key.",
                      "Nothing was changed.")


def rotate(store: Store, cfg: config.RemoteConfig, remote: Remote, opts: Options, *, revoke: str | None = None,
           wipe_device: bool = False) -> Rotated:
    """Pull, then move the remote to a new key generation (revoking the device *revoke* names)."""
    if wipe_device and revoke is None:
        raise UsageError("--wipe-device goes with `remote revoke`.")
    sync = Sync(store, cfg, remote, opts)
    report = sync.run()
    if report.incomplete:
        raise OperationError(f"objects are still in transit to remote {cfg.name}; nothing was rotated.",
                             "Try again once the folder has caught up.")
    old, rid, me = sync.key, sync.remote_id, sync.dev
    assert old is not None
    heads = sync.heads()
    target = find_device(heads, revoke, me) if revoke is not None else None
    found = _passphrase(remote, sync, opts)

    new = new_remote_key(old.gen + 1)
    params = access.new_envelope_params()
    kek = derive_kek(found.value, params)
    envelope = ("k/" + b32(os.urandom(20))[:26], seal_envelope(kek, params, new, rid))
    prev = [p.head for p in heads.values()]
    revoked = sorted({d for h in prev for d in h.revoked} | ({target} if target else set()))
    wiped = sorted({d for h in prev for d in h.wipe_device} | ({target} if target and wipe_device else set()))
    retired = sorted({n for n in sync._listing if n.startswith("h/") and len(n) == 28}
                     | {objects.head_name(old, me)})
    extras = {"revoked": revoked, "wipe_device": wiped, "retired": retired}

    # the new generation: a full checkpoint and this device's head, unreadable until the envelope exists
    start = objects.chain_start(rid, me)
    with store.read():
        info, _ = checkpoint.write(store, remote, new, rid, me, 1, {me: [0, start]})
        seq, chain, dot, ckpt = store.conn.execute("SELECT seq, chain, dot, ckpt FROM sync_self WHERE remote = ?",
                                                   (cfg.name,)).fetchone()
        applied = {d: sync._applied(d) for d in heads if d != me}
    state = checkpoint.stamp(info, None)
    label, hlc = sync._label_self(), hlc_next(store.meta("hlc"))
    head = objects.Head(dev=me, label=label, gen=new.gen, seq=0, chain=start, dot=int(dot), applied={}, hlc=hlc,
                        client=CLIENT, ckpt=checkpoint.public(state), **extras)
    remote.put(objects.head_name(new, me), objects.seal_head(new, rid, head))

    # the old generation: a head that says where the remote went, then what goes
    old_ckpt = json.loads(ckpt) if ckpt else None
    moved = objects.Head(dev=me, label=label, gen=old.gen, seq=int(seq), chain=chain, dot=int(dot), applied=applied,
                         hlc=hlc, client=CLIENT, ckpt=checkpoint.public(old_ckpt), moved_to_gen=new.gen,
                         revoked=revoked, wipe_device=wiped)
    delete = [n for n in sync._listing if n.startswith("k/")]
    delete += [n for n in generations.own_objects(old, me, int(seq), old_ckpt) if n != objects.head_name(old, me)]
    if target is not None:
        peer = heads[target]
        delete += [peer.name] + generations.own_objects(old, target, peer.head.seq, peer.head.ckpt)[1:]
    plan = {"put_new": [[envelope[0], envelope[1].hex()]],
            "put": [[objects.head_name(old, me), objects.seal_head(old, rid, moved).hex()]],
            "delete": delete}
    with store.write():
        generations.reset(store, cfg.name, rid, republish=False)
        store.conn.execute("UPDATE sync_self SET ckpt = ? WHERE remote = ?", (json.dumps(state, sort_keys=True),
                                                                             cfg.name))
        config.pin(store, cfg.name, rid, new.key_id, new.gen)
        store.set_meta(HEAD_EXTRAS + cfg.name, json.dumps(extras, sort_keys=True))
        generations.save_plan(store, cfg.name, plan)
        store.append_event("sync.rotated", {"remote": cfg.name, "generation": new.gen,
                                            "revoked": [d[:8] for d in revoked], "wipe_device": bool(wiped)})
    access.remember(opts.cache, rid, access.Opened(new, found.source, kek))
    generations.finish_pending(store, cfg.name, remote)

    out = Rotated(cfg.name, new.gen, new.key_id, wipe_device=bool(target and wipe_device), deleted=len(delete))
    if target is not None:
        out.revoked.append({"device": target[:8], "label": heads[target].head.label})
        out.notes.append(KEPT)
        if wipe_device:
            out.notes.append(f"If {heads[target].head.label!r} still runs mirror and syncs once more, it deletes its "
                             "journal then; a stolen device will not obey.")
    out.notes.append("Other devices move to the new key on their next sync (asking for the passphrase once).")
    return out
