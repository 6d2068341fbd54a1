"""The rooms of genenv import one way: no cycle between subpackages, lazy imports included.

The graph is read from the source with the standard library's `ast` (nothing is imported), so an
import inside a function or under `if TYPE_CHECKING:` counts as an edge like any other, and so
does a string that names a genenv module (`importlib.import_module("genenv.envs.vector")`, a
registry entry, an entry point "genenv.envs.single:DreamEnv").
A room is a subpackage (`genenv.worlds`, `genenv.envs`, ...), a top-level module (`genenv.loop`)
or the package root `genenv` itself (what `genenv/__init__.py` defines).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import genenv

ROOT = Path(genenv.__file__).resolve().parent
MODULE_STRING = re.compile(r"genenv(\.\w+)+(:\w+)?")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    """Whether the dotted genenv name is a module or package in the source tree."""
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    return (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel / "__init__.py").is_file()


def room(name: str) -> str:
    """`genenv.envs.vector` -> `genenv.envs`; `genenv.loop` -> `genenv.loop`; `genenv` -> `genenv`."""
    return ".".join(name.split(".")[:2])


def imported_modules(path: Path) -> set[str]:
    """Every genenv module that `path` imports anywhere in its body."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            target = node.value.partition(":")[0]
            if MODULE_STRING.fullmatch(node.value) and _is_module(target):
                found.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:  # `from genenv import prompts` imports genenv.prompts
                sub = f"{source}.{alias.name}"
                found.add(sub if _is_module(sub) else source)
    return {m for m in found if m == "genenv" or m.startswith("genenv.")}


def room_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        src = room(_module_name(path))
        graph.setdefault(src, set())
        for target in imported_modules(path):
            if room(target) != src:
                graph[src].add(room(target))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search with colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_graph_reader_sees_lazy_and_string_imports():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    # a function-level import is an edge like a top-level one
    assert "genenv.worlds.drawing" in imported_modules(ROOT / "envs" / "single.py")
    assert "genenv.run_cli" in imported_modules(ROOT / "cli.py")  # a registry of module names
    assert room("genenv.worlds.draw") == "genenv.worlds"


def test_no_import_cycle_between_rooms():
    graph = room_graph()
    assert {"genenv.worlds", "genenv.envs", "genenv.recording"} <= set(graph)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle between genenv rooms: " + " -> ".join(cycle or [])


def test_rooms_below_recording_do_not_import_it():
    """Drawing a MuJoCo state is a worlds capability; envs and prompts never reach recording."""
    graph = room_graph()
    for low in ("genenv.worlds", "genenv.data", "genenv.models", "genenv.envs", "genenv.prompts"):
        assert "genenv.recording" not in graph[low], f"{low} imports genenv.recording"


def test_the_lower_rooms_import_only_downwards():
    """worlds -> data -> models -> envs: each imports only rooms before it, or leaf helpers
    (rooms that import no genenv room themselves, such as genenv.version)."""
    graph = room_graph()
    order = ["genenv.worlds", "genenv.data", "genenv.models", "genenv.envs"]
    leaves = {room for room, targets in graph.items() if not targets} - set(order)
    for i, low in enumerate(order):
        allowed = set(order[:i]) | leaves
        assert graph[low] <= allowed, f"{low} imports {sorted(graph[low] - allowed)}"
