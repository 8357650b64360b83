#!/usr/bin/env python3
"""`mirror sync` on a folder, S3 and PostgreSQL remote, whole processes, against the goals of SYNC.md.

    python benchmarks/sync.py [--mirror PATH] [--sizes 10000,100000] [--runs 3] [--quick]
        [--remotes folder,s3,postgres] [--workdir DIR] [--keep] [--no-lock]

--remotes picks the remotes (default: folder): `s3` is a moto_server this script starts on
127.0.0.1 (stopped by its PID at the end), used through boto3, `postgres` a throwaway PostgreSQL
cluster started as tests/pg_helpers.py starts one (fsync off), one table per run. Each run gets a
fresh location (folder, bucket prefix or table). See benchmarks/_servers.py.

PATH is an installed `mirror` (default: the one beside this Python). For each size, one
synthetic export of reflections of ~500 characters (400-600) is written and imported into a
template journal once (a generated `mirror import` file, not one process per entry); every run
copies that journal into a fresh MIRROR_HOME and syncs it with a fresh remote, so each
first push is a real first push. Timed, as subprocesses (wall time, CPU time user+sys and peak
RSS of the command's own process, from wait4):

* first push: device A, `remote add` then `mirror sync` of the whole journal;
* first pull: device B, an empty journal, `remote add` then `mirror sync` (a new device joins);
* no-op `mirror sync` on A (both devices settled), beside `mirror list --limit 1` on the same
  journal, runs alternating;
* ten changed entries: ten `mirror edit` on A (untimed), then `mirror sync` on A (the pusher) and
  on B (the puller);
* bytes on the remote per entry after the first push (every object: bootstrap, envelope, head,
  segments).

The sync passphrase is given in MIRROR_SYNC_PASSPHRASE (random, never printed) and the keyring
is the failing backend, so every sync process pays one Argon2id derivation, as cron without a
keyring does. That derivation is timed apart (in one process of the same install, with the
envelope's parameters) and each sync row also shows its median minus the derivation: what a
device whose keyring caches the KEK pays. --keyring measures that case for real instead: each
device has a file-backed keyring (a stand-in for the OS keyring, as in crypto.py), so `remote add`
caches the KEK on device A and B's first sync caches it there; then only B's first pull derives
(its "- KDF" column is the one to read; the other rows derive nothing and their "- KDF" columns
mean nothing). Timed groups hold `flock /tmp/bench.lock` (other benchmarks on this shared machine
take it too); --no-lock skips it.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
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
from _corpus import WORDS  # noqa: E402
from _servers import open_remotes  # noqa: E402
from house import Failed, iso, ulid  # noqa: E402

LOCK = "/tmp/bench.lock"
KEYRING_MODULE = (Path(__file__).resolve().parent / "bench_keyring.py").read_text()  # a file keyring
KDF_CODE = """
import statistics, time
from mirror_cli.crypto.kdf import derive_kek
from mirror_cli.sync.keys import new_envelope_params
params = new_envelope_params()
times, cpus = [], []
for _ in range({runs}):
    t, c = time.perf_counter(), time.process_time()
    derive_kek("benchmark passphrase", params)
    times.append(time.perf_counter() - t)
    cpus.append(time.process_time() - c)
