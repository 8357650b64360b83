#!/usr/bin/env python3
"""Backups: mirror vs restic vs sqlite3's .backup on the same ~200 MB journal, side by side in one run.

    python benchmarks/backup.py [--n 100000] [--runs 3] [--dir /tmp/mirror-bench-backup]

Builds N reflections (benchmarks/_corpus.py; 100 000 give ~210 MB), copies the
file and runs ``key enable`` on the copy (real Argon2id parameters). For each
database (plain, encrypted), every run times, as subprocesses, one after the
other:

* create:  ``mirror backup create -o DIR`` | ``restic backup FILE`` into a fresh repository
  (``restic init`` before it, not timed), so the backup is a full one | ``sqlite3 FILE ".backup COPY"``
* verify:  ``mirror backup verify FILE`` | ``restic check --read-data`` | ``PRAGMA integrity_check`` on COPY
* restore: ``mirror backup restore --yes FILE`` into an empty home | ``restic restore latest --target DIR``
  | ``sqlite3 COPY ".backup RESTORED"``
* size:    the backup file | the restic repository (``du``) | the copy

The encrypted database is given MIRROR_PASSPHRASE (one Argon2id derivation per
command, the cron case); restic gets RESTIC_PASSWORD (its own scrypt KDF per
command). Medians of --runs; ratio = mirror / other. restic and sqlite3 must be on
PATH (``apt-get install restic sqlite3``).

Aims (issue 5): create (encrypted) no slower than restic's backup of the same file,
verify faster than ``restic check --read-data``, size no larger than restic's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _corpus import build_db  # noqa: E402

PW = "benchmark passphrase"


def run(argv: list[str], env: dict[str, str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, **kw)
    took = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr}")
    return took, proc


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def encrypted_copy(plain: Path, out: Path) -> Path:
    if out.exists():
        return out
    shutil.copyfile(plain, out)
    env = {**os.environ, "MIRROR_DB": str(out), "MIRROR_NEW_PASSPHRASE": PW,
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    subprocess.run([sys.executable, "-m", "mirror_cli", "key", "enable"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return out


def one_run(db: Path, work: Path, encrypted: bool) -> dict[str, dict[str, float]]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    live = work / "live.db"
    shutil.copyfile(db, live)
    mirror = [sys.executable, "-m", "mirror_cli"]
    base = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "NO_COLOR": "1"}
    base.pop("MIRROR_HOME", None)
    if encrypted:
        base["MIRROR_PASSPHRASE"] = PW
    m_env = {**base, "MIRROR_DB": str(live)}
    r_env = {**base, "RESTIC_PASSWORD": PW, "RESTIC_CACHE_DIR": str(work / "restic-cache")}
    out: dict[str, dict[str, float]] = {"mirror": {}, "restic": {}, "sqlite3": {}}

    # drop the page cache's advantage for nobody: read the file once before each tool
    def warm() -> None:
        with open(live, "rb") as fh:
            while fh.read(1 << 24):
                pass

    warm()
    t, proc = run(mirror + ["backup", "create", "--json", "-o", str(work / "mirror")], m_env)
    made = json.loads(proc.stdout)
    out["mirror"]["create"], out["mirror"]["size"] = t, made["bytes"]
    warm()
    repo = work / "restic-repo"
    run(["restic", "init", "-q", "-r", str(repo)], r_env)  # not timed: a repository is made once
    t, _ = run(["restic", "backup", "-q", "-r", str(repo), str(live)], r_env)
    out["restic"]["create"], out["restic"]["size"] = t, du(repo)
    warm()
    copy = work / "copy.db"
    t, _ = run(["sqlite3", str(live), f".backup '{copy}'"], base)
    out["sqlite3"]["create"], out["sqlite3"]["size"] = t, copy.stat().st_size

    t, _ = run(mirror + ["backup", "verify", made["path"]], m_env)
    out["mirror"]["verify"] = t
    t, _ = run(["restic", "check", "-q", "--read-data", "-r", str(repo)], r_env)
    out["restic"]["verify"] = t
    t, proc = run(["sqlite3", str(copy), "PRAGMA integrity_check"], base)
    assert proc.stdout.strip() == "ok"
    out["sqlite3"]["verify"] = t

    fresh = work / "fresh-home"
    t, _ = run(mirror + ["backup", "restore", "--yes", made["path"]],
               {k: v for k, v in {**base, "MIRROR_HOME": str(fresh)}.items() if k != "MIRROR_DB"})
    out["mirror"]["restore"] = t
    t, _ = run(["restic", "restore", "-q", "latest", "-r", str(repo), "--target", str(work / "restic-out")], r_env)
    out["restic"]["restore"] = t
    t, _ = run(["sqlite3", str(copy), f".backup '{work / 'restored.db'}'"], base)
    out["sqlite3"]["restore"] = t
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/mirror-bench-backup"))
    ap.add_argument("--only", choices=("plain", "encrypted"), default=None)
    args = ap.parse_args()
    for tool in ("restic", "sqlite3"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not on PATH (apt-get install {tool}).")
    args.dir.mkdir(parents=True, exist_ok=True)
    plain = build_db(args.dir / f"plain-{args.n}.db", args.n)
    enc = encrypted_copy(plain, args.dir / f"encrypted-{args.n}.db")
    restic_v = subprocess.run(["restic", "version"], capture_output=True, text=True).stdout.split()[1]
    sqlite_v = subprocess.run(["sqlite3", "--version"], capture_output=True, text=True).stdout.split()[0]
    import zstandard

    print(f"mirror backup vs restic {restic_v} vs sqlite3 {sqlite_v} .backup; {args.n} reflections; "
          f"zstandard {zstandard.__version__}; medians of {args.runs} runs (subprocesses, wall time)")
    variants = [("plain", plain, False), ("encrypted", enc, True)]
    for name, db, is_enc in variants:
        if args.only and name != args.only:
            continue
        runs = [one_run(db, args.dir / "work", is_enc) for _ in range(args.runs)]
        med = {tool: {k: statistics.median(r[tool][k] for r in runs) for k in runs[0][tool]} for tool in runs[0]}
        print(f"\n{name} database ({db.stat().st_size / 1e6:.0f} MB)"
              + (" — mirror backup encrypted, MIRROR_PASSPHRASE / RESTIC_PASSWORD" if is_enc else
                 " — mirror backup unencrypted (restic always encrypts)"))
        print(f"{'':8} | {'mirror':>9} {'restic':>9} {'sqlite3':>9} | {'vs restic':>9} {'vs sqlite3':>10}")
        print("-" * 64)
        for k in ("create", "verify", "restore"):
            m, r, s = med["mirror"][k], med["restic"][k], med["sqlite3"][k]
            print(f"{k:8} | {m:8.2f}s {r:8.2f}s {s:8.2f}s | {m / r:8.2f}x {m / s:9.2f}x")
        m, r, s = med["mirror"]["size"], med["restic"]["size"], med["sqlite3"]["size"]
        print(f"{'size':8} | {m / 1e6:7.1f}MB {r / 1e6:7.1f}MB {s / 1e6:7.1f}MB | {m / r:8.2f}x {m / s:9.2f}x")
    shutil.rmtree(args.dir / "work", ignore_errors=True)


if __name__ == "__main__":
    main()
