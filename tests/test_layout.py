"""The package's import rules (written in ``companion/__init__.py``), read from every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "companion"
WINGS = ("core", "training", "landscapes", "convexity", "duality", "book")
#: the wings each wing may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "training": {"core"},
    "convexity": {"core"},
    "duality": {"core"},
    "landscapes": {"core", "training"},
    "book": set(WINGS),
}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    rel = path.relative_to(package.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, package: Path = PACKAGE) -> set[str]:
    """The ``companion.*`` modules that ``path`` imports (anywhere in it, lazy imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path, package).split(".")
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "companion"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:                                     # relative: from . import x / from .m import y
                base = me[: len(me) - node.level + (1 if path.name == "__init__.py" else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "companion":
                continue
            for a in node.names:                               # `from companion.core import fanout` names a module
                sub = f"{mod}.{a.name}"
                found.add(sub if (package.parent / Path(*sub.split("."))).with_suffix(".py").exists()
                          or (package.parent / Path(*sub.split("."))).is_dir() else mod)
    return found


def wing_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in WINGS else None


def violations(package: Path = PACKAGE) -> list[str]:
    """Every import that breaks a rule, and every circle between modules, in words."""
    graph: dict[str, set[str]] = {}
    bad: list[str] = []
    for path in sorted(package.rglob("*.py")):
        me = module_name(path, package)
        deps = imports_of(path, package)
        graph[me] = deps
        mine = wing_of(me)
        for dep in deps:
            theirs = wing_of(dep)
            if mine is None or theirs is None or theirs == mine:
                continue
            if theirs not in ALLOWED[mine]:
                may = f"only {', '.join(sorted(ALLOWED[mine]))}" if ALLOWED[mine] else "nothing else of the package"
                bad.append(f"{me} imports {dep}: {mine} may import {may}")
    # circles: depth-first search over modules (a package's __init__ counts as its own module)
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if d not in graph:
                continue
            if state.get(d) == 1:
                bad.append("circle: " + " → ".join(stack[stack.index(d):] + [d]) if d in stack else f"circle at {d}")
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return bad


def test_every_module_lives_in_a_wing():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert not loose, f"modules outside the wings: {loose}"
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == set(WINGS)


def test_the_import_rules_hold():
    assert violations() == []


def _fake_package(tmp_path: Path, files: dict[str, str]) -> Path:
    pkg = tmp_path / "companion"
    for rel, text in {"__init__.py": "", **{f"{w}/__init__.py": "" for w in WINGS}, **files}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    return pkg


@pytest.mark.parametrize("files, expected", [
    ({"core/stats.py": "from companion.training import nets\n", "training/nets.py": ""}, "core may import nothing else"),
    ({"duality/x.py": "def f():\n    from companion.landscapes.plane import Plane\n", "landscapes/plane.py": ""},
     "duality may import only core"),
    ({"training/a.py": "import companion.book.claims\n", "book/claims.py": ""}, "training may import only core"),
    ({"training/a.py": "from companion.training import b\n", "training/b.py": "from companion.training.a import f\n"},
     "circle"),
])
def test_a_bad_import_is_caught(tmp_path, files, expected):
    found = violations(_fake_package(tmp_path, files))
    assert any(expected in v for v in found), found


def test_good_imports_pass(tmp_path):
    pkg = _fake_package(tmp_path, {"core/stats.py": "import numpy\n", "training/nets.py": "from companion.core import stats\n",
                                   "landscapes/plane.py": "from companion.training.nets import x\nfrom . import y\n",
                                   "landscapes/y.py": "", "book/cli.py": "from companion.landscapes import plane\n"})
    assert violations(pkg) == []
