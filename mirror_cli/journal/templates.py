"""Templates for `mirror reflect --template NAME|FILE` (and `reflect.template` in the config): a NAME is
the file ``<config dir>/templates/NAME.md``; anything that looks like a path is that file."""

from __future__ import annotations

import os
import re
from pathlib import Path

from mirror_cli.errors import UsageError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
MAX_TEMPLATE = 1 << 20  # a template is a page of prompts, not a journal


def template_path(value: str, config_dir: Path) -> Path:
    """The file *value* names: a path (it has a folder separator, or names an existing file) or a
    template NAME in ``config_dir/templates``."""
    text = value.strip()
    path = Path(os.path.expanduser(text))
    if os.sep in text or "/" in text or path.is_file() or not _NAME.fullmatch(text):
        return path
    return config_dir / "templates" / (text if text.endswith(".md") else text + ".md")


def load_template(value: str, config_dir: Path) -> tuple[Path, str]:
    """(path, text) of the template *value* names; a usage error naming the file when it cannot be read."""
    path = template_path(value, config_dir)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_TEMPLATE + 1)
    except OSError as exc:
        raise UsageError(f"template {path} cannot be read ({exc.strerror or exc}); nothing was saved.",
                         f"Create it, or name a template file in {config_dir / 'templates'}.") from None
    if len(data) > MAX_TEMPLATE:
        raise UsageError(f"template {path} is larger than 1 MiB; nothing was saved.")
    try:
        return path, data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"template {path} is not valid UTF-8; nothing was saved.") from None


def unchanged(template: str, text: str) -> bool:
    """Whether the editor gave the template back as it was (spaces at the ends aside)."""
    return text.strip() == template.strip()