print(statistics.median(times), min(times), max(times), statistics.median(cpus))
"""


def text_of(rng: random.Random) -> str:
    """One reflection of 400-600 characters (about 500) from the corpus words."""
    target = rng.randint(400, 600)
    words = [rng.choice(WORDS).capitalize()]
    size = len(words[0])
    while size < target:
        w = rng.choice(WORDS)
        words.append(w)
        size += len(w) + 1
    return " ".join(words) + "."


def write_corpus(path: Path, n: int, seed: int = 13) -> tuple[Path, float]:
    """A mirror export of *n* reflections, written row by row (this process stays small: a child's
    peak RSS starts from its parent's); returns it and the mean content length."""
    rng = random.Random(seed)
    start = datetime(2019, 1, 1, tzinfo=timezone.utc)
    total = 0
    with path.open("w", encoding="utf-8") as out:
        out.write('{"format": "mirror-export", "version": 1, "exported_at": "%s", "counts": {"reflections": %d},'
                  ' "reflections": [' % (iso(datetime.now(timezone.utc)), n))
        for i in range(n):
            at = start + timedelta(minutes=20 * i + rng.randint(0, 15), seconds=rng.randint(0, 59))
            text = text_of(rng)
            total += len(text)
            row = {"id": ulid(at, rng), "created_at": iso(at), "updated_at": iso(at), "content": text,
                   "response": None, "mode": "REFLECTION", "local_only": False,
                   "tags": rng.sample(["work", "family", "health", "sleep", "walk"], k=rng.randint(0, 2))}
            out.write(("," if i else "") + json.dumps(row, ensure_ascii=False))
        out.write("]}")
    return path, total / max(n, 1)


@contextlib.contextmanager
def bench_lock(use: bool):
    if not use:
        yield
        return
    with open(LOCK, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Run:
    """One finished command: wall s, CPU s (user+sys), peak RSS MB, stdout."""

    def __init__(self, wall: float, cpu: float, rss: float, out: str) -> None:
        self.wall, self.cpu, self.rss, self.out = wall, cpu, rss, out


def run(argv: list[str], env: dict[str, str], secret: str) -> Run:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=env["MIRROR_HOME"], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if code != 0:
            lines = [x for x in err.read().decode(errors="replace").splitlines() if x.strip()]
            raise Failed(f"{' '.join(argv[1:3])}: exit {code}: {' | '.join(lines[-2:])[-300:].replace(secret, '***')}")
        return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read().decode())


class Bench:
    def __init__(self, exe: str, work: Path, lock: bool, keyring: bool = False) -> None:
        self.exe, self.work, self.lock, self.keyring = exe, work, lock, keyring
        self.secret = secrets.token_urlsafe(24)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MIRROR_")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(NO_COLOR="1", PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
                   PYTHONPYCACHEPREFIX=str(work / "pycache"), MIRROR_SYNC_PASSPHRASE=self.secret)
        if keyring:
            (work / "bench_keyring.py").write_text(KEYRING_MODULE)
            env.update(PYTHON_KEYRING_BACKEND="bench_keyring.FileKeyring",
                       PYTHONPATH=os.pathsep.join(filter(None, [str(work), env.get("PYTHONPATH")])))
        self.base = env
        self.remote = None  # the kind being timed (benchmarks/_servers.py)

    def env(self, home: Path) -> dict[str, str]:
        # one keyring per device (a file beside its home): B must not find the KEK A cached
        return {**self.base, **(self.remote.env if self.remote else {}), "MIRROR_HOME": str(home),
                "BENCH_KEYRING_FILE": f"{home}.keyring.json"}

    def mirror(self, home: Path, *args: str) -> Run:
        return run([self.exe, *args], self.env(home), self.secret)

    def sync(self, home: Path) -> tuple[Run, dict]:
        r = self.mirror(home, "sync", "home", "--json")
        return r, json.loads(r.out)

    def device(self, name: str, template: Path | None, remote: str, extra: list[str]) -> Path:
        """A journal (a copy of *template*, or empty) with the remote added (untimed)."""
        home = self.work / name
        shutil.rmtree(home, ignore_errors=True)
        Path(f"{home}.keyring.json").unlink(missing_ok=True)
        if template is not None:
            shutil.copytree(template, home)
        else:
            home.mkdir()
        self.mirror(home, "remote", "add", "home", remote, *extra, "--label", name)
        return home

    def kdf(self, runs: int = 5) -> tuple[float, float, float, float]:
        """Wall median, min, max and CPU median of Argon2id with a new envelope's parameters."""
        py = str(Path(self.exe).with_name("python"))
        out = subprocess.run([py, "-c", KDF_CODE.format(runs=runs)], capture_output=True, text=True, check=True,
                             cwd="/").stdout.split()
        return float(out[0]), float(out[1]), float(out[2]), float(out[3])


