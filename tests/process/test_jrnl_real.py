"""A journal written by jrnl 4.x itself goes into mirror and back into jrnl (issue 15, item 6).

Needs jrnl: `MIRROR_TEST_JRNL` names its executable, else `jrnl` on PATH, else the test installs jrnl 4.x
into a venv of its own once per run (about a minute; the package registry must be reachable). It never
skips. tests/cli/test_jrnl_text.py checks the same grammar without jrnl.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

JRNL = os.environ.get("MIRROR_TEST_JRNL") or shutil.which("jrnl")


@pytest.fixture(scope="session")
def jrnl_exe():
    """jrnl's executable: the given or installed one, else jrnl 4.x installed now into its own venv."""
    if JRNL:
        return JRNL
    venv = Path(tempfile.mkdtemp(prefix="mirror-jrnl-")) / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "jrnl>=4,<5"], capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, "could not install jrnl 4.x: " + r.stderr[-2000:]
    return str(venv / "bin" / "jrnl")


@pytest.fixture
def jrnl(tmp_path, jrnl_exe):
    home = tmp_path / "jrnl-home"
    (home / "cfg" / "jrnl").mkdir(parents=True)
    journal = home / "journal.txt"
    (home / "cfg" / "jrnl" / "jrnl.yaml").write_text(
        "colors: {body: none, date: none, tags: none, title: none}\ndefault_hour: 9\ndefault_minute: 0\n"
        "editor: ''\nencrypt: false\nhighlight: false\nindent_character: '|'\n"
        f"journals:\n  default: {{journal: {journal}}}\nlinewrap: 79\ntagsymbols: '#@'\ntemplate: false\n"
        "timeformat: '%F %r'\nversion: v4.6\n", encoding="utf-8")
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / "cfg"), XDG_DATA_HOME=str(home / "data"))

    def run(*args):
        r = subprocess.run([jrnl_exe, *args], env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    run.journal = journal
    return run


def _ids(run_mirror):
    r = run_mirror("list", "--json")
    assert r.returncode == 0, r.stderr
    return {x["id"]: x for x in json.loads(r.stdout)}


def test_jrnl_journal_in_and_back_out(jrnl, run_mirror, tmp_path):
    jrnl("2024-06-03 09:15: Morning walk. Felt @calm after it.")
    jrnl("2024-06-03 21:00: Long day *")
    jrnl("2024-06-03 21:00: Same minute with @work")
    r = run_mirror("import", jrnl.journal, "--yes")
    assert r.returncode == 0, r.stderr
    first = _ids(run_mirror)
    assert len(first) == 3 and any(x["tags"] == ["starred"] for x in first.values())

    out = run_mirror("export", "--format", "jrnl", "-o", jrnl.journal)  # jrnl's own file, written by mirror
    assert out.returncode == 0, out.stderr
    text = jrnl.journal.read_text(encoding="utf-8").replace("Long day *", "Long day, better now *")
    jrnl.journal.write_text(text, encoding="utf-8")
    exported = json.loads(jrnl("--export", "json"))["entries"]
    assert [e["title"] for e in exported] == ["Morning walk.", "Long day, better now", "Same minute with @work"]
    assert [e["starred"] for e in exported] == [False, True, False]

    json_file = tmp_path / "jrnl.json"
    json_file.write_text(json.dumps({"tags": {}, "entries": exported}), encoding="utf-8")
    r = run_mirror("import", json_file, "--yes", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["added"]["reflections"] == 0
    after = _ids(run_mirror)
    assert after.keys() == first.keys()
    assert "Long day, better now" in [x["content"] for x in after.values()]
