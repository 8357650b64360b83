"""The man page names what the contract promises (the generated files are checked in tests/process/test_docs_generated.py)."""

from __future__ import annotations

from helpers import ROOT


def test_man_page_names_every_exit_code():
    text = (ROOT / "man" / "mirror.1").read_text()
    for code in range(6):
        assert f"\\fB{code}\\fR" in text
    assert ".SH ENVIRONMENT" in text and "MIRROR_PASSPHRASE_FILE" in text
