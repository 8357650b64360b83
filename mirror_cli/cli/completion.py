"""`mirror completion bash|zsh|fish`: the shell completion scripts, and the journal values they ask for.

The scripts are static (no Python start-up on most <Tab>s), made from the app's command tree by
:func:`script`; scripts/gen_docs.py writes the same text to completions/. They complete commands and
options; after an option that takes a value they offer only its values (never an option, so no ``-``
is put where a value goes): the choices of :data:`VALUES`, file names for FILE/PATH options and
arguments, and reflection ids, tags and modes from the journal, which the script gets from
``mirror completion --values ids|tags|modes`` (the journal file read as it is, never migrated or
unlocked: ids and modes are stored in clear, so no key is needed; tags only on a plain journal).
"""

from dataclasses import dataclass, field
from typing import Annotated, Optional

import typer

SHELLS = ("bash", "zsh", "fish")
DYNAMIC = ("ids", "tags", "modes")
FILES = "@files"
KINDS = "reflections patterns tensions audit"
# (command path, option) -> its values: words, FILES, or "@ids"/"@tags"/"@modes" from the journal.
# An empty path applies to every command that has the option.
VALUES: dict[tuple[str, str], str] = {
    ("", "--db"): FILES, ("", "--config"): FILES, ("", "--output"): FILES, ("", "-o"): FILES,
    ("", "--tag"): "@tags", ("", "-t"): "@tags", ("", "--untag"): "@tags", ("", "--not-tag"): "@tags",
    ("", "--mode"): "@modes", ("", "--only"): KINDS,
    ("export", "--format"): "json jsonl markdown csv jrnl", ("export", "-f"): "json jsonl markdown csv jrnl",
    ("import", "--format"): "auto json jsonl jrnl", ("import", "-f"): "auto json jsonl jrnl",
    ("import", "--mode"): "merge replace",
    ("patterns", "--type"): "emotion theme tag", ("patterns list", "--type"): "emotion theme tag",
    ("patterns evolution", "--type"): "emotion theme tag", ("", "--by"): "week month",
    ("shard create", "--level"): "minimal personal federation paranoid",
    ("shard create", "-l"): "minimal personal federation paranoid",
    ("shard create", "--to"): FILES, ("shard restore", "--to"): FILES,
    ("sync", "--only"): "patterns tensions", ("sync", "--conflict"): "local-wins newest-wins",
    ("conflicts resolve", "--keep"): "kept other", ("delete", "--backups"): "delete keep",
    ("delete", "--remote"): "wipe keep", ("backup prune", "--in"): FILES,
}
# Arguments (by command path) that take a reflection id or a file name.
ARGUMENTS = {"delete": "@ids", "edit": "@ids", "show": "@ids", "import": FILES, "backup restore": FILES,
             "backup verify": FILES, "backup list": FILES, "key export": FILES, "key import": FILES,
             "shard create": FILES, "shard verify": FILES, "shard repair": FILES, "shard restore": FILES}


@dataclass
class Node:
    path: list[str]
    help: str
    options: list[tuple[list[str], bool, str, list[str]]]  # (names, takes_value, help, choices)
    arguments: list[str]
    children: list["Node"] = field(default_factory=list)

    @property
    def name(self) -> str:
        return " ".join(self.path)


def tree() -> Node:
    """The app's commands, options and arguments (hidden options left out)."""
    import typer.main

    from mirror_cli.cli.app import app

    def walk(cmd, path: list[str]) -> Node:
        # Typer vendors its own Click; walk it by duck typing rather than importing click.
        ctx = cmd.context_class(cmd, info_name=path[-1] if path else "mirror")
        opts, args = [], []
        for p in cmd.get_params(ctx):
            if p.param_type_name == "option":
                if not p.hidden:
                    opts.append((list(p.opts) + list(p.secondary_opts), not p.is_flag and not p.count,
                                 (p.help or "").strip(), _choices(p)))
            elif p.param_type_name == "argument":
                args.append((p.metavar or p.name or "ARG").upper())
        node = Node(path, (cmd.help or cmd.short_help or "").strip(), opts, args)
        if hasattr(cmd, "list_commands"):
            for name in sorted(cmd.list_commands(ctx)):
                node.children.append(walk(cmd.get_command(ctx, name), path + [name]))
        return node

    return walk(typer.main.get_command(app), [])


