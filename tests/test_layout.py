"""The package layout: no import cycles among wifisense modules (function-level imports count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import wifisense

ROOT = Path(wifisense.__file__).parent


def module_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """wifisense module -> the wifisense modules it imports anywhere in its file."""
    files = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        files[name] = path
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in files and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles():
    graph = module_graph()
    assert "wifisense.runs.study" in graph and "wifisense.runs.results" in graph["wifisense.runs.study"]
    assert cycles(graph) == []


SHARED_ROOMS = ("io", "signal", "sim", "nn", "training", "runs", "metrics", "report", "live")
TASKS = ("caption", "track")


def test_shared_rooms_import_no_task():
    """DESIGN.md: arrows point one way; caption and track use the shared rooms, never the reverse."""
    graph = module_graph()
    wrong = sorted(f"{name} -> {target}" for name, targets in graph.items()
                   if name.split(".")[1:2] and name.split(".")[1] in SHARED_ROOMS
                   for target in targets if target.split(".")[1:2] and target.split(".")[1] in TASKS)
    assert wrong == []
    # and the two tasks do not import each other
    crossing = sorted(f"{name} -> {target}" for name, targets in graph.items()
                      if name.split(".")[1:2] and name.split(".")[1] in TASKS
                      for target in targets if target.split(".")[1:2] and target.split(".")[1] in TASKS
                      and target.split(".")[1] != name.split(".")[1])
    assert crossing == []
