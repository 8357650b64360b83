#!/usr/bin/env python3
"""Two installs of mirror side by side, every everyday command, as ratios after / before.

    python benchmarks/house.py --before /work/venv-base/bin/mirror --after /work/venv-main/bin/mirror \\
        [--sizes 10000,100000] [--runs 3] [--modes plain,encrypted] [--quick] [--workdir DIR] [--keep]

Each install is a venv's `mirror` executable, run as a subprocess with its own MIRROR_HOME.
For every size, one synthetic JSON export (`_corpus.reflection_texts`, 50-300 words each) is
written once and imported by both installs, so both time the same journal. Encrypted mode:
`mirror key enable` on the empty journal before the import, a random passphrase given in
MIRROR_PASSPHRASE (never printed), and a keyring backend that fails
(PYTHON_KEYRING_BACKEND=keyring.backends.fail.Keyring), so no keyring is touched and every
command pays one Argon2id derivation, as cron does.

Every command's runs alternate between the two installs (before, after, then after, before, ...)
so both see the same machine load; cells are medians of wall time, and peak RSS is the largest
`ru_maxrss` of the command's own process (from wait4; helper processes are not counted). A
command that fails on one install shows FAILED in its cell, with the tail of its stderr below the
table; the commands that need its output (a backup, a manifest) then show n/a.
Bytecode is cached in a temporary PYTHONPYCACHEPREFIX, warmed by one untimed pass over a
200-reflection journal, so neither side pays compilation in the timed runs.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import reflection_texts  # noqa: E402

SEARCH_WORD = "mountain"  # one of _corpus.WORDS: in about three reflections of four
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class Failed(Exception):
    """An operation could not run or failed; the message goes in the table's footnotes."""


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def ulid(at: datetime, rng: random.Random) -> str:
    n = (int(at.timestamp() * 1000) << 80) | rng.getrandbits(80)
    return "".join(CROCKFORD[(n >> (5 * i)) & 31] for i in reversed(range(26)))


def write_corpus(path: Path, n: int, seed: int = 7) -> Path:
    """A mirror export (CONTRACT's json format) of *n* reflections, one every ~20 minutes from 2018."""
    rng = random.Random(seed)
    start = datetime(2018, 1, 1, tzinfo=timezone.utc)
    rows = []
    for i, text in enumerate(reflection_texts(n, seed)):
        at = start + timedelta(minutes=20 * i + rng.randint(0, 15), seconds=rng.randint(0, 59))
        rows.append({"id": ulid(at, rng), "created_at": iso(at), "updated_at": iso(at), "content": text,
                     "response": None, "mode": "REFLECTION", "local_only": False,
                     "tags": rng.sample(["work", "family", "health", "sleep", "walk"], k=rng.randint(0, 2))})
    doc = {"format": "mirror-export", "version": 1, "exported_at": iso(datetime.now(timezone.utc)),
           "counts": {"reflections": n}, "reflections": rows}
    path.write_text(json.dumps(doc, ensure_ascii=False))
    return path


def write_corpus_apart(path: Path, n: int) -> Path:
    """write_corpus in a fresh interpreter: this one stays small, and a child's ru_maxrss starts
    from its parent's RSS at fork, so a large parent would raise every command's figure."""
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        return pool.submit(write_corpus, path, n).result()


def run(argv: list[str], env: dict[str, str], secret: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one command; Failed with its stderr's tail if it exits non-zero.

    Run in its MIRROR_HOME, so that no checkout in the caller's folder can shadow the install."""
    with tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        try:
            proc = subprocess.Popen(argv, env=env, cwd=env["MIRROR_HOME"], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err)
        except OSError as e:
            raise Failed(str(e)) from None
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            lines = [x for x in err.read().decode(errors="replace").splitlines() if x.strip()]
            tail = " | ".join(lines[-2:])[-300:]
            tail = tail.replace(secret, "***") if secret else tail
            raise Failed(f"exit {code}: {tail or '(no stderr)'}")
    return wall, usage.ru_maxrss / 1024


class Side:
    """One install in one mode: its executable, environment, journal and the files its commands made."""

    def __init__(self, label: str, exe: str, work: Path, corpus: Path, passphrase: str | None, pycache: Path):
        self.label, self.exe, self.work, self.corpus = label, exe, work, corpus
        self.secret = passphrase or ""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MIRROR_")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(NO_COLOR="1", PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
                   PYTHONPYCACHEPREFIX=str(pycache))
        if passphrase:
            env["MIRROR_PASSPHRASE"] = passphrase
        self.base_env = env
        self.home: Path | None = None
        self.backup: Path | None = None
        self.manifest: Path | None = None
        work.mkdir(parents=True, exist_ok=True)
        self.backup_mkdir = "--mkdir" in self.help("backup", "create")
        self.shard_mkdir = "--mkdir" in self.help("shard", "create")
        self.full = "--full" in self.help("patterns", "analyze")

    def help(self, *cmd: str) -> str:
        env = {**self.base_env, "MIRROR_HOME": str(self.work)}
        out = subprocess.run([self.exe, *cmd, "--help"], env=env, capture_output=True, text=True, cwd=self.work)
        return out.stdout

    def env(self, home: Path | None = None) -> dict[str, str]:
        home = home or self.home
        if home is None:
            raise Failed("n/a: no journal (import failed)")
        return {**self.base_env, "MIRROR_HOME": str(home)}

    def new_home(self, name: str) -> Path:
        home = self.work / name
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir()
        if self.secret:  # encrypted mode: an empty encrypted journal, the import then seals every row
            try:
                run([self.exe, "key", "enable"], self.env(home), self.secret)
            except Failed as e:
                raise Failed(f"key enable: {e}") from None
        return home