def _choices(param) -> list[str]:
    try:
        kind = param.bare_type() if callable(getattr(param, "bare_type", None)) else getattr(param, "type", None)
    except Exception:  # noqa: BLE001 - a param whose type cannot be built has no choices to offer
        return []
    return [str(getattr(c, "value", c)) for c in getattr(kind, "choices", None) or []]


def all_nodes(node: Node):
    yield node
    for child in node.children:
        yield from all_nodes(child)


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def values(node: Node, option: str, choices: list[str]) -> str:
    """What option *option* of *node* takes: words, FILES, ``@ids``/``@tags``/``@modes``, or "" (free text)."""
    if choices:
        return " ".join(choices)
    return VALUES.get((node.name, option), VALUES.get(("", option), ""))


def _value_options(root: Node) -> list[tuple[Node, str, str]]:
    """(node, option, its values) of every option that takes a value."""
    return [(n, o, values(n, o, choices)) for n in all_nodes(root) for names, takes, _, choices in n.options
            if takes for o in names]


def _sh_values(kind: str, cur: str) -> str:
    """A bash/zsh command filling ``reply`` with the words of *kind*."""
    if kind == FILES:
        return f'_mirror_files "{cur}"'
    if kind.startswith("@"):
        return f'_mirror_values {kind[1:]} "{cur}"'
    return f'_mirror_words "{kind}" "{cur}"'


def bash(root: Node) -> str:
    nodes = list(all_nodes(root))
    paths = "|".join(f'"{n.name}"' for n in nodes if n.path)
    lines = ["# bash completion for mirror (generated by scripts/gen_docs.py; do not edit)",
             '_mirror_words() { COMPREPLY=($(compgen -W "$1" -- "$2")); }',
             '_mirror_files() { COMPREPLY=($(compgen -f -- "$1")); compopt -o filenames 2>/dev/null; }',
             '_mirror_values() { COMPREPLY=($(compgen -W "$(mirror "${_mirror_global[@]}" completion --values "$1"'
             ' 2>/dev/null)" -- "$2")); }',
             "_mirror() {",
             "    local cur prev path w i words",
             '    cur="${COMP_WORDS[COMP_CWORD]}"',
             '    prev="${COMP_WORDS[COMP_CWORD-1]}"',
             '    path=""',
             "    _mirror_global=()",
             "    for ((i = 1; i < COMP_CWORD; i++)); do",
             '        w="${COMP_WORDS[i]}"',
             '        case "$w" in',
             '            --db|--config|--journal|-j)',
             '                if [[ "${COMP_WORDS[i+1]}" == "=" ]]; then  # --db=PATH: bash splits at "="',
             '                    _mirror_global+=("$w=${COMP_WORDS[i+2]}"); ((i += 2))',
             '                else _mirror_global+=("$w" "${COMP_WORDS[i+1]}"); ((i++)); fi',
             "                continue ;;",
             '            --db=*|--config=*|--journal=*|-j?*) _mirror_global+=("$w"); continue ;;',
             "            -*) continue ;;",
             "        esac",
             '        case "${path:+$path }$w" in',
             f'            {paths}) path="${{path:+$path }}$w" ;;',
             "        esac",
             "    done",
             '    case "$path|$prev" in']
    for n, o, kind in _value_options(root):
        action = _sh_values(kind, "$cur") if kind else "COMPREPLY=()"
        lines.append(f'        "{n.name}|{o}") {action}; return ;;')
    lines += ["    esac",
              '    if [[ "$cur" != -* ]]; then',
              '        case "$path" in']
    for name, kind in ARGUMENTS.items():
        lines.append(f'            "{name}") {_sh_values(kind, "$cur")}; return ;;')
    lines += ["        esac", "    fi", '    case "$path" in']
    for n in nodes:
        words = [c.path[-1] for c in n.children] + [o for names, *_ in n.options for o in names]
        lines.append(f'        "{n.name}") words="{" ".join(words)}" ;;')
    lines += ['        *) words="" ;;', "    esac",
              '    COMPREPLY=($(compgen -W "$words" -- "$cur"))', "}",
              "complete -o default -F _mirror mirror", ""]
    return "\n".join(lines)


