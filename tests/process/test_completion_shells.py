"""The generated bash completion completes values, not options, where a value goes (issue 15, item 12)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

pytestmark = pytest.mark.process

SCRIPT = ROOT / "completions" / "mirror.bash"


def _complete(*words: str, cwd: Path | None = None) -> list[str]:
    """COMPREPLY for `mirror WORDS...` with the cursor on the last word."""
    quoted = " ".join(f"'{w}'" for w in ("mirror", *words))
    probe = f'source "{SCRIPT}"; COMP_WORDS=({quoted}); COMP_CWORD={len(words)}; _mirror; printf "%s\\n" "${{COMPREPLY[@]}}"'
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    result = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    assert result.returncode == 0, result.stderr
    return [w for w in result.stdout.splitlines() if w]


@pytest.fixture(autouse=True)
def _bash():
    if not shutil.which("bash"):
        pytest.skip("bash is not installed")
    if not (Path(sys.executable).parent / "mirror").exists():
        pytest.skip("the mirror entry point is not installed beside this python")


def test_enum_options_complete_their_values():
    assert _complete("export", "--format", "") == ["json", "jsonl", "markdown", "csv", "jrnl"]
    assert _complete("import", "-f", "j") == ["json", "jsonl", "jrnl"]
    assert _complete("patterns", "evolution", "--by", "") == ["week", "month"]
    assert _complete("sync", "--conflict", "") == ["local-wins", "newest-wins"]
    assert _complete("shard", "create", "--level", "p") == ["personal", "paranoid"]
    assert _complete("export", "--only", "") == ["reflections", "patterns", "tensions", "audit"]
    assert _complete("delete", "--all", "--remote", "") == ["wipe", "keep"]


def test_no_option_where_a_value_goes():
    assert not [w for w in _complete("list", "--since", "") if w.startswith("-")]
    assert not [w for w in _complete("delete", "") if w.startswith("-")]


def test_files_for_file_arguments(tmp_path):
    (tmp_path / "journal.txt").write_text("x")
    assert _complete("import", "jour", cwd=tmp_path) == ["journal.txt"]
    assert _complete("export", "-o", "jo", cwd=tmp_path) == ["journal.txt"]


def test_ids_tags_and_modes_from_the_journal(run_mirror):
    assert run_mirror("reflect", "walk by the river", "--tag", "walks", "--mode", "POST_ACTION").returncode == 0
    [rid] = run_mirror("completion", "--values", "ids").stdout.split()
    assert _complete("delete", "") == [rid]
    assert _complete("edit", rid[:3]) == [rid]
    assert _complete("list", "--tag", "") == ["walks"]
    assert _complete("list", "--mode", "P") == ["POST_ACTION"]
    assert _complete("--db", "/nonexistent/x.db", "show", "") == []