# Each operation: (side, run index) -> (argv, env, hook run after a success or None).
def op_import(s: Side, r: int):
    home = s.new_home(f"import-{r}")

    def keep() -> None:  # the first imported journal is the one every other command works on
        if s.home is None:
            s.home = home
        else:
            shutil.rmtree(home)
    return [s.exe, "import", str(s.corpus)], s.env(home), keep


def op_export(s: Side, r: int):
    out = s.work / f"export-{r}.json"
    return [s.exe, "export", "--format", "json", "-o", str(out)], s.env(), lambda: out.unlink()


def op_backup_create(s: Side, r: int):
    d = s.work / f"backups-{r}"
    argv = [s.exe, "backup", "create", "-o", str(d)]
    if s.backup_mkdir:
        argv.append("--mkdir")
    else:
        d.mkdir()

    def found() -> None:
        s.backup = max(d.glob("*.backup"))
    return argv, s.env(), found


def need(path: Path | None, what: str) -> str:
    if path is None:
        raise Failed(f"n/a: no {what} (an earlier command failed)")
    return str(path)


def op_shard_create(s: Side, r: int):
    dirs = [s.work / f"shards-{r}" / f"d{i}" for i in (1, 2, 3)]
    argv = [s.exe, "shard", "create", need(s.backup, "backup"), "--level", "personal"]
    for d in dirs:
        argv += ["--to", str(d)]
        if not s.shard_mkdir:
            d.mkdir(parents=True)
    if s.shard_mkdir:
        argv.append("--mkdir")

    def found() -> None:
        s.manifest = next(dirs[0].glob("*.manifest.json"))
    return argv, s.env(), found


def op_shard_restore(s: Side, r: int):
    out = s.work / f"restored-{r}"
    return ([s.exe, "shard", "restore", need(s.manifest, "manifest"), "-o", str(out)], s.env(),
            lambda: out.unlink())


def simple(*args: str):
    return lambda s, r: ([s.exe, *args], s.env(), None)


def op_patterns(s: Side, r: int):
    return [s.exe, "patterns", "analyze", *(["--full"] if s.full else [])], s.env(), None


OPS = [  # import first: it makes the journal the others use
    ("import (fresh home)", op_import),
    ("--version", simple("--version")),
    ('reflect "text"', simple("reflect", "Walked to the river before work, then a long meeting.")),
    ("list --limit 20", simple("list", "--limit", "20")),
    ("list --json (all)", simple("list", "--json")),
    (f"search {SEARCH_WORD}", simple("search", SEARCH_WORD)),
    ("export --format json -o F", op_export),
    ("backup create -o DIR", op_backup_create),
    ("backup verify FILE", lambda s, r: ([s.exe, "backup", "verify", need(s.backup, "backup")], s.env(), None)),
    ("shard create personal, 3 dirs", op_shard_create),
    ("shard restore MANIFEST -o F", op_shard_restore),
    ("patterns analyze --full", op_patterns),
]


def bench(sides: list[Side], runs: int):
    """Per (op, side): list of (wall, rss) or an error. Runs alternate sides, order swapped each run."""
    res: dict[tuple[str, str], list[tuple[float, float]]] = {}
    errors: dict[tuple[str, str], str] = {}
    for label, op in OPS:
        for r in range(runs):
            for s in sides if r % 2 == 0 else sides[::-1]:
                key = (label, s.label)
                if key in errors:
                    continue
                try:
                    argv, env, after = op(s, r)
                    res.setdefault(key, []).append(run(argv, env, s.secret))
                    if after:
                        after()
                except (Failed, OSError, StopIteration, ValueError) as e:
                    errors[key] = str(e) or type(e).__name__
    return res, errors


