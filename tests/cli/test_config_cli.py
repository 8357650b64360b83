"""mirror config show|get|set|path, and where files live (precedence, modes)."""

from __future__ import annotations

import json
import stat
from pathlib import Path


def js(result, code=0):
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_path_json_is_absolute(cli, mirror_home):
    p = js(cli("config", "path", "--json"))
    assert set(p) == {"config", "database", "backups", "journal"}
    assert all(Path(p[k]).is_absolute() for k in ("config", "database", "backups"))
    assert p == {"config": str(mirror_home / "config.yaml"), "database": str(mirror_home / "mirror.db"),
                 "backups": str(mirror_home / "backups"), "journal": "default"}
    text = cli("config", "path").stdout
    assert f"database: {mirror_home / 'mirror.db'}" in text


def test_path_precedence(cli, tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database: {tmp_path / 'cfg.db'}\nbackup:\n  dir: {tmp_path / 'bk'}\n")
    monkeypatch.setenv("MIRROR_CONFIG", str(cfg))
    p = js(cli("config", "path", "--json"))
    assert (p["config"], p["database"], p["backups"]) == (str(cfg), str(tmp_path / "cfg.db"), str(tmp_path / "bk"))
    monkeypatch.setenv("MIRROR_DB", str(tmp_path / "env.db"))
    assert js(cli("config", "path", "--json"))["database"] == str(tmp_path / "env.db")
    assert js(cli("--db", tmp_path / "flag.db", "config", "path", "--json"))["database"] == str(tmp_path / "flag.db")
    other = tmp_path / "other.yaml"
    other.write_text("database: /elsewhere.db\n")
    p = js(cli("--config", other, "config", "path", "--json"))
    assert (p["config"], p["database"]) == (str(other), str(tmp_path / "env.db"))


def test_relative_db_is_made_absolute(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert js(cli("--db", "rel.db", "config", "path", "--json"))["database"] == str(tmp_path / "rel.db")


def test_set_get_show(cli, mirror_home):
    r = cli("config", "set", "backup.dir", "/tmp/some-backups")
    assert r.exit_code == 0 and r.stderr == ""
    assert cli("config", "get", "backup.dir").stdout == "/tmp/some-backups\n"
    assert js(cli("config", "set", "editor", "nano -w", "--json")) == {
        "key": "editor", "value": "nano -w", "config": str(mirror_home / "config.yaml")}
    assert js(cli("config", "set", "x.count", "3", "--json"))["value"] == 3
    r = cli("config", "set", "x.flag", "true")
    assert r.exit_code == 0 and "not a setting mirror knows" in r.stderr
    assert cli("config", "get", "x.flag").stdout == "true\n"
    assert js(cli("config", "get", "x.count", "--json")) == 3
    assert js(cli("config", "show", "--json")) == {"backup": {"dir": "/tmp/some-backups"}, "editor": "nano -w",
                                                   "x": {"count": 3, "flag": True}}
    assert "editor: nano -w" in cli("config", "show").stdout
    cfg = mirror_home / "config.yaml"
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert js(cli("config", "path", "--json"))["backups"] == "/tmp/some-backups"


def test_get_unset_and_show_empty(cli):
    r = cli("config", "get", "nope")
    assert r.exit_code == 1 and r.stdout == "" and "nope" in r.stderr
    r = cli("config", "show")
    assert r.exit_code == 0 and r.stdout == "" and "defaults" in r.stderr
    assert js(cli("config", "show", "--json")) == {}


def test_set_bad_key(cli, mirror_home):
    r = cli("config", "set", "a..b", "v")
    assert r.exit_code == 2 and r.stdout == ""
    assert not (mirror_home / "config.yaml").exists()


def test_database_from_config_is_used(cli, tmp_path):
    target = tmp_path / "elsewhere" / "journal.db"
    assert cli("config", "set", "database", str(target)).exit_code == 0
    rid = cli("reflect", "lives elsewhere").stdout.strip()
    assert target.exists()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert js(cli("--db", target, "show", rid, "--json"))["content"] == "lives elsewhere"


def test_unparsable_config_is_exit_2_naming_the_file(cli, mirror_home):
    mirror_home.mkdir(parents=True, exist_ok=True)
    cfg = mirror_home / "config.yaml"
    cfg.write_text("database: [oops\n")
    for args in (["reflect", "x"], ["list"], ["config", "path"], ["config", "show"]):
        r = cli(*args)
        assert r.exit_code == 2, args
        assert r.stdout == "" and str(cfg) in r.stderr
    assert not (mirror_home / "mirror.db").exists()


def test_missing_config_flag_is_exit_2(cli, tmp_path):
    missing = tmp_path / "missing.yaml"
    r = cli("--config", missing, "config", "path")
    assert r.exit_code == 2 and r.stdout == "" and str(missing) in r.stderr
