"""Layers point down and there are no import circles.

Every module under src/tinyops is parsed (ast, not imported); every `import` and
`from … import` counts, also those inside functions — a lazy import is still a
dependency. Only imports under `if TYPE_CHECKING:` are left out (they never run).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from paths import REPO

SRC = REPO / "src"
PKG = SRC / "tinyops"

# package (first part below tinyops) -> packages it must never import
FORBIDDEN: dict[str, set[str]] = {
    "registry": {"ml", "devices", "fleet", "agent", "monitor", "pipeline", "cli", "ui"},
    "runtimes": {"ml", "devices", "fleet", "agent", "monitor", "pipeline", "cli", "ui"},
    "agent": {"ml", "cli", "ui", "pipeline"},
}
# The feature transforms are numpy only and shared on purpose: the Pi agent computes a
# build's features with the code training used. They import nothing of ml/ beyond each other.
SHARED_DOWN = {"agent": {"tinyops.ml.features"}}
SHARED_MODULES = {"tinyops.ml.features", "tinyops.ml.signal_features"}
NO_TENSORFLOW = {"agent", "runtimes", "registry", "fleet"}  # not even lazily
TENSORFLOW = {"tensorflow", "keras", "tf_keras"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {module_name(p): p for p in PKG.rglob("*.py")
            if "firmware" not in p.relative_to(PKG).parts}


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_pkg: bool) -> list[tuple[str, int]]:
    """(imported module, line) for every import that can run."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for n in node.orelse:
                visit(n)
            return
        if isinstance(node, ast.Import):
            found.extend((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".") if is_pkg else module.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.append((sub if sub in MODULES else base, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def graph() -> dict[str, list[tuple[str, int]]]:
    g: dict[str, list[tuple[str, int]]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        g[name] = _imports(tree, name, path.name == "__init__.py")
    return g


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _internal(target: str) -> str | None:
    """The tinyops module an import refers to (the longest known prefix)."""
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        if name in MODULES:
            return name
        parts.pop()
    return None


def cycles(g: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    edges = {m: sorted({t for t in (_internal(x) for x, _ in imps) if t and t != m}) for m, imps in g.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
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

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in sorted(edges):
            if v not in index:
                strong(v)
    finally:
        sys.setrecursionlimit(limit)
    return out


def violations(g: dict[str, list[tuple[str, int]]]) -> list[str]:
    bad: list[str] = []
    for m, imps in sorted(g.items()):
        layer = _layer(m)
        for target, line in imps:
            top = target.split(".")[0]
            if top in TENSORFLOW and layer in NO_TENSORFLOW:
                bad.append(f"{m}:{line} imports {target} ({layer}/ must not import TensorFlow)")
            inner = _internal(target)
            if inner is None:
                continue
            to = _layer(inner)
            if to == "cli" and layer != "cli" and m != "tinyops.__main__":  # the `python -m tinyops` entry point
                bad.append(f"{m}:{line} imports {inner} (only cli/ imports cli/)")
            if to in FORBIDDEN.get(layer, set()) and inner not in SHARED_DOWN.get(layer, set()):
                bad.append(f"{m}:{line} imports {inner} ({layer}/ must not import {to}/)")
    return bad


def test_parser_sees_known_imports() -> None:
    g = graph()
    assert len(g) > 50
    assert any(t == "tinyops.errors" for t, _ in g["tinyops.workspace"])
    assert any(t == "tinyops.errors" for t, _ in g["tinyops.runtimes"])


def test_checks_can_fail() -> None:
    fake = {"tinyops.errors": [("tinyops.workspace", 1)], "tinyops.workspace": [("tinyops.errors", 2)]}
    assert cycles(fake) == [["tinyops.errors", "tinyops.workspace"]]
    up = {"tinyops.registry.models": [("tinyops.ml.train", 3), ("tensorflow", 4)], "tinyops.fleet.api": [("tinyops.cli.common", 5)]}
    assert violations(up) == ["tinyops.fleet.api:5 imports tinyops.cli.common (only cli/ imports cli/)",
                              "tinyops.registry.models:3 imports tinyops.ml.train (registry/ must not import ml/)",
                              "tinyops.registry.models:4 imports tensorflow (registry/ must not import TensorFlow)"]


def test_shared_feature_modules_stay_numpy_only() -> None:
    g = graph()
    for m in SHARED_MODULES:
        for target, line in g[m]:
            inner = _internal(target)
            assert target.split(".")[0] not in TENSORFLOW, f"{m}:{line} imports {target}"
            assert inner is None or inner in SHARED_MODULES or _layer(inner) in ("errors", ""), \
                f"{m}:{line} imports {inner}: the agent imports {m}, so it may import only numpy and tinyops.errors"


def test_no_import_circles() -> None:
    found = cycles(graph())
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_layers_point_down() -> None:
    bad = violations(graph())
    assert not bad, "imports against the layering:\n" + "\n".join(bad)