def table(title: str, res, errors) -> None:
    print(f"\n{title}")
    print(f"{'command':32} {'before s':>10} {'after s':>10} {'after/before':>13} {'RSS MB b/a':>13}")
    notes: list[str] = []
    for label, _ in OPS:
        cells, meds, rss = [], [], []
        for side in ("before", "after"):
            if (label, side) in errors:
                msg = errors[(label, side)]
                short = "n/a" if msg.startswith("n/a") else "FAILED"
                notes.append(f"  [{len(notes) + 1}] {side}, {label}: {msg}")
                cells.append(f"{short}[{len(notes)}]")
                meds.append(None)
                rss.append("-")
            else:
                walls = [w for w, _ in res[(label, side)]]
                meds.append(statistics.median(walls))
                cells.append(f"{meds[-1]:.3f}")
                rss.append(f"{max(m for _, m in res[(label, side)]):.0f}")
        ratio = f"{meds[1] / meds[0]:.2f}x" if None not in meds and meds[0] > 0 else "-"
        print(f"{label:32} {cells[0]:>10} {cells[1]:>10} {ratio:>13} {'/'.join(rss):>13}")
    for note in notes:
        print(note)


def describe(exe: str) -> str:
    py = Path(exe).with_name("python")
    code = "import mirror_cli, os; print(os.path.dirname(mirror_cli.__file__))"
    where = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd="/").stdout.strip()
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, cwd="/").stdout.strip()
    git = ""
    if where and (Path(where).parent / ".git").exists():  # an editable install: which commit, edited or not
        head = subprocess.run(["git", "-C", where, "log", "-1", "--format=%h"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", where, "status", "--porcelain", "."], capture_output=True, text=True)
        git = f", commit {head.stdout.strip()}{' + uncommitted changes' if dirty.stdout.strip() else ''}"
    return f"{exe} ({version or '?'}, code in {where or '?'}{git})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="path to the baseline install's `mirror`")
    ap.add_argument("--after", required=True, help="path to the install under test's `mirror`")
    ap.add_argument("--sizes", default="10000,100000", help="comma list of journal sizes")
    ap.add_argument("--modes", default="plain,encrypted", help="plain, encrypted or both")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smoke test: --sizes 2000 --runs 1")
    ap.add_argument("--workdir", default=None, help="where temporary journals go (default: system temp)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    sizes = [2000] if args.quick else [int(x) for x in args.sizes.split(",")]
    runs = 1 if args.quick else args.runs
    modes = [m.strip() for m in args.modes.split(",")]
    for exe in (args.before, args.after):
        if not os.access(exe, os.X_OK):
            raise SystemExit(f"not an executable: {exe}")

    work = Path(tempfile.mkdtemp(prefix="mirror-house-", dir=args.workdir))
    pycache = work / "pycache"
    passphrase = secrets.token_urlsafe(24)  # strong and random; never printed
    print(f"before: {describe(args.before)}\nafter:  {describe(args.after)}")
    print(f"work folder {work}; load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")

    def pair(tag: str, mode: str, corpus: Path) -> list[Side]:
        secret = passphrase if mode == "encrypted" else None
        return [Side(name, exe, work / f"{tag}-{mode}-{name}", corpus, secret, pycache)
                for name, exe in (("before", args.before), ("after", args.after))]
    try:
        warm = write_corpus_apart(work / "corpus-warmup.json", 200)
        for mode in modes:  # compile every module either side imports into the pycache, untimed
            bench(pair("warmup", mode, warm), 1)
        for n in sizes:
            t = time.perf_counter()
            corpus = write_corpus_apart(work / f"corpus-{n}.json", n)
            print(f"\ncorpus: {n} reflections, {corpus.stat().st_size / 1e6:.1f} MB of JSON "
                  f"(written in {time.perf_counter() - t:.1f} s)")
            for mode in modes:
                sides = pair(str(n), mode, corpus)
                t = time.perf_counter()
                res, errors = bench(sides, runs)
                table(f"== {n} reflections, {mode}: medians of {runs} run(s), wall seconds "
                      f"(took {time.perf_counter() - t:.0f} s, load now {os.getloadavg()[0]:.2f})", res, errors)
                for s in sides:
                    shutil.rmtree(s.work, ignore_errors=True)
            corpus.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
