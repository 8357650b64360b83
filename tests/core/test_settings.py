"""settings.resolve: precedence of --db/--config, env vars, config file and MIRROR_HOME; config I/O."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mirror_cli.errors import UsageError
from mirror_cli.settings import load_config, parse_value, resolve, set_config_value


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_mirror_home_puts_everything_under_it(tmp_path):
    home = tmp_path / "h"
    s = resolve(env={"MIRROR_HOME": str(home)})
    assert s.config_path == home / "config.yaml"
    assert s.db_path == home / "mirror.db"
    assert s.backups_dir == home / "backups"
    assert all(p.is_absolute() for p in (s.config_path, s.db_path, s.backups_dir))


def test_database_precedence(tmp_path):
    home = tmp_path / "h"
    cfg = write(home / "config.yaml", f"database: {tmp_path / 'from-config.db'}\n")
    env = {"MIRROR_HOME": str(home)}
    assert resolve(env=env).db_path == tmp_path / "from-config.db"
    env["MIRROR_DB"] = str(tmp_path / "from-env.db")
    assert resolve(env=env).db_path == tmp_path / "from-env.db"
    assert resolve(db=tmp_path / "from-flag.db", env=env).db_path == tmp_path / "from-flag.db"
    cfg.unlink()
    del env["MIRROR_DB"]
    assert resolve(env=env).db_path == home / "mirror.db"


def test_config_precedence(tmp_path):
    home = tmp_path / "h"
    write(home / "config.yaml", "database: /from/home.db\n")
    env_cfg = write(tmp_path / "env.yaml", "database: /from/env.db\n")
    flag_cfg = write(tmp_path / "flag.yaml", "database: /from/flag.db\n")
    env = {"MIRROR_HOME": str(home)}
    assert resolve(env=env).db_path == Path("/from/home.db")
    env["MIRROR_CONFIG"] = str(env_cfg)
    s = resolve(env=env)
    assert (s.config_path, s.db_path) == (env_cfg, Path("/from/env.db"))
    s = resolve(config=flag_cfg, env=env)
    assert (s.config_path, s.db_path) == (flag_cfg, Path("/from/flag.db"))


def test_backup_dir_from_config_and_tilde(tmp_path):
    home = tmp_path / "h"
    write(home / "config.yaml", "backup:\n  dir: ~/my-backups\ndatabase: ~/j.db\n")
    s = resolve(env={"MIRROR_HOME": str(home), "HOME": str(tmp_path)})
    # expanduser reads the real HOME (the autouse fixture set it), so compare with that.
    assert s.backups_dir == Path("~/my-backups").expanduser()
    assert s.db_path == Path("~/j.db").expanduser()
    assert s.get("backup.dir") == "~/my-backups"
    assert s.get("backup.missing", 7) == 7


def test_relative_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = resolve(db="rel.db", env={"MIRROR_HOME": "relhome"})
    assert s.db_path == tmp_path / "rel.db"
    assert s.config_path == tmp_path / "relhome" / "config.yaml"


def test_relative_paths_in_the_config_file_are_from_its_folder(tmp_path, monkeypatch):
    """`config set database journal.db` names one file, whichever folder mirror runs in."""
    home = tmp_path / "h"
    write(home / "config.yaml", "database: journal.db\nbackup:\n  dir: ../saved\n")
    for cwd in (tmp_path / "a", tmp_path / "b"):
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        s = resolve(env={"MIRROR_HOME": str(home)})
        assert s.db_path == home / "journal.db"
        assert s.backups_dir == (home / "../saved").absolute()
    assert resolve(env={"MIRROR_HOME": str(home), "MIRROR_DB": "x.db"}).db_path == tmp_path / "b" / "x.db"


def test_without_mirror_home_platformdirs_are_used():
    s = resolve(env={})
    assert s.config_path.name == "config.yaml" and s.config_path.parent.name == "mirror"
    assert s.db_path.name == "mirror.db" and s.db_path.parent.name == "mirror"
    assert s.backups_dir == s.db_path.parent / "backups"


def test_missing_explicit_config_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError) as err:
        resolve(config=tmp_path / "nope.yaml", env={"MIRROR_HOME": str(tmp_path)})
    assert err.value.exit_code == 2
    assert str(tmp_path / "nope.yaml") in err.value.message


@pytest.mark.parametrize("text", ["database: [unclosed\n", "a: b: c\n", "key: 'x\n", "\tfoo: 1\n"])
def test_unparsable_config_names_the_file(tmp_path, text):
    cfg = write(tmp_path / "bad.yaml", text)
    with pytest.raises(UsageError) as err:
        resolve(config=cfg, env={})
    assert err.value.exit_code == 2
    assert str(cfg) in err.value.message


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_config_must_be_a_mapping(tmp_path, text):
    cfg = write(tmp_path / "c.yaml", text)
    with pytest.raises(UsageError) as err:
        load_config(cfg)
    assert str(cfg) in err.value.message


def test_empty_and_missing_config_are_empty(tmp_path):
    assert load_config(tmp_path / "absent.yaml") == {}
    assert load_config(write(tmp_path / "e.yaml", "\n  \n")) == {}
    assert load_config(write(tmp_path / "n.yaml", "# only a comment\n")) == {}


def test_undecodable_config_is_a_usage_error(tmp_path):
    cfg = tmp_path / "bin.yaml"
    cfg.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(UsageError) as err:
        load_config(cfg)
    assert str(cfg) in err.value.message


def test_set_config_value_nested_atomic_private(tmp_path):
    cfg = tmp_path / "sub" / "config.yaml"
    set_config_value(cfg, "backup.dir", "/b")
    set_config_value(cfg, "editor", "vim -n")
    set_config_value(cfg, "backup.keep", 3)
    assert load_config(cfg) == {"backup": {"dir": "/b", "keep": 3}, "editor": "vim -n"}
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert stat.S_IMODE(cfg.parent.stat().st_mode) == 0o700
    assert [p.name for p in cfg.parent.iterdir()] == ["config.yaml"]  # no temp file left
    # a scalar in the way of a nested key is replaced by a mapping
    set_config_value(cfg, "tool", "x")
    set_config_value(cfg, "tool.x", "y")
    assert load_config(cfg)["tool"] == {"x": "y"}


@pytest.mark.parametrize("text, key", [("database: 5\n", "database"), ("database: [1, 2]\n", "database"),
                                       ("database: ''\n", "database"), ("backup:\n  dir: 7\n", "backup.dir"),
                                       ("backup: x\n", "backup"), ("editor: true\n", "editor"),
                                       ("backup:\n  lock_timeout: soon\n", "backup.lock_timeout"),
                                       ("backup:\n  lock_timeout: ''\n", "backup.lock_timeout"),
                                       ("a: &a [*a]\n", "itself")])
def test_known_keys_hold_their_type(tmp_path, text, key):
    """`database: 5` made a database file named "5"; a wrong type is named instead (exit 2)."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)
    with pytest.raises(UsageError) as info:
        resolve(config=cfg, env={})
    assert info.value.exit_code == 2 and key in info.value.message and str(cfg) in info.value.message
    assert not (tmp_path / "5").exists() and not (tmp_path / "[1, 2]").exists()


