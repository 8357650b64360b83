"""Issue 12, item 19 and "Honest errors": a YAML alias bomb or a deeply nested config.yaml is a usage
error (exit 2) named at once, not a hang nor a RecursionError."""

from __future__ import annotations

import time

import pytest

from mirror_cli import settings
from mirror_cli.errors import UsageError

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))


def _refused(tmp_path, text: str) -> UsageError:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    started = time.monotonic()
    with pytest.raises(UsageError) as info:
        settings.load_config(path)
    assert time.monotonic() - started < 5
    assert info.value.exit_code == 2 and str(path) in str(info.value)
    return info.value


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    assert "alias" in str(_refused(tmp_path, BOMB))


def test_an_alias_loop_is_refused(tmp_path):
    assert "alias" in str(_refused(tmp_path, "a: &a [*a]\n"))


@pytest.mark.parametrize("text", ["a: " + "[" * 5000 + "]" * 5000 + "\n",
                                  "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 3000)) + "  " * 3000 + "v\n"])
def test_deep_nesting_is_refused(tmp_path, text):
    assert "nested" in str(_refused(tmp_path, text))


def test_a_bomb_stops_every_command_with_exit_2(cli, mirror_home):
    mirror_home.mkdir(parents=True, exist_ok=True)
    (mirror_home / "config.yaml").write_text(BOMB)
    r = cli("--config", mirror_home / "config.yaml", "config", "path")
    assert r.exit_code == 2 and "alias" in r.stderr


def test_config_set_takes_a_deeply_nested_value_as_text(tmp_path):
    raw = "[" * 5000 + "]" * 5000
    assert settings.parse_value(raw) == raw


def test_ordinary_config_still_reads(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("backup:\n  dir: /x\n  lock_timeout: 5\neditor: vi\n")
    assert settings.load_config(path) == {"backup": {"dir": "/x", "lock_timeout": 5}, "editor": "vi"}
