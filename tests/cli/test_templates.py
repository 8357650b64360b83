"""`mirror reflect --template NAME|FILE` and `reflect.template`: the template opens in the editor; a text
that comes back unchanged saves nothing (a note, exit 0)."""

from __future__ import annotations

import json
import sys

import pytest


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


TEMPLATE = "## Grateful for\n\n## Today\n"


def editor(tmp_path, append: str | None) -> str:
    """An editor command that appends *append* to the file (None: leaves it as it is)."""
    script = tmp_path / "ed.py"
    body = "" if append is None else f"open(sys.argv[1], 'a').write({append!r})\n"
    script.write_text(f"import sys\n{body}")
    return f"{sys.executable} {script}"


@pytest.fixture
def daily(mirror_home):
    folder = mirror_home / "templates"  # <config dir>/templates (the config lives in MIRROR_HOME)
    folder.mkdir(parents=True)
    (folder / "daily.md").write_text(TEMPLATE)
    return folder / "daily.md"


def texts(cli) -> list[str]:
    if not cli("list").exit_code == 0:  # nothing saved: not even a journal was created
        return []
    return [o["content"] for o in json.loads(ok(cli("list", "--json")).stdout)]


def test_named_template_saved_when_changed(cli, daily, tmp_path):
    res = ok(cli("reflect", "--template", "daily", "--json", env={"EDITOR": editor(tmp_path, "the sun\n")}))
    assert json.loads(res.stdout)["content"] == TEMPLATE + "the sun"
    assert texts(cli) == [TEMPLATE + "the sun"]


def test_unchanged_template_is_refused(cli, daily, tmp_path):
    res = ok(cli("reflect", "--template", "daily", "--json", env={"EDITOR": editor(tmp_path, None)}))
    assert json.loads(res.stdout) is None and "template came back unchanged; nothing saved" in res.stderr
    res = ok(cli("reflect", "--template", "daily", env={"EDITOR": editor(tmp_path, "\n\n")}))
    assert res.stdout == "" and "unchanged" in res.stderr  # blank lines added are no change
    assert texts(cli) == []


def test_template_file_by_path(cli, tmp_path):
    path = tmp_path / "evening.txt"
    path.write_text("Evening:\n")
    ok(cli("reflect", "--template", str(path), env={"EDITOR": editor(tmp_path, "quiet")}))
    assert texts(cli) == ["Evening:\nquiet"]


def test_config_template_when_the_editor_opens(cli, daily, tmp_path, monkeypatch):
    ok(cli("config", "set", "reflect.template", "daily"))
    ok(cli("reflect", "given as text"))  # text given: no template
    ok(cli("reflect", input="from a pipe\n"))  # stdin a pipe: no template
    monkeypatch.setattr("mirror_cli.cli.output.stdin_is_tty", lambda: True)
    ok(cli("reflect", env={"EDITOR": editor(tmp_path, "edited")}))
    res = ok(cli("reflect", env={"EDITOR": editor(tmp_path, None)}))
    assert "unchanged" in res.stderr
    assert texts(cli) == [TEMPLATE + "edited", "from a pipe", "given as text"]


def test_template_refusals(cli, daily, mirror_home, tmp_path):
    res = cli("reflect", "--template", "missing", env={"EDITOR": editor(tmp_path, "x")})
    assert res.exit_code == 2 and str(mirror_home / "templates" / "missing.md") in res.stderr
    res = cli("reflect", "--template", "daily", "some", "text")
    assert res.exit_code == 2 and "no TEXT" in res.stderr
    res = cli("reflect", "--template", "daily")  # no editor set
    assert res.exit_code == 2 and "EDITOR" in res.stderr
    assert texts(cli) == []