def test_config_set_keeps_a_known_string_key_a_string_and_refuses_a_wrong_type(tmp_path):
    cfg = tmp_path / "config.yaml"
    set_config_value(cfg, "database", parse_value("5", "database"))
    assert resolve(config=cfg, env={}).db_path == tmp_path / "5"
    with pytest.raises(UsageError):
        set_config_value(cfg, "backup.lock_timeout", parse_value("soon", "backup.lock_timeout"))
    set_config_value(cfg, "backup.lock_timeout", parse_value("2.5", "backup.lock_timeout"))
    assert load_config(cfg) == {"database": "5", "backup": {"lock_timeout": 2.5}}


@pytest.mark.parametrize("key", ["", ".", "a..b", "a.", ".a"])
def test_set_config_value_rejects_bad_keys(tmp_path, key):
    with pytest.raises(UsageError):
        set_config_value(tmp_path / "c.yaml", key, "v")
    assert not (tmp_path / "c.yaml").exists()


def test_parse_value_types():
    assert parse_value("3") == 3
    assert parse_value("2.5") == 2.5
    assert parse_value("true") is True
    assert parse_value("hello world") == "hello world"
    assert parse_value("[1, 2]") == "[1, 2]"  # only scalars are interpreted
    assert parse_value("{a: [") == "{a: ["


# Keys outside mirror's own settings (whose types are checked: test_known_keys_hold_their_type).
_OWN = {"database", "editor", "backup", "reflect"}
keys = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda p: p not in _OWN),
                min_size=1, max_size=3).map(".".join)
values = st.one_of(st.text(max_size=30), st.integers(), st.booleans(),
                   st.floats(allow_nan=False, allow_infinity=False))


@example(key="a", value="\x85")  # PyYAML writes NEL raw, and YAML reads it as a line break
@given(keys, values)
def test_config_set_then_get_round_trip(tmp_path_factory, key, value):
    cfg = tmp_path_factory.mktemp("cfg") / "config.yaml"
    set_config_value(cfg, key, value)
    s = resolve(config=cfg, env={})
    assert s.get(key) == value


def test_a_number_written_as_text_still_reads_and_config_set_fixes_a_mistyped_key(tmp_path):
    """`lock_timeout: "30"` always worked (float("30")); and `config set` is how a key the check
    refuses is put right, so it must reach the file the full resolve refuses."""
    from mirror_cli.settings import resolve_config_path

    cfg = tmp_path / "config.yaml"
    cfg.write_text('backup:\n  lock_timeout: "30"\ndatabase: 5\n')
    with pytest.raises(UsageError):
        resolve(config=cfg, env={})
    assert resolve_config_path(config=cfg, env={}) == cfg
    set_config_value(cfg, "database", parse_value("j.db", "database"))
    s = resolve(config=cfg, env={})
    assert s.db_path == tmp_path / "j.db" and s.get("backup.lock_timeout") == "30"
