"""The package's layout: stages import only the stages below them, no module imports itself in a
circle, and modules stay small enough to read in one sitting (docs/architecture.md).

Read from the source with ``ast``, so every import counts, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "iapt_report"

#: Each part of the package and its stage: a module may import its own stage and the ones below.
STAGES = {
    "iapt_report": 0,  # the package's own __init__: its version, nothing else
    "iapt_report.reference": 0,
    "iapt_report.data": 1,
    "iapt_report.outputs": 2,
    "iapt_report.engine": 3,
    "iapt_report.sources": 4,
    "iapt_report.report": 5,
    "iapt_report.cli": 6,
    "iapt_report.cli_publication": 6,
    "iapt_report.__main__": 6,
}

#: Longest module (lines) unless its docstring says why it is kept as one module.
MAX_LINES = 400
LONG_MODULE_NOTE = "one module"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def stage_of(name: str) -> int:
    while name not in STAGES:
        if "." not in name:
            raise KeyError(name)
        name = name.rsplit(".", 1)[0]
    return STAGES[name]


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports (relative imports resolved)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from package import module` imports the module; `from module import name`, the module
            targets = [f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin
                       for alias in node.names]
        else:
            continue
        found |= {target for target in targets if target == "iapt_report" or target.startswith("iapt_report.")}
    return found - {name}


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def test_every_module_belongs_to_a_stage():
    for name in modules():
        stage_of(name)  # raises KeyError for a module outside every stage


def test_lower_stages_never_import_higher_ones():
    upward = [f"{name} (stage {stage_of(name)}) imports {target} (stage {stage_of(target)})"
              for name, targets in import_graph().items() for target in sorted(targets)
              if stage_of(target) > stage_of(name)]
    assert upward == []


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other, directly or not."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_import_cycles():
    cycles = [group for group in strongly_connected(import_graph()) if len(group) > 1]
    assert cycles == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert sorted(map(sorted, strongly_connected(graph))) == [["a", "b", "c"], ["d"]]


def test_relative_imports_are_resolved(tmp_path):
    module = tmp_path / "build.py"
    module.write_text("from ..engine.measures import X\nfrom . import charts\nfrom .charts import style\n")
    known = {"iapt_report.report.charts", "iapt_report.report.charts.style", "iapt_report.engine.measures"}
    assert imports_of("iapt_report.report.build", module, known) == {
        "iapt_report.engine.measures", "iapt_report.report.charts", "iapt_report.report.charts.style"}


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_are_small_or_say_why_not(name):
    path = modules()[name]
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n")
    if lines > MAX_LINES:
        docstring = ast.get_docstring(ast.parse(text)) or ""
        assert LONG_MODULE_NOTE in docstring.lower(), (
            f"{path.relative_to(PACKAGE.parent)} has {lines} lines: split it by concern, or say in its "
            f"docstring why it is kept as {LONG_MODULE_NOTE}")
