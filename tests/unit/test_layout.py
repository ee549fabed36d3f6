"""The library's layout holds: no import cycle between its modules, nothing in it imports the
orchestration layer (`steps/`, only the CLI does) or Airflow, and every module is in a package by
stage or in the shared plumbing at the top."""

import ast
from pathlib import Path

LIB = Path(__file__).resolve().parents[2] / "include" / "paper_trading"
#: The top-level modules: shared plumbing, the execution runner, and the CLI.
TOP = {"__init__", "__main__", "atomic", "cli", "config", "connections", "errors", "execution", "logging_setup",
       "orders", "paths", "symbols", "trading_calendar"}
STAGES = {"signals", "planning", "risk", "broker", "books", "ledger", "reporting", "alerts", "steps"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in LIB.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = ["paper_trading", *path.relative_to(LIB).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every library module `path` imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name.startswith("paper_trading"):
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    # a package's __init__ is not an edge of its own modules (importing a.b runs a/__init__ first)
    return {m: {i for i in _imports(p, modules) if i != m and not m.startswith(i + ".")} for m, p in modules.items()}


def test_the_library_has_no_import_cycle():
    graph, state, cycles = _graph(), {}, []

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_only_the_cli_and_the_steps_import_the_steps():
    importers = {m for m, deps in _graph().items() if any(d.startswith("paper_trading.steps") for d in deps)}
    assert {m for m in importers if not m.startswith("paper_trading.steps")} <= {"paper_trading.cli"}


def test_nothing_in_the_library_imports_airflow():
    for path in LIB.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.split(".")[0] == "airflow" for n in names), path


def test_every_module_is_in_a_stage_package_or_the_shared_plumbing():
    for path in LIB.glob("*.py"):
        assert path.stem in TOP, f"{path.name}: put it in a package by stage ({', '.join(sorted(STAGES))})"
    assert {p.name for p in LIB.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == STAGES
