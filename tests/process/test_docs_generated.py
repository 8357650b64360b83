"""The generated completions, man page and CLI reference match the app (checked by running the generator and bash)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import ROOT

pytestmark = pytest.mark.process


def test_generated_docs_are_up_to_date():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr



def test_bash_completion_is_valid_and_completes_subcommands(tmp_path):
    script = ROOT / "completions" / "mirror.bash"
    probe = (f'source "{script}"; COMP_WORDS=(mirror migrate d); COMP_CWORD=2; _mirror; '
             'echo "${COMPREPLY[@]}"')
    result = subprocess.run(["bash", "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["down"]