def zsh(root: Node) -> str:
    nodes = list(all_nodes(root))
    paths = "|".join(f'"{n.name}"' for n in nodes if n.path)
    # `cmd`, not `path`: in zsh that is $PATH as an array, and emptying it would hide `mirror` from the script.
    lines = ["#compdef mirror", "# zsh completion for mirror (generated by scripts/gen_docs.py; do not edit)",
             '_mirror_words() { compadd -- ${=1}; }',
             "_mirror_files() { _files; }",
             '_mirror_values() { compadd -- ${(f)"$(mirror "${_mirror_global[@]}" completion --values $1 2>/dev/null)"}; }',
             "_mirror() {", "    local cmd w i prev", "    local -a items", '    cmd=""',
             "    _mirror_global=()", '    prev="${words[CURRENT-1]}"',
             "    for ((i = 2; i < CURRENT; i++)); do", '        w="${words[i]}"',
             '        case "$w" in',
             '            --db|--config|--journal|-j) _mirror_global+=("$w" "${words[i+1]}"); ((i++)); continue ;;',
             '            --db=*|--config=*|--journal=*|-j?*) _mirror_global+=("$w"); continue ;;',
             "            -*) continue ;;",
             "        esac",
             '        case "${cmd:+$cmd }$w" in',
             f'            {paths}) cmd="${{cmd:+$cmd }}$w" ;;',
             "        esac", "    done",
             '    case "$cmd|$prev" in']
    for n, o, kind in _value_options(root):
        action = _sh_values(kind, "") if kind else "_message value"
        lines.append(f'        "{n.name}|{o}") {action}; return ;;')
    lines += ["    esac", '    if [[ "${words[CURRENT]}" != -* ]]; then', '        case "$cmd" in']
    for name, kind in ARGUMENTS.items():
        lines.append(f'            "{name}") {_sh_values(kind, "")}; return ;;')
    lines += ["        esac", "    fi", '    case "$cmd" in']
    for n in nodes:
        items = [f"{c.path[-1]}:{_zsh_escape(first_line(c.help))}" for c in n.children]
        items += [f"{_zsh_escape(o)}:{_zsh_escape(first_line(help_))}" for names, _, help_, _ in n.options
                  for o in names]
        joined = " ".join(f"'{i}'" for i in items)
        lines.append(f'        "{n.name}") items=({joined}) ;;')
    lines += ["        *) items=() ;;", "    esac",
              "    _describe -t commands 'mirror' items", "}",
              'if [[ "$funcstack[1]" = "_mirror" ]]; then _mirror "$@"; else compdef _mirror mirror; fi', ""]
    return "\n".join(lines)


def _zsh_escape(text: str) -> str:
    return text.replace("'", "'\\''").replace(":", "\\:")


def _fish_values(kind: str) -> str:
    if kind == FILES:
        return " -r -F"
    if kind.startswith("@"):
        return f" -r -f -a '(__mirror_values {kind[1:]})'"
    return f" -r -f -a {_fish_q(kind)}" if kind else " -r -f"


# The command a fish command line is in, found as the bash and zsh scripts find it: the words that are
# not options (nor the values of --db, --config, --journal, -j) and that extend a command path. Fish's own
# __fish_seen_subcommand_from matches a word anywhere, so `mirror list` took `patterns list`'s options.
_FISH_FUNCTIONS = """\
function __mirror_cmd
    set -l line (commandline -pc)
    if test "$line" = "$__mirror_line"
        echo $__mirror_last
        return
    end
    set -l cmd ""
    set -l skip 0
    set -g __mirror_global_opts
    for w in (commandline -opc)[2..-1]
        if test $skip = 1
            set skip 0
            set -a __mirror_global_opts $w
            continue
        end
        switch $w
            case --db --config --journal -j
                set skip 1
                set -a __mirror_global_opts $w
                continue
            case '--db=*' '--config=*' '--journal=*' '-j?*'
                set -a __mirror_global_opts $w
                continue
            case '-*'
                continue
        end
        set -l next (string trim -- "$cmd $w")
        if contains -- $next $__mirror_paths
            set cmd $next
        end
    end
    set -g __mirror_line $line
    set -g __mirror_last $cmd
    echo $cmd
end
function __mirror_is
    test (__mirror_cmd) = "$argv[1]"
end
function __mirror_values
    __mirror_cmd >/dev/null
    mirror $__mirror_global_opts completion --values $argv[1] 2>/dev/null
end"""


