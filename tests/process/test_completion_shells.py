"""The generated bash, zsh and fish completions complete values, not options, where a value goes (issue 15,
item 12), run in those shells."""

from __future__ import annotations

import os
import shlex
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
    other = Path(os.environ["MIRROR_HOME"]) / "other.db"
    assert run_mirror("--db", str(other), "reflect", "in another journal").returncode == 0
    [oid] = run_mirror("--db", str(other), "completion", "--values", "ids").stdout.split()
    assert _complete("--db", "=", str(other), "show", "") == [oid]  # --db=PATH, split at "=" by bash
    assert _complete(f"--db={other}", "show", "") == [oid]  # (and unsplit, without "=" in COMP_WORDBREAKS)


# -- zsh and fish: the same promises in those shells (`.ci/run` installs them where they are missing) ----

ZSH_STUBS = r"""
compdef() { : }
compadd() { local a; for a in "$@"; do [[ $a == -- ]] || print -r -- "$a"; done }
_describe() { local x; for x in "${(@P)${@[-1]}}"; do print -r -- "${x%%:*}"; done }
_files() { print -r -- '<files>' }
_message() { print -r -- '<value>' }
"""


def _shell(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed: .ci/run installs it (apt-get install {name})")
        pytest.skip(f"{name} is not installed")
    return path


def _complete_in(shell: str, *words: str) -> list[str]:
    """What `shell`'s completion offers for `mirror WORDS...` (the cursor on the last word), filtered by
    the last word as the shell would."""
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    if shell == "zsh":
        quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in ("mirror", *words))
        probe = (ZSH_STUBS + f'source "{ROOT / "completions" / "mirror.zsh"}"\n'
                 f"words=({quoted}); CURRENT={len(words) + 1}; _mirror\n")
        argv = [_shell("zsh"), "-f", "-c", probe]
    else:
        line = " ".join(("mirror", *words))
        argv = [_shell("fish"), "--no-config", "-c",
                f"source {ROOT / 'completions' / 'mirror.fish'}; complete -C {shlex.quote(line)}"]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    offered = [w.split("\t")[0] for w in result.stdout.splitlines() if w]
    return [w for w in offered if w.startswith(words[-1]) or w.startswith("<")] if words else offered


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_complete_option_values(shell):
    assert sorted(_complete_in(shell, "export", "--format", "")) == ["csv", "jrnl", "json", "jsonl", "markdown"]
    assert sorted(_complete_in(shell, "import", "-f", "j")) == ["jrnl", "json", "jsonl"]
    assert sorted(_complete_in(shell, "patterns", "evolution", "--by", "")) == ["month", "week"]
    assert sorted(_complete_in(shell, "delete", "--all", "--remote", "")) == ["keep", "wipe"]
    assert not [w for w in _complete_in(shell, "list", "--since", "") if w.startswith("-")]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_keep_each_commands_options_apart(shell):
    """`list` and `patterns list` share a word: each keeps its own options."""
    top = _complete_in(shell, "list", "--")
    assert "--not-tag" in top and "--min-confidence" not in top
    nested = _complete_in(shell, "patterns", "list", "--")
    assert "--min-confidence" in nested and "--not-tag" not in nested
    assert set(_complete_in(shell, "sh")) == {"shard", "show"}


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_offer_ids_and_tags_from_the_journal(shell, run_mirror):
    assert run_mirror("reflect", "walk by the river", "--tag", "walks").returncode == 0
    [rid] = run_mirror("completion", "--values", "ids").stdout.split()
    assert _complete_in(shell, "show", "") == [rid]
    assert _complete_in(shell, "delete", rid[:4]) == [rid]
    assert _complete_in(shell, "list", "--tag", "") == ["walks"]
    assert _complete_in(shell, "--db", "/nonexistent/x.db", "show", "") == []  # the journal named on the line
    other = Path(os.environ["MIRROR_HOME"]) / "other.db"
    assert run_mirror("--db", str(other), "reflect", "in another journal").returncode == 0
    [oid] = run_mirror("--db", str(other), "completion", "--values", "ids").stdout.split()
    assert _complete_in(shell, f"--db={other}", "show", "") == [oid]
