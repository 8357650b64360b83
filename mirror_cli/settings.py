"""Where mirror's files live, resolved once per process (CONTRACT.md, "Where data lives").

Precedence, first wins:

* config file: ``--config``, ``MIRROR_CONFIG``, ``$MIRROR_HOME/config.yaml``,
  ``platformdirs.user_config_dir("mirror")/config.yaml``
* database: ``--db`` or ``-j/--journal NAME`` (flags), ``MIRROR_DB`` or ``MIRROR_JOURNAL`` (environment),
  ``database:`` in the config file, ``$MIRROR_HOME/mirror.db``,
  ``platformdirs.user_data_dir("mirror")/mirror.db``. A file and a journal name given at the same level
  (both flags, or both variables) are a usage error: which one was meant cannot be guessed.

A named journal NAME (CONTRACT.md, "Named journals") lives in ``journals: {NAME: {database: PATH}}`` of
the config file, else in ``<data dir>/journals/NAME.db`` (the data dir: ``$MIRROR_HOME``, else
platformdirs'), and keeps its backups in ``<backups>/NAME``. ``default`` names the default journal.

A relative path in the config file is relative to the config file's folder; one given by a
flag or an environment variable, to the current folder.
* backups: ``--output`` (per command), ``backup.dir`` in the config file,
  ``$MIRROR_HOME/backups``, ``<data dir>/backups``

The result is an immutable :class:`Settings` passed down explicitly; nothing
here is module-level mutable state.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from mirror_cli.errors import UsageError
from mirror_cli.localfs import atomic_write

APP_NAME = "mirror"
DEFAULT_JOURNAL = "default"  # the journal used when none is named (jrnl's name for it too)
JOURNAL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


class Settings(NamedTuple):  # NamedTuple, not a dataclass: every command builds one (start-up)
    config_path: Path
    db_path: Path
    backups_dir: Path
    config: Mapping[str, Any] = MappingProxyType({})
    env: Mapping[str, str] = MappingProxyType({})
    quiet: bool = False
    journal: str | None = None  # the journal selected by name ("default" when none); None for a --db/MIRROR_DB file

    def get(self, dotted: str, default: Any = None) -> Any:
        return get_dotted(self.config, dotted, default)


def _expand(value: str | os.PathLike[str]) -> Path:
    return Path(os.path.expanduser(os.fspath(value))).absolute()


def _from_config(value: Any, config_path: Path) -> Path:
    """A path written in the config file: ``~`` expanded, and a relative one taken from the config
    file's folder (as git does for include paths), so it names one file whatever the current folder."""
    path = Path(os.path.expanduser(str(value)))
    return path if path.is_absolute() else (config_path.parent / path).absolute()


def resolve_config_path(*, config: str | os.PathLike[str] | None = None,
                        env: Mapping[str, str] | None = None) -> Path:
    """The config file's path alone (``config set`` must reach a file the full resolve refuses)."""
    env = os.environ if env is None else env
    home = env.get("MIRROR_HOME") or None
    explicit_config = config or env.get("MIRROR_CONFIG") or None
    if explicit_config:
        config_path = _expand(explicit_config)
        if config and not config_path.exists():
            raise UsageError(f"config file {config_path} does not exist.", "Check the --config path.")
        return config_path
    if home:
        return _expand(home) / "config.yaml"
    return Path(_platformdirs().user_config_dir(APP_NAME)) / "config.yaml"


def check_journal_name(name: str) -> str:
    """*name* when it is a journal name (``[a-z0-9][a-z0-9_-]{0,31}``), else a usage error."""
    if not JOURNAL_NAME.fullmatch(name):
        raise UsageError(f"{name!r} is not a journal name.",
                         "A journal name is 1 to 32 of a-z, 0-9, '_' and '-', starting with a letter or digit.")
    return name


def data_dir(env: Mapping[str, str]) -> Path:
    """The folder of mirror's data: ``$MIRROR_HOME``, else platformdirs' user data folder."""
    home = env.get("MIRROR_HOME") or None
    return _expand(home) if home else Path(_platformdirs().user_data_dir(APP_NAME))


def configured_journals(cfg: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``journals:`` mapping of the config file (checked by :func:`load_config`), or an empty one."""
    journals = cfg.get("journals")
    return journals if isinstance(journals, Mapping) else {}


def journal_path(name: str, cfg: Mapping[str, Any], config_path: Path, env: Mapping[str, str]) -> Path:
    """The database file of the named journal *name* (not ``default``)."""
    entry = configured_journals(cfg).get(name)
    if isinstance(entry, Mapping) and entry.get("database"):
        return _from_config(entry["database"], config_path)
    return data_dir(env) / "journals" / f"{name}.db"


def _selected(db: str | os.PathLike[str] | None, journal: str | None,
              env: Mapping[str, str]) -> tuple[str | os.PathLike[str] | None, str | None]:
    """(file, journal name) chosen by the flags, else by the environment; at most one of the two."""
    if db and journal:
        raise UsageError("--db and --journal both name a journal; give one of them.")
    if db or journal:
        return db, journal
    env_db, env_journal = env.get("MIRROR_DB") or None, env.get("MIRROR_JOURNAL") or None
    if env_db and env_journal:
        raise UsageError("MIRROR_DB and MIRROR_JOURNAL are both set, and name two journals.",
                         "Unset one of them, or choose with --db or -j/--journal.")
    return env_db, env_journal


def resolve(
    *,
    db: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    quiet: bool = False,
    journal: str | None = None,
) -> Settings:
    """Resolve every path once. A config file that cannot be parsed, or a journal name that is not
    one, is a usage error."""
    env = dict(os.environ if env is None else env)
    home = env.get("MIRROR_HOME") or None  # platformdirs is imported only when it is unset
    db, journal = _selected(db, journal, env)
    if journal is not None:
        check_journal_name(journal)
    config_path = resolve_config_path(config=config, env=env)
    cfg = load_config(config_path)

    backups_root = _backups_root(cfg, config_path, home)
    if db:
        db_path = _expand(db)
    elif journal and journal != DEFAULT_JOURNAL:
        db_path = journal_path(journal, cfg, config_path, env)
        backups_root = (backups_root or data_dir(env) / "backups") / journal
    else:
        journal = DEFAULT_JOURNAL
        db_path = default_path(cfg, config_path, env)
    backups = backups_root or db_path.parent / "backups"

    return Settings(config_path=config_path, db_path=db_path, backups_dir=backups,
                    config=cfg, env=env, quiet=quiet, journal=journal)


def default_path(cfg: Mapping[str, Any], config_path: Path, env: Mapping[str, str]) -> Path:
    """The default journal's database: ``database:`` in the config, else ``<data dir>/mirror.db``."""
    if cfg.get("database"):
        return _from_config(cfg["database"], config_path)
    return data_dir(env) / "mirror.db"


def known_journals(settings: Settings) -> list[tuple[str, Path]]:
    """(name, database) of every journal: ``default``, those named in the config, and the
    ``<data dir>/journals/NAME.db`` files; ``default`` first, then by name."""
    env, cfg = settings.env, settings.config
    found = {name: journal_path(name, cfg, settings.config_path, env) for name in configured_journals(cfg)}
    folder = data_dir(env) / "journals"
    try:
        files = sorted(folder.iterdir())
    except OSError:  # no journals folder yet (or unreadable: then only the configured ones are known)
        files = []
    for file in files:
        if file.suffix == ".db" and JOURNAL_NAME.fullmatch(file.stem) and file.stem != DEFAULT_JOURNAL:
            found.setdefault(file.stem, file)
    return [(DEFAULT_JOURNAL, default_path(cfg, settings.config_path, env)), *sorted(found.items())]


def _backups_root(cfg: Mapping[str, Any], config_path: Path, home: str | None) -> Path | None:
    """``backup.dir`` of the config, else ``$MIRROR_HOME/backups``; None: beside the database."""
    backup_dir = get_dotted(cfg, "backup.dir")
    if backup_dir:
        return _from_config(backup_dir, config_path)
    return _expand(home) / "backups" if home else None


def _platformdirs():
    import platformdirs

    return platformdirs


def load_config(path: Path, *, check: bool = True) -> dict[str, Any]:
    """Read the YAML config; a missing file is an empty config. *check*: refuse known keys of the
    wrong type (``config set`` reads without it, so that it can put such a key right)."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read config file {path}: {exc}.") from None
    if not raw.strip():
        return {}
    import yaml  # lazy: PyYAML is only needed when there is a config file

    try:
        data = _safe_load(raw)
    except _Refused as exc:
        raise UsageError(f"config file {path} {exc.args[0]} (line {exc.line}).", "Fix it or move it aside.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(
            f"config file {path} is not valid YAML{where}.", "Fix it or move it aside."
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must hold a YAML mapping (key: value).")
    if check:
        _check_types(data, path)
    return data


MAX_DEPTH = 32  # levels of nesting a config file may have (mirror's own keys use two)


class _Refused(Exception):
    """A config file that uses what mirror's config never needs: a YAML alias, or deep nesting."""

    def __init__(self, what: str, mark) -> None:
        super().__init__(what)
        self.line = mark.line + 1


_LOADER = None


def _safe_load(text: str) -> object:
    """``yaml.safe_load`` without aliases and nested at most :data:`MAX_DEPTH` levels.

    An alias (``*a``) lets a few lines stand for billions of values (the "billion laughs"), which
    every walk over the config then expands, or for a value that contains itself; deep nesting
    exhausts the recursion of PyYAML's composer. Both are refused (:class:`_Refused`).
    """
    global _LOADER
    import yaml  # lazy: see load_config

    if _LOADER is None:
        class ConfigLoader(yaml.SafeLoader):
            depth = 0

            def compose_node(self, parent, index):
                if self.check_event(yaml.AliasEvent):
                    raise _Refused("uses a YAML alias (*name: a value repeated, or one that contains itself), "
                                   "which mirror's config does not take",
                                   self.peek_event().start_mark)
                if self.depth >= MAX_DEPTH:
                    raise _Refused(f"is nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark)
                self.depth += 1
                try:
                    return super().compose_node(parent, index)
                finally:
                    self.depth -= 1

        _LOADER = ConfigLoader
    loader = _LOADER(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def get_dotted(cfg: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


KNOWN_KEYS = {
    "database": "path of the SQLite database file",
    "backup.dir": "folder for `mirror backup create` and `backup list`",
    "backup.lock_timeout": "seconds a backup waits for another one to finish (default 30)",
    "editor": "editor command for `mirror reflect`/`edit` (else $VISUAL, $EDITOR)",
    "reflect.default_mode": "mode given to new reflections when --mode is absent",
    "reflect.template": "template opened in the editor by `mirror reflect` (NAME in <config dir>/templates, or a file)",
    "journals.NAME.database": "path of the named journal NAME's database (else <data dir>/journals/NAME.db)",
}


def is_known_key(dotted: str) -> bool:
    """Whether *dotted* is a setting mirror reads (``journals.NAME.database`` for any journal name)."""
    parts = dotted.split(".")
    if len(parts) == 3 and parts[0] == "journals" and parts[2] == "database":
        return bool(JOURNAL_NAME.fullmatch(parts[1]))
    return dotted in KNOWN_KEYS and "NAME" not in dotted

# What each known key must hold: a value of another type (`database: 5`) is a mistake to name,
# not a file called "5".
_KEY_TYPES: dict[str, tuple[type, ...]] = {
    "database": (str,), "backup.dir": (str,), "backup.lock_timeout": (int, float),
    "editor": (str,), "reflect.default_mode": (str,), "reflect.template": (str,),
}


def _check_types(cfg: Mapping[str, Any], path: Path) -> None:
    _check_journals(cfg, path)
    for dotted, types in _KEY_TYPES.items():
        parent, _, leaf = dotted.rpartition(".")
        node = get_dotted(cfg, parent) if parent else cfg
        if parent and node is not None and not isinstance(node, Mapping):
            raise UsageError(f"config file {path}: `{parent}` must be a mapping (e.g. `{dotted}: ...`).",
                             "Fix it with `mirror config set`, or edit the file.")
        value = node.get(leaf) if isinstance(node, Mapping) else None
        if value is None:
            continue
        if types == (int, float) and isinstance(value, str):
            try:  # `lock_timeout: "30"`, as mirror has always read it (float("30"))
                float(value)
                continue
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, types) or (isinstance(value, str) and not value.strip()):
            want = "a number" if types == (int, float) else "a non-empty string"
            raise UsageError(f"config file {path}: `{dotted}` must be {want}, not {value!r}.",
                             f"Fix it with `mirror config set {dotted} VALUE`, or edit the file.")


def _check_journals(cfg: Mapping[str, Any], path: Path) -> None:
    """``journals:`` maps journal names to ``{database: PATH}``."""
    journals = cfg.get("journals")
    if journals is None:
        return
    fix = "Fix it with `mirror config set journals.NAME.database PATH`, or edit the file."
    if not isinstance(journals, Mapping):
        raise UsageError(f"config file {path}: `journals` must be a mapping (e.g. `journals.work.database: ...`).",
                         fix)
    for name, entry in journals.items():
        if not isinstance(name, str) or not JOURNAL_NAME.fullmatch(name) or name == DEFAULT_JOURNAL:
            raise UsageError(f"config file {path}: `journals` holds {name!r}, which is not a journal name "
                             "(1 to 32 of a-z, 0-9, '_' and '-'; `default` is the default journal's).", fix)
        database = entry.get("database") if isinstance(entry, Mapping) else entry
        if not isinstance(entry, Mapping) or database is not None and (
                not isinstance(database, str) or not database.strip()):
            raise UsageError(f"config file {path}: `journals.{name}.database` must be a non-empty string, "
                             f"not {database!r}.", fix)


def parse_value(raw: str, key: str | None = None) -> Any:
    """Interpret a `config set` value as YAML scalar (numbers, true/false), else a string; for a
    known key that holds a string (`database`, `editor`...), always the string as given."""
    if key is not None and (_KEY_TYPES.get(key) == (str,) or key.startswith("journals.") and is_known_key(key)):
        return raw
    import yaml

    try:
        value = _safe_load(raw)
    except (yaml.YAMLError, _Refused):
        return raw
    return value if isinstance(value, (str, int, float, bool)) or value is None else raw


def set_config_value(path: Path, dotted: str, value: Any) -> dict[str, Any]:
    """Set *dotted* in the YAML config at *path*, written atomically (0600)."""
    import yaml

    if not dotted or any(not part for part in dotted.split(".")):
        raise UsageError(f"invalid config key {dotted!r}.", "Use names like `backup.dir`.")
    cfg = load_config(path, check=False)
    node = cfg
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value
    _check_types(cfg, path)  # nothing is written that the next command would refuse
    text = yaml.safe_dump(cfg, default_flow_style=False, sort_keys=True, allow_unicode=True)
    if yaml.safe_load(text) != cfg:
        # PyYAML writes some characters (NEL, U+0085) raw, where YAML reads a line break: escape all.
        text = yaml.safe_dump(cfg, default_flow_style=False, sort_keys=True, allow_unicode=False)
    with atomic_write(path, "w") as fh:
        fh.write(text)
    return cfg
