"""The package layout: dependencies point one way, and no module imports itself back.

Covers the layout issue: ``cli → testing → conformance → explainers, reference → keras_model``;
the two implementations never import each other (they meet only in the comparison), nothing
below the command line imports it, and no chain of imports between modules of ``refdeconv``
closes on itself (read from the source with ``ast``, lazy imports inside functions included).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "refdeconv"

#: package -> packages it may import (besides itself).
ALLOWED = {
    "keras_model": set(),
    "reference": {"keras_model"},
    "explainers": {"keras_model"},
    "projections": {"explainers", "keras_model"},
    "conformance": {"explainers", "reference", "keras_model", "__init__"},
    "reproduce": {"conformance", "explainers", "reference", "keras_model", "testing"},
    "testing": {"conformance"},
    "cli": {"conformance", "explainers", "projections", "reference", "reproduce", "testing", "__init__"},
    "__init__": {"explainers", "projections", "reference", "testing"},
    "__main__": {"cli"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict:
    """``module -> set of refdeconv modules it imports`` (absolute names, packages resolved)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module or ""
                names = {f"{target}.{alias.name}" for alias in node.names}
                found |= {n for n in names if n in modules}
                if target in modules and not names <= set(modules):  # names defined in the module itself
                    found.add(target)
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names if alias.name in modules}
        graph[name] = {m for m in found if m.startswith("refdeconv") and m != name}
    return graph


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_import_points_down_the_layers():
    bad = [f"{m} imports {t}" for m, targets in _imports().items() for t in targets
           if _area(t) != _area(m) and _area(t) not in ALLOWED[_area(m)]]
    assert not bad, "imports against the layering: " + "; ".join(sorted(bad))


def test_no_import_circles():
    graph, state, cycles = _imports(), {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:  # a package whose __init__ is the module itself
                continue
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, f"import circles: {cycles}"


def test_top_level_is_a_handful_of_concerns():
    entries = sorted(p.name for p in PACKAGE.iterdir() if p.name != "__pycache__")
    assert len(entries) <= 10, f"refdeconv/ holds {len(entries)} entries: {entries}"


@pytest.mark.parametrize("module", ["refdeconv", "refdeconv.cli", "refdeconv.cli.app", "refdeconv.cli.commands",
                                    "refdeconv.testing", "refdeconv.conformance.tolerances"])
def test_light_modules_do_not_import_tensorflow(module):
    code = f"import sys, {module}; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", f"importing {module} imports TensorFlow"