def med(runs: list[Run], attr: str = "wall") -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def make_template(b: Bench, n: int) -> Path:
    t = time.perf_counter()
    corpus, mean_len = write_corpus(b.work / f"corpus-{n}.json", n)
    template = b.work / f"template-{n}"
    shutil.rmtree(template, ignore_errors=True)
    template.mkdir()
    imp = b.mirror(template, "import", str(corpus))
    corpus.unlink()
    print(f"\ncorpus: {n} reflections of {mean_len:.0f} characters on average; import {imp.wall:.1f} s "
          f"(prepared in {time.perf_counter() - t:.0f} s)", flush=True)
    return template


def size_run(b: Bench, n: int, runs: int, kdf_s: tuple[float, float], template: Path) -> dict:
    push, pull, noop, lst, push10, pull10 = [], [], [], [], [], []
    remote_size = None
    loads = [os.getloadavg()[0]]
    for r in range(runs):
        remote, extra = b.remote.location(f"r{n}-{r}-{secrets.token_hex(3)}")
        a = b.device(f"a-{n}", template, remote, extra)
        dev_b = b.device(f"b-{n}", None, remote, extra)
        with bench_lock(b.lock):
            run_a, rep = b.sync(a)
            if rep["pushed"]["reflections"] != n:
                raise Failed(f"first push sent {rep['pushed']} of {n}")
            push.append(run_a)
            if remote_size is None:
                remote_size = b.remote.measure(remote)
            run_b, rep = b.sync(dev_b)
            if rep["pulled"]["reflections"] != n or rep["pushed"]["reflections"]:
                raise Failed(f"first pull took {rep['pulled']} of {n}, sent {rep['pushed']}")
            pull.append(run_b)
        for home in (a, dev_b, a):  # settle: each head acknowledges the other
            b.sync(home)
        with bench_lock(b.lock):
            for i in range(3):
                pair = [("sync", a), ("list", a)] if i % 2 == 0 else [("list", a), ("sync", a)]
                for what, home in pair:
                    if what == "sync":
                        got, rep = b.sync(home)
                        if rep["pushed"]["reflections"] or rep["pulled"]["reflections"] or rep["bytes_up"]:
                            raise Failed(f"the no-op sync did something: {rep}")
                        noop.append(got)
                    else:
                        lst.append(b.mirror(home, "list", "--limit", "1"))
        ids = [x["id"] for x in json.loads(b.mirror(a, "list", "--limit", "10", "--json").out)]
        for k, rid in enumerate(ids):
            b.mirror(a, "edit", rid, f"Edited in run {r}, entry {k}: " + text_of(random.Random(k))[:300])
        with bench_lock(b.lock):
            got, rep = b.sync(a)
            if rep["pushed"]["reflections"] != 10:
                raise Failed(f"ten changes: pushed {rep['pushed']}")
            push10.append((got, rep))
            got, rep = b.sync(dev_b)
            if rep["pulled"]["reflections"] != 10:
                raise Failed(f"ten changes: pulled {rep['pulled']}")
            pull10.append((got, rep))
        shutil.rmtree(a)
        shutil.rmtree(dev_b)
        b.remote.drop(remote)
        loads.append(os.getloadavg()[0])
    return {"n": n, "push": push, "pull": pull, "noop": noop, "list": lst, "push10": push10, "pull10": pull10,
            "remote": remote_size, "kdf": kdf_s, "keyring": b.keyring, "kind": b.remote.name, "loads": loads}


GOALS = {"push": {10000: 2.0, 100000: 15.0}, "pull": {10000: 3.0, 100000: 30.0}}
NOOP_OVER_LIST = {"folder": 0.05, "s3": 0.5, "postgres": 0.7}  # SYNC.md "Goals": no-op <= list + this


def noop_goal(kind: str) -> float:
    return NOOP_OVER_LIST[kind.split(" ")[0]]


