"""The package's layout holds: no import cycles (imports inside functions included), and the
pure layers import no IO."""

from __future__ import annotations

import ast
from pathlib import Path

import streamer

ROOT = Path(streamer.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py") if p.name != "__main__.py"}


def imports_of(name: str) -> set[str]:
    """The streamer modules ``name`` imports, anywhere in it (functions included).
    ``from pkg import sub`` counts as importing the module ``pkg.sub`` when it is one."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}: relative import (one import style: absolute)"
            base = node.module or ""
            for a in node.names:
                out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base)
    return {m for m in out if m in MODULES and m != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _reach(name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        for m in GRAPH[todo.pop()]:
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return seen


def test_change_detection_and_the_contract_stay_free_of_io() -> None:
    """track/ (pure change detection) and contract/ reach no HTTP, Kafka, engine or ops module
    (``contract.files`` writes the files, and the config schema names the registry's vendors)."""
    io_layers = ("streamer.http", "streamer.kafka", "streamer.engine", "streamer.ops", "streamer.cli",
                 "streamer.cluster", "streamer.vendors", "streamer.simulator")
    for name in MODULES:
        if name.startswith(("streamer.track", "streamer.contract")) and name != "streamer.contract.files":
            bad = sorted(m for m in _reach(name) if m.startswith(io_layers))
            assert not bad, f"{name} reaches {bad}"
