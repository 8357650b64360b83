"""mirror_cli.backup: round trips, damage, hostile archives, keys, prune (restic's rules), lock."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sqlite3
import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keyring_backends import MemoryKeyring, keyring_backend

from mirror_cli import audit, crypto
from mirror_cli.backup import create as bcreate
from mirror_cli.backup import format as bformat
from mirror_cli.backup import restore as brestore
from mirror_cli.backup import keys as bkeys
from mirror_cli.backup import opened, retention, workspace
from mirror_cli.journal import reflections as journal
from mirror_cli.journal import find as finder
from mirror_cli.crypto import manage as keyops
from mirror_cli.errors import InvalidInputError, LockedError, OperationError, UsageError, VerificationError
from mirror_cli.crypto.fields import codec as field_codec
from mirror_cli.crypto.unlocked import UnlockedKey
from mirror_cli.db.store import Store
from helpers import cheap

PW = "correct horse battery staple"



def fill(store: Store, n: int = 5) -> None:
    for i in range(n):
        journal.add(store, f"Entry {i} about the river and #walk number {i}", response=f"reply {i}" if i % 2 else None,
                    tags=["t"] if i % 3 == 0 else ())


def req(env=None, **kw) -> bkeys.KeyRequest:
    return bkeys.KeyRequest(env or {}, **kw)


@pytest.fixture
def plain(tmp_path):
    s = Store.open(tmp_path / "live" / "mirror.db")
    fill(s)
    yield s
    s.close()


@pytest.fixture
def encrypted(tmp_path):
    s = Store.open(tmp_path / "live" / "mirror.db")
    fill(s)
    keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    yield s
    s.close()


def reflections(path: Path, dek: bytes | None = None) -> list[dict]:
    with Store.open(path, create=False) as s:
        if dek is not None:
            s.key = UnlockedKey.from_dek(dek)
        return [r.to_dict() for r in journal.iter_reflections(s, oldest_first=True)]


def make(store: Store, tmp_path: Path, **kw) -> Path:
    return Path(bcreate.create(store, tmp_path / "backups", **kw).path)


# ---------------------------------------------------------------------------
# round trips
# ---------------------------------------------------------------------------


def test_round_trip_plain_into_a_fresh_home(plain, tmp_path):
    result = bcreate.create(plain, tmp_path / "backups")
    path = Path(result.path)
    assert path.parent == tmp_path / "backups" and bformat.NAME_RE.match(path.name)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.bytes == path.stat().st_size and result.encrypted is False
    assert result.counts["reflections"] == 5

    report = brestore.verify(path)
    assert report.ok and report.complete and report.problem is None
    assert {"file sha256", "integrity_check", "counts", "mirror.db sha256", "export.json sha256"} <= set(report.checked)

    target = tmp_path / "fresh" / "home" / "mirror.db"
    res = brestore.restore(path, target, req())
    assert res.before is None
    assert reflections(target) == reflections(plain.path)
    with Store.open(target) as s:  # full-text index rebuilt, audit chain intact with the restore event
        assert [r.content for r in finder.search(s, "river")]
        assert audit.verify(s.conn).ok
        types = [e.event_type for e in audit.events(s.conn)]
        assert types[-1] == bformat.EVENT_RESTORED
    with Store.open(plain.path) as s:
        assert bformat.EVENT_CREATED in [e.event_type for e in audit.events(s.conn)]


def test_restore_keeps_the_replaced_database(plain, tmp_path):
    path = make(plain, tmp_path)
    journal.add(plain, "written after the backup")
    before_rows = reflections(plain.path)
    plain.close()
    res = brestore.restore(path, plain.path, req())
    assert res.before and Path(res.before).name.startswith("mirror.db.before-restore-")
    assert reflections(Path(res.before)) == before_rows
    assert len(reflections(plain.path)) == 5
    assert not Path(f"{plain.path}-shm").exists() or Path(f"{plain.path}-wal").stat().st_size == 0
    # a second restore in the same second gets its own name
    res2 = brestore.restore(path, plain.path, req())
    assert res2.before != res.before and Path(res2.before).exists()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=200)
                      .filter(lambda t: t.strip()), min_size=0, max_size=6))
def test_round_trip_property(tmp_path_factory, texts):
    tmp = tmp_path_factory.mktemp("rt")
    with Store.open(tmp / "a.db") as s:
        for t in texts:
            journal.add(s, t)
        path = Path(bcreate.create(s, tmp / "b").path)
    assert brestore.verify(path).ok
    brestore.restore(path, tmp / "c.db", req())
    assert reflections(tmp / "c.db") == reflections(tmp / "a.db")


def test_names_are_unique_within_one_second(plain, tmp_path):
    at = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
    paths = {bcreate.create(plain, tmp_path / "b", now=at).path for _ in range(4)}
    assert len(paths) == 4
    listed = retention.list_backups(tmp_path / "b")
    assert [b.created_at for b in listed] == ["2024-05-01T12:00:00.123Z"] * 4
    assert {b.path for b in listed} == paths


def test_list_oldest_first_and_only_own_files(plain, tmp_path):
    folder = tmp_path / "b"
    late = bcreate.create(plain, folder, now=datetime(2024, 5, 2, tzinfo=timezone.utc)).path
    early = bcreate.create(plain, folder, now=datetime(2024, 5, 1, tzinfo=timezone.utc)).path
    (folder / "notes.txt").write_text("not a backup")
    (folder / ".mirror-backup-x.tmp").write_text("temp")
    items = retention.list_backups(folder)
    assert [b.path for b in items] == [early, late]
    assert all(set(b.to_dict()) == {"path", "bytes", "sha256", "encrypted", "created_at", "authenticated"} for b in items)


def test_output_may_name_a_file(plain, tmp_path):
    target = tmp_path / "x" / "mine.backup"
    result = bcreate.create(plain, target)
    assert result.path == str(target) and brestore.verify(target).ok


# ---------------------------------------------------------------------------
# encryption
# ---------------------------------------------------------------------------


def test_encrypted_round_trip_on_a_fresh_machine(encrypted, tmp_path):
    path = make(encrypted, tmp_path)
    assert crypto.is_container(path.read_bytes()[path.read_bytes().index(b"MIRRENC"):][:8])
    assert b"river" not in path.read_bytes()

    blind = brestore.verify(path)  # no key: what can be checked is, and it says what was not
    assert blind.ok and not blind.complete and blind.encrypted and "not" not in (blind.problem or "")
    assert blind.not_checked and "container header" in blind.checked

    full = brestore.verify(path, req({"MIRROR_PASSPHRASE": PW}))
    assert full.ok and full.complete

    target = tmp_path / "newmachine" / "mirror.db"
    with pytest.raises(LockedError):
        brestore.restore(path, target, req())
    with pytest.raises(LockedError):
        brestore.restore(path, target, req({"MIRROR_PASSPHRASE": "wrong"}))
    assert not target.exists()
    with pytest.raises(LockedError):
        brestore.verify(path, req({"MIRROR_PASSPHRASE": "wrong"}))

    res = brestore.restore(path, target, req({"MIRROR_PASSPHRASE": PW}))
    assert res.encrypted
    assert reflections(target, encrypted.key.dek) == reflections(encrypted.path, encrypted.key.dek)
    with Store.open(target) as s:
        s.key = UnlockedKey.from_dek(encrypted.key.dek)
        assert audit.verify(s.conn, key=(s.key.audit_key if s.key else None), encrypted=True).ok


def test_restore_caches_the_key_when_a_keyring_exists(encrypted, tmp_path):
    path = make(encrypted, tmp_path)
    with keyring_backend(MemoryKeyring()) as kr:
        res = brestore.restore(path, tmp_path / "n" / "m.db", req({"MIRROR_PASSPHRASE": PW}))
        assert res.key_cached
        # and the keyring alone now opens the backup
        assert brestore.verify(path, req()).complete
        assert kr.get_password("mirror", encrypted.db_id)


def test_old_backup_opens_after_a_passphrase_change(encrypted, tmp_path):
    path = make(encrypted, tmp_path)
    keyops.change(encrypted, {"MIRROR_PASSPHRASE": PW, "MIRROR_NEW_PASSPHRASE": "new one"}, interactive=False,
                  kdf_params=cheap(), allow_weak=True)
    meta = json.loads(encrypted.meta("crypto"))
    assert brestore.verify(path, req({"MIRROR_PASSPHRASE": PW})).complete  # the old passphrase
    r = req({"MIRROR_PASSPHRASE": "new one"}, local_meta=meta, local_db_id=encrypted.db_id)
    assert brestore.verify(path, r).complete  # the new one, through the database's current key record


def test_no_encrypt_writes_a_plain_file_of_an_encrypted_database(encrypted, tmp_path):
    result = bcreate.create(encrypted, tmp_path / "b", encrypt=False)
    assert not result.encrypted
    report = brestore.verify(Path(result.path))  # no key needed
    assert report.complete and report.encrypted is False


def test_a_plain_database_cannot_make_an_encrypted_backup(plain, tmp_path):
    with pytest.raises(UsageError):
        bcreate.create(plain, tmp_path / "b", encrypt=True)


# ---------------------------------------------------------------------------
# damage
# ---------------------------------------------------------------------------


def _flip(path: Path, offset: int, out: Path) -> Path:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize("kind", ["plain", "encrypted"])
def test_any_flipped_byte_or_truncation_is_caught(kind, plain, tmp_path):
    store = plain
    env: dict[str, str] = {}
    if kind == "encrypted":
        keyops.enable(store, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
        env = {"MIRROR_PASSPHRASE": PW}
    path = make(store, tmp_path)
    size = path.stat().st_size
    live = store.path.read_bytes()
    target = tmp_path / "restore" / "mirror.db"
    offsets = sorted({9, 20, 60, size // 3, size // 2, 2 * size // 3, size - 40, size - 33, size - 1})
    for off in offsets:
        bad = _flip(path, off, tmp_path / f"flip{off}.backup")
        for r in (req(), req(env)):
            report = brestore.verify(bad, r)
            assert not report.ok and report.problem and report.exit_code == 3, off
        with pytest.raises(VerificationError):
            brestore.restore(bad, target, req(env))
        assert not target.exists()
    for cut in (5, 12, 100, size // 2, size - 32, size - 1):
        bad = tmp_path / f"cut{cut}.backup"
        bad.write_bytes(path.read_bytes()[:cut])
        assert not brestore.verify(bad, req(env)).ok, cut
        with pytest.raises(VerificationError):
            brestore.restore(bad, target, req(env))
    assert store.path.read_bytes() == live  # nothing changed the live database
    assert not target.parent.exists() or not any(target.parent.iterdir())  # no temp left behind


def test_a_changed_magic_or_another_file_is_not_a_backup(plain, tmp_path):
    path = make(plain, tmp_path)
    target = tmp_path / "t" / "mirror.db"
    for name, data in [("magic", b"X" + path.read_bytes()[1:]), ("text", b"hello\n" * 100),
                       ("empty", b""), ("sqlite", plain.path.read_bytes())]:
        bad = tmp_path / f"{name}.backup"
        bad.write_bytes(data)
        report = brestore.verify(bad)
        assert not report.ok and report.exit_code == 3
        with pytest.raises(InvalidInputError):
            brestore.restore(bad, target, req())
    assert not target.exists()


# ---------------------------------------------------------------------------
# hostile archives (checksums valid, content crafted)
# ---------------------------------------------------------------------------


def craft(path: Path, members: list[dict], payload: bytes, *, manifest_extra: dict | None = None,
          raw_stream: bytes | None = None) -> Path:
    """A plain backup file with correct checksums around whatever manifest and members we like."""
    import zstandard

    stream = raw_stream if raw_stream is not None else \
        zstandard.ZstdCompressor(write_content_size=False).compress(payload)  # like the streaming writer
    manifest = {"format": bformat.MANIFEST_FORMAT, "version": 1, "created_at": "2024-01-01T00:00:00.000Z",
                "tool_version": "0", "schema_version": 1, "db_id": "X", "db_encrypted": False,
                "fts": "excluded", "compression": "zstd",
                "counts": {"reflections": 0, "patterns": 0, "tensions": 0, "audit_events": 0},
                "members": members, "stream_bytes": len(stream), **(manifest_extra or {})}
    header = json.dumps({"format": "mirror-backup", "version": 1, "created_at": manifest["created_at"],
                         "encrypted": False, "db_id": manifest["db_id"]}).encode()
    body = bformat.archive_head(manifest) + stream
    data = bformat.MAGIC + struct.pack(">I", len(header)) + header + body + struct.pack(">Q", len(body))
    path.write_bytes(data + hashlib.sha256(data).digest())
    return path


def member(name: str, data: bytes, **kw) -> dict:
    return {"name": name, "type": "file", "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **kw}


DB, EX = b"D" * 1000, b'{"format":"mirror-export"}\n'
HOSTILE = {
    "absolute path": ([member("/etc/passwd", DB), member("export.json", EX)], DB + EX),
    "dot-dot": ([member("../../mirror.db", DB), member("export.json", EX)], DB + EX),
    "symlink": ([member("mirror.db", DB, type="symlink", target="/etc/passwd"), member("export.json", EX)], DB + EX),
    "hardlink": ([member("mirror.db", DB, type="hardlink"), member("export.json", EX)], DB + EX),
    "device": ([member("mirror.db", DB, type="chardev"), member("export.json", EX)], DB + EX),
    "duplicate": ([member("mirror.db", DB), member("mirror.db", DB), member("export.json", EX)], DB + DB + EX),
    "unexpected": ([member("mirror.db", DB), member("export.json", EX), member("run.sh", b"rm -rf /")],
                   DB + EX + b"rm -rf /"),
    "missing": ([member("mirror.db", DB)], DB),
    "declares less": ([member("mirror.db", DB[:10]), member("export.json", EX)], DB[:10] + EX + b"\0" * 100_000),
    "declares more": ([dict(member("mirror.db", DB), size=5000), member("export.json", EX)], DB + EX),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_are_refused(case, tmp_path):
    members, payload = HOSTILE[case]
    bad = craft(tmp_path / "evil.backup", members, payload)
    home = tmp_path / "target"
    home.mkdir()
    before = sorted(p for p in tmp_path.rglob("*"))
    report = brestore.verify(bad)
    assert not report.ok and report.exit_code == 3
    with pytest.raises(InvalidInputError):
        brestore.restore(bad, home / "mirror.db", req())
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written anywhere
    assert not Path("/etc/passwd").read_bytes().startswith(b"D" * 10)


def test_decompression_bomb_is_refused_before_inflating(tmp_path):
    import zstandard

    huge = 2 * 1024**3  # declares 2 GiB from a few hundred bytes
    cctx = zstandard.ZstdCompressor()
    stream = cctx.compress(b"\0" * (1024 * 1024))
    members = [{"name": "mirror.db", "type": "file", "size": huge, "sha256": "0" * 64}, member("export.json", EX)]
    bad = craft(tmp_path / "bomb.backup", members, b"", raw_stream=stream)
    with pytest.raises(InvalidInputError, match="bomb"):
        brestore.restore(bad, tmp_path / "h" / "mirror.db", req())
    assert not (tmp_path / "h" / "mirror.db").exists()


def test_bomb_within_the_ratio_but_lying_about_size(tmp_path):
    """Members declared (and hashed) honestly, then 64 MiB of zeros more in the stream: 5, and inflating stops."""
    import zstandard

    stream = zstandard.ZstdCompressor(write_content_size=False).compress(DB + EX + b"\0" * (64 * 1024 * 1024))
    assert len(stream) * 1000 > len(DB + EX)  # within the declared-size ratio: only inflating can tell
    bad = craft(tmp_path / "bomb2.backup", [member("mirror.db", DB), member("export.json", EX)], b"",
                raw_stream=stream)
    report = brestore.verify(bad)
    assert not report.ok and report.exit_code == 3 and "bomb" in report.problem
    with pytest.raises(InvalidInputError, match="bomb"):
        brestore.restore(bad, tmp_path / "h" / "mirror.db", req())
    assert not (tmp_path / "h" / "mirror.db").exists()


def test_a_frame_that_needs_a_huge_window_is_refused(tmp_path):
    import zstandard

    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=30, enable_ldm=True)
    cobj = zstandard.ZstdCompressor(compression_params=params).compressobj()  # streaming: no content size
    stream = cobj.compress(DB + EX) + cobj.flush()
    assert zstandard.get_frame_parameters(stream).window_size == 1 << 30
    bad = craft(tmp_path / "wide.backup", [member("mirror.db", DB), member("export.json", EX)], b"",
                raw_stream=stream)
    with pytest.raises(InvalidInputError, match="memory"):
        brestore.restore(bad, tmp_path / "h" / "mirror.db", req())


def test_a_crafted_but_honest_archive_still_needs_a_sane_snapshot(tmp_path):
    """Valid framing, but the 'database' is junk: integrity fails -> damaged (3), nothing swapped in."""
    bad = craft(tmp_path / "junk.backup", [member("mirror.db", DB), member("export.json", EX)], DB + EX)
    target = tmp_path / "h" / "mirror.db"
    with pytest.raises(MirrorErrorTypes):
        brestore.restore(bad, target, req())
    assert not target.exists()


MirrorErrorTypes = (VerificationError, InvalidInputError)


# ---------------------------------------------------------------------------
# lock, stale temps, atomicity
# ---------------------------------------------------------------------------


def test_a_second_backup_waits_for_the_lock_then_gives_up(plain, tmp_path):
    folder = tmp_path / "b"
    with workspace.folder_lock(folder, 1):
        with pytest.raises(OperationError, match="another backup is running"):
            bcreate.create(plain, folder, lock_timeout=0.2)
    assert bcreate.create(plain, folder, lock_timeout=0.2).path


def test_stale_temp_files_are_removed_by_the_next_backup(plain, tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / ".mirror-backup-abc.tmp").mkdir()
    (folder / ".mirror-x.backup.123.tmp").write_bytes(b"partial")
    bcreate.create(plain, folder)
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".mirror-backup.lock")) \
        == [b.name for b in map(lambda i: Path(i.path), retention.list_backups(folder))]


def test_a_failed_create_leaves_nothing(plain, tmp_path, monkeypatch):
    folder = tmp_path / "b"

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bformat, "archive_head", boom)
    with pytest.raises((OperationError, OSError)):
        bcreate.create(plain, folder)
    assert [p.name for p in folder.iterdir()] == [workspace.LOCK_NAME]


# ---------------------------------------------------------------------------
# prune: restic's rules on a fixed calendar
# ---------------------------------------------------------------------------


def t(s: str) -> datetime:
    return datetime.fromisoformat(s)


# A fixed calendar (2024-02-11 is a Sunday of ISO week 6, 2024-02-12 a Monday of week 7) and what
# `restic forget --dry-run --json RULES` keeps of it. The table was produced by running restic 0.14.0
# (Debian's package, TZ=UTC) on snapshots made with `restic backup --time T`; the rows marked OLDEST
# differ only by the rule restic added in 0.16 (internal/restic/snapshot_policy.go: a rule that still
# has budget at the oldest snapshot keeps it, "to maximize the history length kept").
CAL = ["2024-01-31T08:00", "2024-01-31T10:00", "2024-02-01T09:00", "2024-02-01T18:00", "2024-02-05T12:00",
       "2024-02-11T12:00", "2024-02-12T08:00", "2024-02-12T20:00"]
OLDEST = "2024-01-31T08:00"
RESTIC = [
    ({"last": 2}, ["2024-02-12T08:00", "2024-02-12T20:00"], False),
    ({"daily": 3}, ["2024-02-05T12:00", "2024-02-11T12:00", "2024-02-12T20:00"], False),
    ({"daily": 5}, ["2024-01-31T10:00", "2024-02-01T18:00", "2024-02-05T12:00", "2024-02-11T12:00",
                    "2024-02-12T20:00"], False),
    ({"daily": 10}, ["2024-01-31T10:00", "2024-02-01T18:00", "2024-02-05T12:00", "2024-02-11T12:00",
                     "2024-02-12T20:00"], True),
    ({"weekly": 2}, ["2024-02-11T12:00", "2024-02-12T20:00"], False),
    ({"weekly": 3}, ["2024-02-01T18:00", "2024-02-11T12:00", "2024-02-12T20:00"], False),
    ({"weekly": 5}, ["2024-02-01T18:00", "2024-02-11T12:00", "2024-02-12T20:00"], True),
    ({"monthly": 2}, ["2024-01-31T10:00", "2024-02-12T20:00"], False),
    ({"monthly": 5}, ["2024-01-31T10:00", "2024-02-12T20:00"], True),
    ({"daily": 3, "monthly": 2}, ["2024-01-31T10:00", "2024-02-05T12:00", "2024-02-11T12:00",
                                  "2024-02-12T20:00"], False),
    ({"last": 1, "weekly": 1}, ["2024-02-12T20:00"], False),
    ({"last": 100}, CAL, False),
]


@pytest.mark.parametrize(("rules", "restic_kept", "plus_oldest"), RESTIC,
                         ids=[",".join(f"{k}={v}" for k, v in r[0].items()) for r in RESTIC])
def test_prune_selection_matches_restic_on_a_fixed_calendar(rules, restic_kept, plus_oldest):
    shuffled = CAL[3:] + CAL[:3]  # input order does not matter, only the times
    kept, removed = retention.select_prune([(x, t(x)) for x in shuffled], **rules)
    want = sorted(set(restic_kept) | ({OLDEST} if plus_oldest else set()))
    assert sorted(kept) == want
    assert sorted(removed) == sorted(set(CAL) - set(want))
    assert kept == sorted(kept, reverse=True) and removed == sorted(removed, reverse=True)  # newest first


def test_prune_keeps_the_oldest_only_while_a_rule_has_budget_left():
    snaps = [(x, t(x)) for x in CAL]
    assert OLDEST in retention.select_prune(snaps, daily=6)[0]  # 5 days hold backups: one day of budget left
    assert OLDEST not in retention.select_prune(snaps, daily=5)[0]
    assert retention.select_prune(snaps[:1], last=1) == ([OLDEST], [])


def test_prune_iso_week_across_new_year():
    snaps = [("a", t("2020-12-28T12:00")), ("b", t("2021-01-01T12:00")), ("c", t("2021-01-03T12:00")),
             ("d", t("2021-01-04T12:00"))]
    kept, removed = retention.select_prune(snaps, weekly=2)
    assert kept == ["d", "c"] and removed == ["b", "a"]  # 2020-W53 runs to Sunday 2021-01-03


def test_prune_needs_a_rule_and_removes_files(plain, tmp_path):
    folder = tmp_path / "b"
    with pytest.raises(UsageError):
        retention.prune(folder)
    base = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    made = [bcreate.create(plain, folder, now=base + timedelta(days=i)).path for i in range(4)]
    dry = retention.prune(folder, last=2, dry_run=True)
    assert dry.removed == made[:2] and dry.kept == made[2:] and all(Path(p).exists() for p in made)
    real = retention.prune(folder, last=2)
    assert real.removed == made[:2]
    assert [b.path for b in retention.list_backups(folder)] == made[2:]


def _broken_files(folder: Path, good: Path) -> dict[str, Path]:
    """Files named like backups that are not readable ones (the review's repro, and two subtler ones)."""
    junk = folder / "mirror-20990101T000000.000Z-abcdef.backup"
    junk.write_bytes(b"junk\n")
    cut = folder / "mirror-20991201T160000.000Z-abc123.backup"
    cut.write_bytes(good.read_bytes()[:100])
    grown = folder / "mirror-20991202T160000.000Z-abc124.backup"  # header intact, trailer's length wrong
    grown.write_bytes(good.read_bytes() + b"\0")
    newer = folder / "mirror-20991203T160000.000Z-abc125.backup"  # another format version
    newer.write_bytes(b"MIRRBAK\x02" + good.read_bytes()[8:])
    return {"junk": junk, "cut": cut, "grown": grown, "newer": newer}


def test_list_and_prune_trust_the_header_not_the_name(plain, tmp_path, monkeypatch):
    folder = tmp_path / "b"
    base = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    made = [Path(bcreate.create(plain, folder, now=base + timedelta(days=i)).path) for i in range(3)]
    broken = _broken_files(folder, made[0])
    # A real backup whose name claims a later time than the others: the header's time counts.
    liar = folder / "mirror-20990301T000000.000Z-fedcba.backup"
    os.rename(made[0], liar)
    made[0] = liar

    listing = retention.scan_backups(folder)
    assert [b.path for b in listing.backups] == [str(p) for p in made]  # oldest first by header time
    assert listing.backups[0].created_at == "2024-03-01T12:00:00.000Z"
    assert all(set(b.to_dict()) == {"path", "bytes", "sha256", "encrypted", "created_at", "authenticated"} for b in listing.backups)
    assert sorted(u.path for u in listing.unreadable) == sorted(str(p) for p in broken.values())
    problems = {Path(u.path): u.problem for u in listing.unreadable}
    assert "truncated" in problems[broken["cut"]] and "recorded length" in problems[broken["grown"]]
    assert "version 2" in problems[broken["newer"]]
    assert [b.path for b in retention.list_backups(folder)] == [str(p) for p in made]

    monkeypatch.setattr(hashlib, "sha256", _CountingSha256)
    _CountingSha256.hashed = 0
    dry = retention.prune(folder, last=1, dry_run=True)
    assert dry.kept == [str(made[2])] and dry.removed == [str(p) for p in made[:2]]
    assert _CountingSha256.hashed == made[2].stat().st_size - bformat.DIGEST  # only the kept one, in full
    assert sorted(u.path for u in dry.unreadable) == sorted(str(p) for p in broken.values())
    assert set(dry.to_dict()) == {"kept", "removed", "dry_run", "unreadable"}
    three = retention.prune(folder, last=3, dry_run=True)
    assert three.kept == [str(p) for p in made] and three.removed == []
    real = retention.prune(folder, last=1)
    assert real.removed == [str(p) for p in made[:2]]
    assert all(p.exists() for p in broken.values()) and made[2].exists()
    assert not any(p.exists() for p in made[:2])


def _flip_middle(path: Path) -> None:
    """Flip one byte in the middle of *path* (inside the body: the cheap check still passes)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


class _CountingSha256:
    """Stands in for hashlib.sha256 and counts the bytes hashed (prune must hash only what it keeps)."""

    hashed = 0

    def __init__(self, data: bytes = b"") -> None:
        self._h = _REAL_SHA256(data)
        _CountingSha256.hashed += len(data)

    def update(self, data: bytes) -> None:
        _CountingSha256.hashed += len(data)
        self._h.update(data)

    def digest(self) -> bytes:
        return self._h.digest()

    def hexdigest(self) -> str:
        return self._h.hexdigest()

    def copy(self):
        c = _CountingSha256.__new__(_CountingSha256)
        c._h = self._h.copy()
        return c


_REAL_SHA256 = hashlib.sha256


@pytest.mark.parametrize("dry_run", [True, False])
def test_prune_never_keeps_a_damaged_backup_in_place_of_an_intact_one(plain, tmp_path, dry_run):
    # The review's repro: two backups, one byte flipped inside the newer, --keep-last 1.
    folder = tmp_path / "b"
    base = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    older, newer = (Path(bcreate.create(plain, folder, now=base + timedelta(hours=i)).path) for i in range(2))
    _flip_middle(newer)
    result = retention.prune(folder, last=1, dry_run=dry_run)
    assert result.kept == [str(older)] and result.removed == []
    assert [u.path for u in result.unreadable] == [str(newer)]
    assert "checksum" in result.unreadable[0].problem
    assert older.exists() and newer.exists()
    assert brestore.verify(older).ok


def test_prune_keep_daily_replaces_a_damaged_day_pick_by_that_days_next_backup(plain, tmp_path):
    folder = tmp_path / "b"
    at = [datetime(2024, 3, 1, 12, tzinfo=timezone.utc), datetime(2024, 3, 2, 9, tzinfo=timezone.utc),
          datetime(2024, 3, 2, 11, tzinfo=timezone.utc), datetime(2024, 3, 3, 12, tzinfo=timezone.utc)]
    day1, day2_early, day2_late, day3 = (Path(bcreate.create(plain, folder, now=t).path) for t in at)
    assert retention.prune(folder, daily=2, dry_run=True).kept == [str(day2_late), str(day3)]
    _flip_middle(day2_late)
    result = retention.prune(folder, daily=2)
    assert result.kept == [str(day2_early), str(day3)] and result.removed == [str(day1)]
    assert [u.path for u in result.unreadable] == [str(day2_late)]
    assert day2_late.exists() and not day1.exists()
    assert all(brestore.verify(Path(p)).ok for p in result.kept)


def test_prune_hashes_only_the_backups_it_keeps(plain, tmp_path, monkeypatch):
    folder = tmp_path / "b"
    base = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    made = [Path(bcreate.create(plain, folder, now=base + timedelta(days=i)).path) for i in range(6)]
    checked = lambda paths: sum(p.stat().st_size - bformat.DIGEST for p in paths)  # noqa: E731
    monkeypatch.setattr(hashlib, "sha256", _CountingSha256)

    _CountingSha256.hashed = 0
    dry = retention.prune(folder, last=2, dry_run=True)
    assert dry.kept == [str(p) for p in made[4:]]
    assert _CountingSha256.hashed == checked(made[4:])  # the two kept, each once; the four others never

    _flip_middle(made[5])
    _CountingSha256.hashed = 0
    real = retention.prune(folder, last=2)
    assert real.kept == [str(p) for p in made[3:5]] and real.removed == [str(p) for p in made[:3]]
    assert [u.path for u in real.unreadable] == [str(made[5])]
    assert _CountingSha256.hashed == checked(made[3:6])  # the damaged pick, then its replacement


def test_list_checks_each_checksum_in_the_one_read_it_already_makes(plain, tmp_path, monkeypatch):
    folder = tmp_path / "b"
    base = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    made = [Path(bcreate.create(plain, folder, now=base + timedelta(days=i)).path) for i in range(3)]
    _flip_middle(made[1])
    monkeypatch.setattr(hashlib, "sha256", _CountingSha256)
    _CountingSha256.hashed = 0
    listing = retention.scan_backups(folder)
    assert _CountingSha256.hashed == sum(p.stat().st_size for p in made)  # each file hashed once, as before
    assert [b.path for b in listing.backups] == [str(made[0]), str(made[2])]
    assert [b.sha256 for b in listing.backups] == [_REAL_SHA256(made[i].read_bytes()).hexdigest() for i in (0, 2)]
    assert [u.path for u in listing.unreadable] == [str(made[1])] and "checksum" in listing.unreadable[0].problem


def members_of(path: Path) -> dict[str, bytes]:
    """The members of a plain backup, read by hand from the documented layout."""
    data = path.read_bytes()
    (h,) = struct.unpack(">I", data[8:12])
    return _archive(data[12 + h:-40])[1]


def _archive(arc: bytes) -> tuple[dict, dict[str, bytes]]:
    """(manifest, members) of a backup's archive, read by hand from the documented layout."""
    import zstandard

    (m,) = struct.unpack(">I", arc[8:12])
    manifest = json.loads(arc[12:12 + m])
    payload = zstandard.ZstdDecompressor(max_window_size=1 << 28).stream_reader(arc[44 + m:]).read()
    out, pos = {}, 0
    for mem in manifest["members"]:
        out[mem["name"]] = payload[pos:pos + mem["size"]]
        pos += mem["size"]
    assert pos == len(payload)
    return manifest, out


def test_export_member_is_the_export(plain, tmp_path):
    """The backup's export.json is `mirror export`'s document (same records, same header counts)."""
    from mirror_cli.exchange.export import write_stream

    fill(plain, 6)
    path = make(plain, tmp_path)
    doc = json.loads(members_of(path)["export.json"])
    theirs = io.StringIO()
    write_stream(plain, theirs)
    ref = json.loads(theirs.getvalue())
    doc.pop("exported_at"), ref.pop("exported_at")
    ref["audit_events"] = ref["audit_events"][:len(doc["audit_events"])]  # the backup event came after
    ref["counts"]["audit_events"] = doc["counts"]["audit_events"]
    assert doc == ref and len(doc["reflections"]) == 11
    assert brestore.verify(path).complete


def test_export_member_of_an_encrypted_database(encrypted, tmp_path):
    path = bcreate.create(encrypted, tmp_path / "b", encrypt=False).path
    doc = json.loads(members_of(Path(path))["export.json"])
    rows = doc["reflections"]
    assert sorted(r["content"] for r in rows) == [f"Entry {i} about the river and #walk number {i}" for i in range(5)]
    assert rows == sorted(rows, key=lambda r: (r["created_at"], r["id"]))
    assert brestore.verify(Path(path)).complete


# ---------------------------------------------------------------------------
# the encrypted layer on its own: the keyless SHA-256 trailer recomputed, as anyone could
# ---------------------------------------------------------------------------


def reseal(head: bytes, body: bytes, out: Path) -> Path:
    """A backup file around *body* with a correct length field and SHA-256 trailer."""
    data = head + body + struct.pack(">Q", len(body))
    out.write_bytes(data + hashlib.sha256(data).digest())
    return out


def split_container(path: Path) -> tuple[bytes, bytes, list[bytes]]:
    """(backup head, container head, chunks) of an encrypted backup."""
    data = path.read_bytes()
    (h,) = struct.unpack(">I", data[8:12])
    head, body = data[:12 + h], data[12 + h:-40]
    (ch,) = struct.unpack(">I", body[8:12])
    chead = body[:12 + ch + 32]
    size = json.loads(body[12:12 + ch])["chunk_size"] + 16
    rest = body[len(chead):]
    return head, chead, [rest[i:i + size] for i in range(0, len(rest), size)]


@pytest.fixture
def small_chunks(encrypted, tmp_path, monkeypatch):
    """An encrypted backup written in 1 KiB chunks (so a small journal spans many)."""
    import functools

    monkeypatch.setattr(crypto, "encrypt_stream", functools.partial(crypto.encrypt_stream, chunk_size=1024))
    path = make(encrypted, tmp_path)
    head, chead, chunks = split_container(path)
    assert len(chunks) >= 3 and reseal(head, chead + b"".join(chunks), tmp_path / "same.backup").read_bytes() \
        == path.read_bytes()
    return path, head, chead, chunks


def _swap(c: list[bytes]) -> list[bytes]:
    return [c[1], c[0], *c[2:]]


def _flip_in(c: list[bytes], i: int) -> list[bytes]:
    b = bytearray(c[i])
    b[len(b) // 2] ^= 0x04
    return [*c[:i], bytes(b), *c[i + 1:]]


CHUNK_ATTACKS = {
    "bit flip in a chunk": lambda c: _flip_in(c, 1),
    "bit flip in a tag": lambda c: [*c[:-1], c[-1][:-1] + bytes([c[-1][-1] ^ 1])],
    "two chunks swapped": _swap,
    "last chunk dropped": lambda c: c[:-1],
    "middle chunk dropped": lambda c: [c[0], *c[2:]],
    "chunk duplicated": lambda c: [c[0], c[0], *c[1:]],
    "chunk appended": lambda c: [*c, c[-1]],
    "cut inside the last chunk": lambda c: [*c[:-1], c[-1][:5]],
}


@pytest.mark.parametrize("attack", sorted(CHUNK_ATTACKS))
def test_encrypted_chunks_tampered_under_a_valid_checksum_are_damage(attack, small_chunks, tmp_path):
    path, head, chead, chunks = small_chunks
    bad = reseal(head, chead + b"".join(CHUNK_ATTACKS[attack](chunks)), tmp_path / "bad.backup")
    blind = brestore.verify(bad)  # without a key only the checksum and header can be checked
    assert blind.ok and not blind.complete
    report = brestore.verify(bad, req({"MIRROR_PASSPHRASE": PW}))
    assert not report.ok and report.exit_code == 3 and report.problem, attack
    target = tmp_path / "restore-here" / "mirror.db"  # not HOME: a key enabled there leaves its mark in ~/.local
    target.parent.mkdir()
    with pytest.raises(VerificationError):
        brestore.restore(bad, target, req({"MIRROR_PASSPHRASE": PW}))
    assert not target.exists() and not any(target.parent.iterdir())


def test_encrypted_header_edited_and_redigested_is_damage(small_chunks, tmp_path):
    """The container header is the chunks' associated data: editing it, even with a new digest, breaks them."""
    path, head, chead, chunks = small_chunks
    (ch,) = struct.unpack(">I", chead[8:12])
    meta = json.loads(chead[12:12 + ch])
    meta["nonce_prefix"] = base64.b64encode(bytes(7)).decode()
    body = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    top = chead[:8] + struct.pack(">I", len(body)) + body
    bad = reseal(head, top + hashlib.sha256(top).digest() + b"".join(chunks), tmp_path / "hdr.backup")
    report = brestore.verify(bad, req({"MIRROR_PASSPHRASE": PW}))
    assert not report.ok and report.exit_code == 3
    with pytest.raises(VerificationError):
        brestore.restore(bad, tmp_path / "h" / "mirror.db", req({"MIRROR_PASSPHRASE": PW}))


def test_clear_header_edited_under_a_valid_checksum_is_damage(plain, tmp_path):
    path = make(plain, tmp_path)
    data = path.read_bytes()
    (h,) = struct.unpack(">I", data[8:12])
    header = json.loads(data[12:12 + h])
    header["created_at"] = "1999" + header["created_at"][4:]  # same length, another date
    raw = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    assert len(raw) == h
    bad = reseal(data[:12] + raw, data[12 + h:-40], tmp_path / "when.backup")
    report = brestore.verify(bad)
    assert not report.ok and report.exit_code == 3 and "header" in report.problem


def test_plain_backup_of_an_encrypted_database_needs_the_passphrase_before_anything_changes(encrypted, tmp_path):
    path = Path(bcreate.create(encrypted, tmp_path / "b", encrypt=False).path)
    target = tmp_path / "fresh" / "mirror.db"
    with pytest.raises(LockedError, match="--no-encrypt"):
        brestore.restore(path, target, req())
    with pytest.raises(LockedError):
        brestore.restore(path, target, req({"MIRROR_PASSPHRASE": "wrong"}))
    assert not target.exists() and not any(target.parent.iterdir())
    with keyring_backend(MemoryKeyring()):
        res = brestore.restore(path, target, req({"MIRROR_PASSPHRASE": PW}))
        assert res.key_cached
    with Store.open(target) as s:
        s.key = UnlockedKey.from_dek(encrypted.key.dek)
        assert audit.verify(s.conn, key=(s.key.audit_key if s.key else None), encrypted=True).ok
        assert [e.event_type for e in audit.events(s.conn)][-1] == bformat.EVENT_RESTORED
    assert reflections(target, encrypted.key.dek) == reflections(encrypted.path, encrypted.key.dek)


def test_a_manifest_that_hides_the_snapshots_encryption_is_damage(encrypted, tmp_path):
    """A plain backup re-packed with db_encrypted false around an encrypted snapshot: refused before the swap."""
    path = Path(bcreate.create(encrypted, tmp_path / "b", encrypt=False).path)
    parts = members_of(path)
    m = brestore.verify(path)
    assert m.complete
    bad = craft(tmp_path / "hidden.backup", [member(n, parts[n]) for n in bformat.MEMBERS],
                parts["mirror.db"] + parts["export.json"],
                manifest_extra={"db_id": encrypted.db_id, "counts": m.counts, "db_encrypted": False})
    report = brestore.verify(bad)
    assert not report.ok and report.exit_code == 3 and "encrypted" in report.problem
    target = tmp_path / "h" / "mirror.db"
    with pytest.raises(VerificationError):
        brestore.restore(bad, target, req())
    assert not target.exists()


# ---------------------------------------------------------------------------
# an encrypted backup carries the fields opened inside its container; restore seals them back
# ---------------------------------------------------------------------------


def archive_of(path: Path, dek: bytes) -> tuple[bytes, bytes, dict, dict[str, bytes]]:
    """(backup head, container header bytes, manifest, members) of an encrypted backup, by hand."""
    data = path.read_bytes()
    (h,) = struct.unpack(">I", data[8:12])
    body = data[12 + h:-40]
    out = io.BytesIO()
    crypto.decrypt_stream(io.BytesIO(body), out, dek=dek, expected_purpose="backup")
    manifest, members = _archive(out.getvalue())
    return data[:12 + h], body, manifest, members


def sealed_columns(path: Path) -> list[tuple]:
    from mirror_cli.crypto.fields import SEALED_COLUMNS

    conn = sqlite3.connect(path)
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    rows = []
    for table, (rid, cols) in SEALED_COLUMNS.items():
        if table in have:
            rows += [(table, *r) for r in conn.execute(f"SELECT {rid}, {', '.join(cols)} FROM {table} ORDER BY 1")]
    conn.close()
    return rows


def test_encrypted_backup_carries_opened_fields_and_restore_gives_back_the_same_ciphertext(encrypted, tmp_path):
    from mirror_cli.exchange.export import write_stream

    f, rid = field_codec(encrypted), encrypted.conn.execute("SELECT id FROM reflections LIMIT 1").fetchone()[0]
    with encrypted.write():  # one row in each other sealed table the export carries
        encrypted.conn.execute("INSERT INTO patterns (id, pattern_type, name, confidence, created_at, updated_at, rev)"
                               " VALUES ('p1', 'theme', ?, 0.5, '2024-01-01T00:00:00.000Z',"
                               " '2024-01-01T00:00:00.000Z', 1)", (f.seal("patterns", "p1", "name", "river"),))
        encrypted.conn.execute("INSERT INTO pattern_occurrences (pattern_id, reflection_id, evidence, confidence)"
                               " VALUES ('p1', ?, ?, 0.5)", (rid, f.seal("pattern_occurrences", f"p1:{rid}",
                                                                        "evidence", "the river")))
        data = json.dumps({"name": "Control vs Surrender", "axis_a": "Control", "axis_b": "Surrender",
                           "position": 0.25, "intensity": 0.5})
        encrypted.conn.execute("INSERT INTO tensions (id, reflection_id, detected_at, data, rev)"
                               " VALUES ('t1', ?, '2024-01-01T00:00:00.000Z', ?, 1)",
                               (rid, f.seal("tensions", "t1", "data", data)))
    path = make(encrypted, tmp_path)
    _, _, manifest, members = archive_of(path, encrypted.key.dek)
    assert manifest["fields"] == "opened" and manifest["db_encrypted"] is True
    snap = tmp_path / "snap.db"
    snap.write_bytes(members["mirror.db"])
    blobs = [v for row in sealed_columns(snap) for v in row[2:] if v is not None]
    assert blobs and all(isinstance(v, bytes) and v[0] == opened.OPENED for v in blobs)
    assert any(b"Entry 0 about the river" in v for v in blobs)  # plaintext, inside the container only
    doc, ref = json.loads(members["export.json"]), io.StringIO()
    write_stream(encrypted, ref)
    ref = json.loads(ref.getvalue())
    doc.pop("exported_at"), ref.pop("exported_at")
    ref["audit_events"] = ref["audit_events"][:len(doc["audit_events"])]  # the backup's own event came after
    ref["counts"]["audit_events"] = doc["counts"]["audit_events"]
    assert doc == ref and doc["patterns"][0]["name"] == "river" and doc["tensions"][0]["name"] == "Control vs Surrender"
    assert doc["patterns"][0]["occurrences"][0]["evidence"] == "the river"

    live = sealed_columns(encrypted.path)
    assert {row[0] for row in live} >= {"reflections", "patterns", "pattern_occurrences", "tensions"}
    target = tmp_path / "fresh" / "mirror.db"
    brestore.restore(path, target, req({"MIRROR_PASSPHRASE": PW}))
    assert sealed_columns(target) == live  # byte for byte the same envelopes


def test_an_opened_field_that_does_not_match_its_tag_is_refused_before_the_swap(encrypted, tmp_path):
    """Even under a valid container (made with the key), a changed plaintext fails its tag: 3, nothing swapped."""
    import zstandard

    path = make(encrypted, tmp_path)
    head, body, manifest, members = archive_of(path, encrypted.key.dek)
    snap = tmp_path / "snap.db"
    snap.write_bytes(members["mirror.db"])
    conn = sqlite3.connect(snap)
    blob = conn.execute("SELECT content FROM reflections ORDER BY id LIMIT 1").fetchone()[0]
    changed = blob[:13] + blob[13:-16].replace(b"river", b"RIVER") + blob[-16:]
    conn.execute("UPDATE reflections SET content = ? WHERE content = ?", (changed, blob))
    conn.commit()
    conn.close()
    db = snap.read_bytes()
    manifest["members"][0].update(size=len(db), sha256=hashlib.sha256(db).hexdigest())
    stream = zstandard.ZstdCompressor(write_content_size=False).compress(db + members["export.json"])
    manifest["stream_bytes"] = len(stream)
    meta = json.loads(encrypted.meta("crypto"))
    cm = crypto.CryptoMeta.from_dict(meta)
    out = io.BytesIO()
    crypto.encrypt_stream(io.BytesIO(bformat.archive_head(manifest) + stream), out, dek=encrypted.key.dek,
                          kdf_params=cm.kdf, wrapped_key=cm.wrapped_key, db_id=encrypted.db_id, purpose="backup")
    bad = reseal(head, out.getvalue(), tmp_path / "forged.backup")
    assert brestore.verify(bad, req({"MIRROR_PASSPHRASE": PW})).ok  # well-formed: verify does not re-seal
    target = tmp_path / "fresh" / "mirror.db"
    with pytest.raises(VerificationError, match="tag"):
        brestore.restore(bad, target, req({"MIRROR_PASSPHRASE": PW}))
    assert not target.exists() and not any(target.parent.iterdir())


def test_a_plain_backup_claiming_opened_fields_is_refused(plain, tmp_path):
    path = make(plain, tmp_path)
    parts = members_of(path)
    counts = brestore.verify(path).counts
    for extra in ({"fields": "opened", "db_encrypted": True}, {"fields": "opened"}, {"fields": "rot13"}):
        bad = craft(tmp_path / "claims.backup", [member(n, parts[n]) for n in bformat.MEMBERS],
                    parts["mirror.db"] + parts["export.json"],
                    manifest_extra={"db_id": plain.db_id, "counts": counts, **extra})
        assert brestore.verify(bad).exit_code == 3
        with pytest.raises(InvalidInputError):
            brestore.restore(bad, tmp_path / "h" / "mirror.db", req())


# ---------------------------------------------------------------------------
# plaintext of an encrypted database: never in the backups folder, never in the temp dir
# ---------------------------------------------------------------------------

MARKER = b"plaintext-marker-quokka"


def _holding(root: Path, needle: bytes = MARKER) -> list[str]:
    """Files under *root* (recursively) whose bytes contain *needle*."""
    hits = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath, name)
            try:
                if needle in p.read_bytes():
                    hits.append(str(p))
            except OSError:  # removed meanwhile
                pass
    return hits


@pytest.fixture
def places(tmp_path, monkeypatch):
    """RAM and the system temp dir redirected to folders of the test, so that both can be scanned."""
    import tempfile

    ram, systmp = tmp_path / "shm", tmp_path / "systmp"
    ram.mkdir()
    systmp.mkdir()
    monkeypatch.setattr(workspace, "RAM_DIR", ram)
    monkeypatch.setenv("TMPDIR", str(systmp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() looks at TMPDIR again
    assert tempfile.gettempdir() == str(systmp)
    return {"ram": ram, "tmp": systmp}


@pytest.fixture
def secret(encrypted):
    journal.add(encrypted, f"my {MARKER.decode()} diary", response=f"a reply with {MARKER.decode()}")
    return encrypted


@pytest.mark.parametrize("ram", [True, False], ids=["ram", "no-ram"])
def test_an_encrypted_backup_never_writes_plaintext_into_the_backups_folder(secret, tmp_path, places, monkeypatch,
                                                                             ram):
    import threading

    if not ram:  # no RAM folder: the working files go beside the database
        monkeypatch.setattr(workspace, "RAM_DIR", tmp_path / "no-such-shm")
    folder = tmp_path / "synced"
    seen: list[str] = []
    work_seen: dict = {}
    stop = threading.Event()

    def watch() -> None:  # what a sync client would upload, sampled all along
        while not stop.is_set():
            seen.extend(_holding(folder))

    real_write = bcreate.write_file

    def write_file(target, header, manifest, stream_path, *a, **k):  # every working file exists now
        work = stream_path.parent
        work_seen.update(path=work, mode=work.stat().st_mode & 0o777, plain=_holding(work),
                         folder=_holding(folder), tmp=_holding(places["tmp"]))
        return real_write(target, header, manifest, stream_path, *a, **k)

    monkeypatch.setattr(bcreate, "write_file", write_file)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = bcreate.create(secret, folder)
    finally:
        stop.set()
        watcher.join()
    assert result.encrypted
    # the working files did hold the plaintext (so the scans would have found it anywhere else) ...
    assert {Path(p).name for p in work_seen["plain"]} >= {bformat.DB_MEMBER, bformat.EXPORT_MEMBER}
    # ... in a private folder in RAM, or beside the database: never in the backups folder nor in /tmp
    assert work_seen["path"].parent == (places["ram"] if ram else secret.path.parent)
    assert work_seen["mode"] == 0o700
    assert work_seen["folder"] == [] and work_seen["tmp"] == [] and seen == []
    assert _holding(folder) == [] and MARKER not in Path(result.path).read_bytes()
    assert not work_seen["path"].exists()  # and it is gone afterwards
    assert os.listdir(places["tmp"]) == [] and os.listdir(places["ram"] if ram else tmp_path / "shm") == []


def test_ram_is_used_only_with_room_to_spare(tmp_path, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr(workspace, "RAM_DIR", tmp_path)
    free = {"bytes": 0}
    monkeypatch.setattr(workspace.os, "statvfs", lambda p: SimpleNamespace(f_bavail=free["bytes"] // 4096,
                                                                        f_frsize=4096))
    need = 100 * 2**20
    free["bytes"] = need + need // 2 + workspace.RAM_MARGIN + 4096
    assert workspace._ram_has_room(need)
    free["bytes"] = need + workspace.RAM_MARGIN  # room for the files, but not the margin
    assert not workspace._ram_has_room(need)
    monkeypatch.setattr(workspace, "RAM_DIR", tmp_path / "missing")
    free["bytes"] = 2**40
    assert not workspace._ram_has_room(need)
    local = tmp_path / "db"
    with workspace.private_work(need, local) as work:
        assert work.parent == local and (work.stat().st_mode & 0o777) == 0o700


def test_verify_of_an_encrypted_backup_writes_no_plaintext_to_the_temp_dir(secret, tmp_path, places, monkeypatch):
    path = make(secret, tmp_path)
    unpacked: dict = {}
    real_check = brestore._check_snapshot

    def check(snap, *a, **k):  # the snapshot is unpacked (fields opened) and being checked now
        unpacked.update(path=snap, plain=MARKER in snap.read_bytes(),
                        tmp=_holding(places["tmp"]) + os.listdir(places["tmp"]))
        return real_check(snap, *a, **k)

    monkeypatch.setattr(brestore, "_check_snapshot", check)
    report = brestore.verify(path, req({"MIRROR_PASSPHRASE": PW}))
    assert report.ok and report.complete
    assert unpacked["plain"]  # the unpacked snapshot holds plaintext ...
    assert unpacked["path"].parent.parent == places["ram"]  # ... in a private folder in RAM
    assert unpacked["tmp"] == []  # and nothing at all went to the system temp dir
    assert os.listdir(places["ram"]) == [] and os.listdir(places["tmp"]) == []

    monkeypatch.setattr(workspace, "RAM_DIR", tmp_path / "no-such-shm")  # no RAM: beside the database
    local = tmp_path / "dbdir"
    assert brestore.verify(path, req({"MIRROR_PASSPHRASE": PW}), local=local).complete
    assert unpacked["path"].parent.parent == local and unpacked["tmp"] == []
    assert os.listdir(local) == [] and os.listdir(places["tmp"]) == []

    target = tmp_path / "restored" / "mirror.db"  # restore: beside the target database, nothing in /tmp
    brestore.restore(path, target, req({"MIRROR_PASSPHRASE": PW}))
    assert unpacked["path"].parent.parent == target.parent and unpacked["tmp"] == []
    assert os.listdir(places["tmp"]) == [] and MARKER not in target.read_bytes()
    assert target.stat().st_mode & 0o777 == 0o600


def _killed_in_private_work(local: Path, monkeypatch_ram: Path) -> Path:
    """Fork a process that writes plaintext in a working folder and is SIGKILLed there; the folder."""
    import signal

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            with workspace.private_work(1000, local) as work:
                (work / "export.json").write_bytes(MARKER)
                os.write(w, str(work).encode())
                os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    os.close(w)
    where = Path(os.read(r, 4096).decode())
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    return where


@pytest.mark.parametrize("ram", [True, False], ids=["ram", "no-ram"])
def test_the_next_run_removes_the_working_folder_of_a_killed_one(secret, tmp_path, places, monkeypatch, ram):
    if not ram:
        monkeypatch.setattr(workspace, "RAM_DIR", tmp_path / "no-such-shm")
    live = secret.path.parent
    left = _killed_in_private_work(live, places["ram"])
    assert left.parent == (places["ram"] if ram else live) and _holding(left)
    # a folder still in use (its lock held, as by a running backup's exporters) is left alone
    with workspace.private_work(1000, live) as busy:
        bcreate.create(secret, tmp_path / "b")  # and a backup cleans up what the killed run left
        assert busy.exists() and not left.exists()
    left = _killed_in_private_work(live, places["ram"])
    brestore.verify(make(secret, tmp_path), req({"MIRROR_PASSPHRASE": PW}), local=live)
    assert not left.exists()
    left = _killed_in_private_work(live, places["ram"])
    brestore.restore(make(secret, tmp_path), tmp_path / "r" / "mirror.db", req({"MIRROR_PASSPHRASE": PW}))
    assert not left.exists()  # (restore works beside its target, and cleans both places)
    assert _holding(places["ram"]) == [] and _holding(live) == []


def test_stale_work_needs_a_dead_process_and_a_free_lock(tmp_path):
    import fcntl
    import subprocess

    tmp_path = tmp_path / "parent"
    tmp_path.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid now names no process
    w = workspace.WORK_PREFIX
    names = {"dead": f"{w}{dead.pid}-a.tmp", "alive": f"{w}{os.getppid()}-b.tmp", "mine": f"{w}{os.getpid()}-c.tmp",
             "locked": f"{w}{dead.pid}-d.tmp", "other": f".other-{dead.pid}-e.tmp"}
    for n in names.values():
        (tmp_path / n).mkdir()
        (tmp_path / n / "f").write_bytes(MARKER)
    fd = os.open(tmp_path / names["locked"], os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        workspace._remove_stale_work(tmp_path)
    finally:
        os.close(fd)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(v for k, v in names.items() if k != "dead")
    workspace._remove_stale_work(tmp_path)  # the lock is free now
    assert not (tmp_path / names["locked"]).exists() and (tmp_path / names["alive"]).exists()