def report(res: dict, runs: int) -> None:
    n, (kdf, kdf_cpu) = res["n"], res["kdf"]
    lst = med(res["list"])
    noop = med(res["noop"])
    p10 = [r for r, _ in res["push10"]]
    q10 = [r for r, _ in res["pull10"]]
    over = noop_goal(res["kind"])
    print(f"\n== {res['kind']}, {n} reflections: medians of {runs} run(s); wall / CPU seconds; "
          f"'- KDF': minus one Argon2id ({kdf:.3f} s wall, {kdf_cpu:.3f} s CPU); "
          f"load {min(res['loads']):.1f}-{max(res['loads']):.1f}")
    if res.get("keyring"):
        print("--keyring: the KEK is cached in each device's keyring; only the first pull derives it "
              "(its '- KDF' columns); no other row runs Argon2id")
    print(f"{'what':34} {'wall s':>8} {'CPU s':>8} {'wall-KDF':>9} {'CPU-KDF':>8} {'RSS MB':>7}   goal")
    rows = [
        ("first push (device A)", res["push"], f"<= {GOALS['push'].get(n, '?')} s"),
        ("first pull (device B joins)", res["pull"], f"<= {GOALS['pull'].get(n, '?')} s, RSS <= 300 MB at 100k"),
        ("no-op sync", res["noop"], f"<= list + {over} s = {lst + over:.3f} s"),
        ("list --limit 1 (reference)", res["list"], ""),
        ("ten changed: sync on pusher A", p10, f"<= no-op + 0.1 s = {noop + 0.1:.3f} s"),
        ("ten changed: sync on puller B", q10, f"<= no-op + 0.1 s = {noop + 0.1:.3f} s"),
    ]
    for label, rs, goal in rows:
        ref = label.startswith("list") or (res.get("keyring") and not label.startswith("first pull"))
        wk = "" if ref else f"{med(rs) - kdf:.3f}"
        ck = "" if ref else f"{med(rs, 'cpu') - kdf_cpu:.3f}"
        print(f"{label:34} {med(rs):8.3f} {med(rs, 'cpu'):8.3f} {wk:>9} {ck:>8} {max(r.rss for r in rs):7.0f}   {goal}")
    lcpu, ncpu = med(res["list"], "cpu"), med(res["noop"], "cpu")
    if res.get("keyring"):
        print(f"no-op vs list (no KDF: KEK in the keyring): wall {noop / lst:.2f}x, {noop - lst:+.3f} s; "
              f"CPU {ncpu / lcpu:.2f}x, {ncpu - lcpu:+.3f} s")
    else:
        print(f"no-op vs list: wall {noop / lst:.2f}x, {noop - lst:+.3f} s ({noop - kdf - lst:+.3f} s without the KDF); "
              f"CPU {ncpu / lcpu:.2f}x, {ncpu - lcpu:+.3f} s ({ncpu - kdf_cpu - lcpu:+.3f} s without the KDF)")
    total, count, per = res["remote"]
    print(f"remote after the first push: {total / 1e6:.2f} MB in {count} objects {per}; "
          f"{total / n:.0f} bytes per entry (goal ~300)")
    up = statistics.median(rep["bytes_up"] for _, rep in res["push10"])
    down = statistics.median(rep["bytes_down"] for _, rep in res["pull10"])
    print(f"ten changed entries: pusher uploaded {up:.0f} bytes, puller downloaded {down:.0f} bytes", flush=True)