def fish(root: Node) -> str:
    nodes = [n for n in all_nodes(root) if n.path]
    lines = ["# fish completion for mirror (generated by scripts/gen_docs.py; do not edit)",
             "complete -c mirror -f",
             "set -g __mirror_paths " + " ".join(_fish_q(n.name) for n in nodes),
             _FISH_FUNCTIONS]
    for n in all_nodes(root):
        if n.path:
            parent = " ".join(n.path[:-1])
            lines.append(f"complete -c mirror -n {_fish_q('__mirror_is ' + _fish_q(parent))} -a {n.path[-1]} "
                         f"-d {_fish_q(first_line(n.help))}")
            if n.name in ARGUMENTS:
                kind = ARGUMENTS[n.name]
                what = "-F" if kind == FILES else f"-a '(__mirror_values {kind[1:]})'"
                lines.append(f"complete -c mirror -n {_fish_q('__mirror_is ' + _fish_q(n.name))} {what}")
        for names, takes, help_, choices in n.options:
            parts = []
            for o in names:
                if o.startswith("--"):
                    parts.append(f"-l {o[2:]}")
                elif o.startswith("-") and len(o) == 2:
                    parts.append(f"-s {o[1:]}")
            cond = f"-n {_fish_q('__mirror_is ' + _fish_q(n.name))} " if n.path else ""
            extra = _fish_values(values(n, names[0], choices)) if takes else ""
            lines.append(f"complete -c mirror {cond}{' '.join(parts)}{extra} -d {_fish_q(first_line(help_))}")
    return "\n".join(lines) + "\n"


def _fish_q(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _find(root: Node, path: list[str]) -> Node:
    node = root
    for part in path:
        node = next(c for c in node.children if c.path[-1] == part)
    return node


def script(shell: str, root: Optional[Node] = None) -> str:
    """The completion script for *shell* (one of :data:`SHELLS`)."""
    return {"bash": bash, "zsh": zsh, "fish": fish}[shell](root or tree())


def journal_values(db_path, kind: str) -> list[str]:
    """Reflection ids (newest first), tags or modes of the journal at *db_path*, read as the file is:
    nothing when it does not exist or cannot be read, no tags when it is encrypted."""
    import json
    import sqlite3

    if not db_path.is_file():
        return []
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=0.5)
    except sqlite3.Error:
        return []
    try:
        if kind == "ids":
            return [r for (r,) in conn.execute("SELECT id FROM reflections ORDER BY created_at DESC LIMIT 500")]
        if kind == "modes":
            return [r for (r,) in conn.execute("SELECT DISTINCT mode FROM reflections ORDER BY mode")]
        if conn.execute("SELECT 1 FROM meta WHERE key = 'crypto'").fetchone():
            return []  # sealed tags: no key is asked for at a <Tab>
        found: set[str] = set()
        for (raw,) in conn.execute("SELECT DISTINCT tags FROM reflections"):
            try:
                found.update(t for t in json.loads(raw) if isinstance(t, str))
            except (TypeError, ValueError):
                continue
        return sorted(found)
    except sqlite3.Error:
        return []
    finally:
        conn.close()


def completion(
    ctx: typer.Context,
    shell: Annotated[Optional[str], typer.Argument(metavar="SHELL", help="bash, zsh or fish.", show_default=False)] = None,
    values_of: Annotated[Optional[str], typer.Option("--values", hidden=True, help="ids, tags or modes of the journal (what the scripts ask for).")] = None,
) -> None:
    """Print the shell completion script: `mirror completion bash > ~/.local/share/bash-completion/completions/mirror`.

    zsh: `mirror completion zsh > "${fpath[1]}/_mirror"`; fish: `mirror completion fish >
    ~/.config/fish/completions/mirror.fish`. The scripts complete commands, options, option values,
    file names, and reflection ids and tags from the journal (tags only when it is not encrypted).
    """
    import sys

    from mirror_cli.cli.options import state
    from mirror_cli.errors import UsageError

    if values_of is not None:
        if values_of not in DYNAMIC:
            raise UsageError(f"unknown --values {values_of!r}.", "Use ids, tags or modes.")
        try:
            path = state(ctx).settings.db_path
        except Exception:  # noqa: BLE001 - a <Tab> never shows an error: no journal, no values
            return
        for value in journal_values(path, values_of):
            sys.stdout.write(value + "\n")
        return
    if shell not in SHELLS:
        raise UsageError(f"unknown shell {shell!r}." if shell else "name a shell: bash, zsh or fish.",
                         "Use `mirror completion bash`, `mirror completion zsh` or `mirror completion fish`.")
    sys.stdout.write(script(shell))
