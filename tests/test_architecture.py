"""The layering rules of the package, checked on its source and on what importing it loads.

- Nothing under faultedge/ir, hdl, sim or fpga imports torch, brevitas or faultedge.quant (the IR
  is the only contract between quantisation and the integer consumers).
- The cycle model reads the plan only: planning loads no Amaranth.
- Module imports form no cycles (function-level imports included).
- Building the CLI parser loads none of torch, Brevitas or Amaranth, so `faultedge --help` is quick.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "faultedge"
INTEGER_SIDE = ("ir", "hdl", "sim", "fpga")
FORBIDDEN = ("torch", "brevitas", "faultedge.quant")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth of its code (function-level imports too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def sources() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def forbidden_imports(package_dirs: tuple[str, ...] = INTEGER_SIDE) -> list[str]:
    bad = []
    for name, path in sorted(sources().items()):
        if name.split(".")[1:2] and name.split(".")[1] in package_dirs:
            bad += [f"{name} imports {m}" for m in sorted(imports(path)) if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    return bad


def test_the_integer_side_imports_no_torch_brevitas_or_quant():
    assert forbidden_imports() == []


def test_the_rule_check_catches_a_violation(tmp_path, monkeypatch):
    """The check itself can fail: a file under hdl/ that imports torch inside a function is reported."""
    fake = tmp_path / "faultedge"
    (fake / "hdl").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "hdl" / "__init__.py").write_text("")
    (fake / "hdl" / "leak.py").write_text("def f():\n    from faultedge.quant import qat\n    import torch.nn\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert forbidden_imports() == ["faultedge.hdl.leak imports faultedge.quant", "faultedge.hdl.leak imports faultedge.quant.qat",
                                   "faultedge.hdl.leak imports torch.nn"]


def _loaded_by(statement: str) -> list[str]:
    code = f"import sys; {statement}; print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'brevitas', 'amaranth') or m.startswith('faultedge.quant'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    return sorted({m.split(".")[0] if not m.startswith("faultedge.quant") else "faultedge.quant" for m in out.split(",") if m})


@pytest.mark.parametrize("statement, allowed", [
    # every integer-side module at once: the transitive imports obey the rule too (Amaranth is theirs to use)
    ("import importlib, pkgutil, faultedge; [importlib.import_module(m.name) for p in ('ir', 'hdl', 'sim', 'fpga') "
     "for m in pkgutil.walk_packages([f'{faultedge.__path__[0]}/{p}'], f'faultedge.{p}.')]", ["amaranth"]),
    ("import faultedge.hdl.cycles, faultedge.hdl.plan, faultedge.hdl.image_plan, faultedge.hdl.design, faultedge.hdl.frontend.iterative_cycles", []),  # planning without Amaranth
    ("from faultedge.cli import build_parser; build_parser()", []),
])
def test_what_importing_loads(statement, allowed):
    assert _loaded_by(statement) == allowed


def test_no_import_cycles():
    mods = sources()
    graph = {name: {m for m in imports(path) if m in mods and m != name} for name, path in mods.items()}
    cycles, index, low, stack, on_stack = [], {}, {}, [], set()

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []
