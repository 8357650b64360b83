"""The man page names what the contract promises (the generated files are checked in tests/process/test_docs_generated.py)."""

from __future__ import annotations

from helpers import ROOT


def test_man_page_names_every_exit_code():
    text = (ROOT / "man" / "mirror.1").read_text()
    for code in range(6):
        assert f"\\fB{code}\\fR" in text
    assert ".SH ENVIRONMENT" in text and "MIRROR_PASSPHRASE_FILE" in text


def test_man_page_has_examples_and_describes_its_arguments():
    text = (ROOT / "man" / "mirror.1").read_text()
    assert ".SH EXAMPLES" in text and "mirror completion bash" in text
    arguments = text.split(".SH ARGUMENTS", 1)[1].split(".SH", 1)[0]
    for name in ("\\fIID\\fR", "\\fIFILE, PATH\\fR", "\\fITEXT\\fR"):
        assert name in arguments