def side_by_side(results: list[dict]) -> None:
    """One size, every remote: medians, wall / CPU s, and the ratios the goals are stated in."""
    n, (kdf, kdf_cpu) = results[0]["n"], results[0]["kdf"]
    cols = [r["kind"] for r in results]
    print(f"\n== side by side, {n} reflections (wall / CPU s; KDF {kdf:.3f} / {kdf_cpu:.3f} s in every sync)")
    print(f"{'':30}" + "".join(f"{c:>20}" for c in cols))

    def line(label: str, cell) -> None:
        print(f"{label:30}" + "".join(f"{cell(r):>20}" for r in results))

    def wc(rs: list) -> str:
        return f"{med(rs):.3f} / {med(rs, 'cpu'):.3f}"

    line("load average", lambda r: f"{min(r['loads']):.1f}-{max(r['loads']):.1f}")
    line("first push (A)", lambda r: wc(r["push"]))
    line("first pull (B joins)", lambda r: wc(r["pull"]))
    first = results[0]["kind"].split(" ")[0]
    line(f"  push / {first}'s push", lambda r: f"{med(r['push']) / med(results[0]['push']):.2f}x")
    line(f"  pull / {first}'s pull", lambda r: f"{med(r['pull']) / med(results[0]['pull']):.2f}x")
    line("no-op sync", lambda r: wc(r["noop"]))
    line("list --limit 1 (reference)", lambda r: wc(r["list"]))
    line("no-op - list", lambda r: f"{med(r['noop']) - med(r['list']):+.3f} / "
                                   f"{med(r['noop'], 'cpu') - med(r['list'], 'cpu'):+.3f}")
    line("  same, without the KDF", lambda r: f"{med(r['noop']) - med(r['list']) - kdf:+.3f} / "
                                              f"{med(r['noop'], 'cpu') - med(r['list'], 'cpu') - kdf_cpu:+.3f}")
    line("  no-op / list", lambda r: f"{med(r['noop']) / med(r['list']):.2f}x / "
                                     f"{med(r['noop'], 'cpu') / med(r['list'], 'cpu'):.2f}x")
    line("  goal: no-op - list <=", lambda r: f"+{noop_goal(r['kind'])} s")
    line("ten changed: sync on A", lambda r: wc([x for x, _ in r["push10"]]))
    line("ten changed: sync on B", lambda r: wc([x for x, _ in r["pull10"]]))
    line("  A - no-op (goal +0.1)", lambda r: f"{med([x for x, _ in r['push10']]) - med(r['noop']):+.3f} / "
                                              f"{med([x for x, _ in r['push10']], 'cpu') - med(r['noop'], 'cpu'):+.3f}")
    line("peak RSS MB push / pull", lambda r: f"{max(x.rss for x in r['push']):.0f} / "
                                              f"{max(x.rss for x in r['pull']):.0f}")
    line("bytes per entry on remote", lambda r: f"{r['remote'][0] / n:.0f}")
    line("objects on remote", lambda r: f"{r['remote'][1]}")
    print(f"Goals: push <= {GOALS['push'].get(n, '?')} s, pull <= {GOALS['pull'].get(n, '?')} s wall; "
          "~300 bytes per entry", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", default=str(Path(sys.executable).with_name("mirror")), help="an installed mirror")
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smoke test: --sizes 2000 --runs 1")
    ap.add_argument("--remotes", default="folder", help="comma-separated: folder, s3, postgres")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--no-lock", action="store_true", help=f"do not take {LOCK} around timed runs")
    ap.add_argument("--keyring", action="store_true",
                    help="a file-backed keyring per device caches the KEK (no Argon2id after the first use)")
    args = ap.parse_args()
    sizes = [2000] if args.quick else [int(x) for x in args.sizes.split(",")]
    runs = 1 if args.quick else args.runs
    if not os.access(args.mirror, os.X_OK):
        raise SystemExit(f"not an executable: {args.mirror}")
    work = Path(tempfile.mkdtemp(prefix="mirror-sync-bench-", dir=args.workdir))
    b = Bench(args.mirror, work, not args.no_lock, args.keyring)
    version = subprocess.run([args.mirror, "--version"], capture_output=True, text=True, cwd="/").stdout.strip()
    remotes = open_remotes([k.strip() for k in args.remotes.split(",") if k.strip()], work)
    print(f"mirror: {args.mirror} ({version}); remotes {', '.join(r.name for r in remotes)}; work folder {work}; "
          f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs; "
          + ("KEK cached in a file-backed keyring per device" if args.keyring else "no keyring: every sync derives"))
    try:
        warm = b.work / "warm"
        warm.mkdir()
        b.mirror(warm, "--version")  # fill the bytecode cache, untimed
        with bench_lock(b.lock):
            kdf, lo, hi, kdf_cpu = b.kdf()
        print(f"Argon2id (128 MiB, t=4, p=4) of the remote's envelope: median {kdf:.3f} s wall (min {lo:.3f}, "
              f"max {hi:.3f}), {kdf_cpu:.3f} s CPU; paid once per sync process when no keyring caches the KEK")
        for n in sizes:
            template = make_template(b, n)
            results = []
            for remote in remotes:
                b.remote = remote
                results.append(size_run(b, n, runs, (kdf, kdf_cpu), template))
                report(results[-1], runs)
            shutil.rmtree(template)
            if len(results) > 1:
                side_by_side(results)
    except Failed as e:
        raise SystemExit(f"FAILED: {e}") from None
    finally:
        for remote in remotes:
            remote.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
