"""The package's shape: no import cycle (function-level imports included), small modules, few
loose modules, and the run-directory layer free of torch.

The import graph is read from the source with :mod:`ast`, so an import inside a function or
behind ``TYPE_CHECKING`` counts like one at the top of a module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("autolabel", "exporters")
MAX_LINES = 500
MAX_LOOSE = 12


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules that module ``name`` imports anywhere in its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` where there is one.
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # ``import a.b.c`` of a name inside a module
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(name, path, known) for name, path in mods.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_reader_counts_function_level_and_relative_imports(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from autolabel.x import y\n    from .z import w\n")
    assert _imports("autolabel.p.m", src, {"autolabel.x", "autolabel.x.y", "autolabel.p.z"}) == {"autolabel.x.y", "autolabel.p.z"}


def test_no_import_cycle_between_modules():
    assert _cycles(_graph()) == []


def test_no_module_is_over_the_line_limit():
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_few_loose_modules_in_the_package_root():
    loose = sorted(p.name for p in (ROOT / "autolabel").glob("*.py"))
    assert len(loose) <= MAX_LOOSE, loose


def test_the_discovery_package_never_imports_the_model_layer_or_the_pipeline():
    graph = _graph()
    bad = {m: sorted(t for t in deps if t.startswith(("autolabel.models", "autolabel.pipeline", "autolabel.cli")))
           for m, deps in graph.items() if m.startswith("autolabel.discovery")}
    assert {m: d for m, d in bad.items() if d} == {}


def test_nothing_imports_the_cli_and_the_package_reaches_exporters_only_through_entry_points():
    graph = _graph()
    callers = sorted(m for m, deps in graph.items() if any(d.startswith("autolabel.cli") for d in deps))
    assert [m for m in callers if not m.startswith(("autolabel.cli", "autolabel.__main__"))] == []
    assert sorted(m for m, deps in graph.items() if m.startswith("autolabel") and any(d.startswith("exporters") for d in deps)) == []


@pytest.mark.parametrize("module", ["autolabel.run", "autolabel.store", "autolabel.formats", "autolabel.export"])
def test_the_run_directory_layer_loads_no_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
