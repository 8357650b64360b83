"""The shape of the house (docs/ARCHITECTURE.md): no import cycle, small modules, one process.

These read the source with :mod:`ast`; they fail when a change breaks the layering, so the
architecture page cannot drift from the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mirror_cli"
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _internal_imports(name: str, path: Path, *, top_level_only: bool = False):
    """(line, imported module) for every ``mirror_cli`` import in *path*."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = _top_level(tree) if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mirror_cli"):
                    yield node.lineno, _resolve(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mirror_cli"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                yield node.lineno, sub if sub in MODULES else _resolve(node.module)


def _top_level(tree: ast.Module):
    """The statements of the module body, and those of its ``if TYPE_CHECKING:`` blocks."""
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            yield from node.body
        else:
            yield node


def _resolve(module: str) -> str:
    while module not in MODULES and "." in module:
        module = module.rsplit(".", 1)[0]
    return module


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        deps = {dep for _, dep in _internal_imports(name, path)}
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        graph[name] = {d for dep in deps for d in _with_parents(dep)} - {name}
    return graph


def _with_parents(module: str):
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        candidate = ".".join(parts[:i])
        if candidate in MODULES:
            yield candidate


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep.startswith(node + "."):
                continue  # a package importing its own submodule is not a cycle through the package
            if colour.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in colour and (found := visit(dep)):
                return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if node not in colour and (found := visit(node)):
            return found
    return None


def test_no_import_cycle():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_small(name):
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{name} has {lines} lines (at most {MAX_LINES}): split it"


def test_core_imports_its_own_modules_at_the_top():
    """Below cli/, a function-level import of mirror_cli hides a cycle (STYLE.md); cli/ may defer
    a command's core modules to keep `mirror --version` and `mirror reflect` fast."""
    late = []
    for name, path in MODULES.items():
        if name.startswith("mirror_cli.cli"):
            continue
        top = {line for line, _ in _internal_imports(name, path, top_level_only=True)}
        late += [f"{name}:{line}" for line, _ in _internal_imports(name, path) if line not in top]
    assert not late, "function-level mirror_cli imports in the core: " + ", ".join(sorted(late))


def test_core_never_imports_typer_or_rich():
    offenders = []
    for name, path in MODULES.items():
        if name.startswith("mirror_cli.cli") or name == "mirror_cli.__main__":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{name} imports {m}" for m in mods if m.split(".")[0] in ("typer", "rich", "click")]
    assert not offenders, offenders


def test_one_process():
    """No process pools, forks, ctypes or self-spawned Python helpers: the editor is mirror's one child."""
    banned_modules = {"multiprocessing", "concurrent", "ctypes", "threading"}
    banned_calls = {"os.fork", "os.forkpty", "sys.executable", "gc.disable", "gc.freeze"}
    # The one exception, for security, not speed: prctl(PR_SET_DUMPABLE, 0) while a key is held.
    allowed = {("mirror_cli.crypto.unlocked", "ctypes")}
    offenders = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                offenders += [f"{name} imports {a.name}" for a in node.names
                              if a.name.split(".")[0] in banned_modules and (name, a.name) not in allowed]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in banned_modules:
                offenders.append(f"{name} imports {node.module}")
            elif isinstance(node, ast.Attribute) and ast.unparse(node) in banned_calls:
                offenders.append(f"{name} uses {ast.unparse(node)}")
    assert not offenders, offenders
