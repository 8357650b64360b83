#!/usr/bin/env python3
"""Generate the shell completions, the man page and the CLI reference from the Typer app.

    python scripts/gen_docs.py          # rewrite completions/, man/mirror.1, docs/cli.md
    python scripts/gen_docs.py --check  # exit 1 if a checked-in copy differs (used by the tests)

Completions are static (no Python start-up on most <Tab>s): they know every
command, subcommand and option of this version of mirror, and are the text
`mirror completion bash|zsh|fish` prints (both come from mirror_cli/cli/completion.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mirror_cli.cli.completion import Node, all_nodes, script, tree  # noqa: E402 - after the path is set


def _roff(text: str) -> str:
    out = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + l if l.startswith((".", "'")) else l) for l in out.splitlines())


ENVIRONMENT = [
    ("MIRROR_HOME", "Put config, database and backups under this folder."),
    ("MIRROR_DB", "The database file (after --db)."),
    ("MIRROR_CONFIG", "The config file (after --config)."),
    ("MIRROR_PASSPHRASE_FILE", "Read the passphrase from this file's first line (cron)."),
    ("MIRROR_PASSPHRASE", "The passphrase itself (prefer the _FILE form)."),
    ("MIRROR_NEW_PASSPHRASE_FILE, MIRROR_NEW_PASSPHRASE", "A new passphrase for key enable and key change."),
    ("MIRROR_IMPORT_PASSPHRASE_FILE, MIRROR_IMPORT_PASSPHRASE",
     "The passphrase of an encrypted export being imported, when it is not the database's."),
    ("MIRROR_DEBUG", "Set to 1 to show tracebacks."),
    ("NO_COLOR", "Turn off colour and progress bars."),
    ("VISUAL, EDITOR", "The editor for reflect and edit."),
]
ARGUMENTS = [
    ("ID", "A reflection's id, or a unique prefix of it of at least 6 characters, as `mirror list` shows it; "
           "the shell completions offer the journal's ids."),
    ("FILE, PATH", "A file name; - means standard input (import) or standard output (export -o, key export)."),
    ("TEXT", "Words of a reflection, given as arguments (quote them when they hold shell characters); "
             "without them, mirror reads standard input, else opens $VISUAL or $EDITOR."),
    ("DATE", "2024-06-03, 2024-06-03T21:00, a bare year or month (2024, 2024-06), or words: yesterday, "
             "last monday, june 3, 2 months ago."),
]
EXAMPLES = [
    ("Write a reflection, tagged and starred:", 'mirror reflect -t work -s "Shipped the release. Tired but glad."'),
    ("Read the last week:", "mirror list --since \"last week\""),
    ("Find every walk by the river:", "mirror search river walk"),
    ("Import a jrnl journal, and go back to jrnl:", "mirror import ~/.local/share/jrnl/journal.txt\n"
                                                    "mirror export --format jrnl -o journal.txt"),
    ("Encrypt the journal, then back it up:", "mirror key enable\nmirror backup create"),
    ("Install the bash completion:",
     "mirror completion bash > ~/.local/share/bash-completion/completions/mirror"),
]
EXIT = [(0, "success"), (1, "the operation failed (I/O, remote unreachable, disk full, lock timeout)"),
        (2, "usage error"), (3, "verification failed: tampering, corruption, unrecoverable data"),
        (4, "locked: no key available, or wrong passphrase"),
        (5, "invalid input data (import file, backup, manifest): rejected, nothing changed")]


def man(root: Node) -> str:
    from mirror_cli import __version__

    lines = [f'.TH MIRROR 1 "" "mirror {__version__}" "User Commands"',
             ".SH NAME", "mirror \\- a private journal you truly own",
             ".SH SYNOPSIS", ".B mirror", "[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...",
             ".SH DESCRIPTION",
             _roff("mirror keeps reflections in one SQLite file on your machine, encrypted at rest when you "
                   "choose, with open exports, backups, erasure-coded shards and a tamper-evident audit chain."),
             ".SH GLOBAL OPTIONS"]
    for names, takes, help_, _ in root.options:
        lines += [".TP", "\\fB" + _roff(", ".join(names)) + "\\fR" + (" \\fIVALUE\\fR" if takes else ""), _roff(help_)]
    lines.append(".SH ARGUMENTS")
    for name, text in ARGUMENTS:
        lines += [".TP", "\\fI" + _roff(name) + "\\fR", _roff(text)]
    lines.append(".SH COMMANDS")
    for n in all_nodes(root):
        if not n.path or n.children:
            continue
        usage = " ".join(n.path) + "".join(f" {a}" for a in n.arguments)
        lines += [".SS " + _roff("mirror " + usage), _roff(n.help)]
        for names, takes, help_, choices in n.options:
            if names == ["--help", "-h"] or names == ["-h", "--help"]:
                continue
            value = " \\fI" + ("|".join(choices) if choices else "VALUE") + "\\fR" if takes else ""
            lines += [".TP", "\\fB" + _roff(", ".join(names)) + "\\fR" + value, _roff(help_)]
    lines.append(".SH EXIT STATUS")
    for code, text in EXIT:
        lines += [".TP", f"\\fB{code}\\fR", _roff(text)]
    lines.append(".SH EXAMPLES")
    for what, command in EXAMPLES:
        lines += [".PP", _roff(what), ".PP", ".RS 4", ".nf", _roff(command), ".fi", ".RE"]
    lines.append(".SH ENVIRONMENT")
    for name, text in ENVIRONMENT:
        lines += [".TP", "\\fB" + _roff(name) + "\\fR", _roff(text)]
    lines += [".SH FILES", _roff("Run `mirror config path` to see where the config file, database and backups live."),
              ".SH SEE ALSO", "jq(1), sqlite3(1), restic(1)", ""]
    return "\n".join(lines)


def reference(root: Node) -> str:
    lines = ["# mirror command reference", "", "Generated by `scripts/gen_docs.py` from the Typer app; do not edit.", ""]
    for n in all_nodes(root):
        if not n.path:
            continue
        usage = " ".join(n.path) + "".join(f" {a}" for a in n.arguments)
        lines += [f"## `mirror {usage}`" + ("" if not n.children else " ..."), "", n.help or "", ""]
        for names, takes, help_, choices in n.options:
            value = (" " + "|".join(choices) if choices else " VALUE") if takes else ""
            lines.append(f"- `{', '.join(names)}{value}`: {help_}")
        lines.append("")
    return "\n".join(lines)


def outputs() -> dict[Path, str]:
    root = tree()
    return {ROOT / "completions/mirror.bash": script("bash", root), ROOT / "completions/mirror.zsh": script("zsh", root),
            ROOT / "completions/mirror.fish": script("fish", root), ROOT / "man/mirror.1": man(root),
            ROOT / "docs/cli.md": reference(root)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if checked-in copies differ")
    args = parser.parse_args()
    stale = []
    for path, text in outputs().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(path)
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print("out of date: " + ", ".join(str(p.relative_to(ROOT)) for p in stale)
              + "; run python scripts/gen_docs.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
