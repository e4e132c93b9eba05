"""House rules a reader checks by eye, checked here so they stay kept.

- no source file over 400 lines (Python, C, the dashboard's JS/HTML/CSS);
- no comment or docstring that cites an issue number;
- no "keep in step" notes between two hand-written copies (a test compares them instead);
- no ``ImportError`` guard around an import of our own modules (only optional
  third-party packages may be missing; our own modules always ship).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from paths import REPO

PKG = REPO / "src" / "tinyops"
SOURCE_SUFFIXES = {".py", ".c", ".h", ".js", ".html", ".css", ".toml"}
MAX_LINES = 400
# "issue 5", "issue #5", "issues 4 and 6", "(#12)": built here so this file does not match itself
ISSUE = re.compile(r"\b" + "issue" + r"s?\s*#?\s*\d+|\(#\d+\)", re.IGNORECASE)
IN_STEP = re.compile(r"keep\b[\w ]{0,20}\bin " + "step", re.IGNORECASE)


def _sources() -> list[Path]:
    return sorted(p for p in PKG.rglob("*") if p.is_file() and p.suffix in SOURCE_SUFFIXES
                  and "__pycache__" not in p.parts)


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names: list[ast.expr] = []
    if isinstance(handler.type, ast.Tuple):
        names = list(handler.type.elts)
    elif handler.type is not None:
        names = [handler.type]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names)


def own_import_guards(source: str, filename: str = "<src>") -> list[int]:
    """Lines of ``try:`` blocks that import ``tinyops…`` and catch ImportError."""
    bad: list[int] = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Try) or not any(_catches_import_error(h) for h in node.handlers):
            continue
        for stmt in node.body:
            for sub in ast.walk(stmt):
                mods: list[str] = []
                if isinstance(sub, ast.Import):
                    mods = [a.name for a in sub.names]
                elif isinstance(sub, ast.ImportFrom):
                    mods = ["tinyops" if sub.level else (sub.module or "")]
                if any(m == "tinyops" or m.startswith("tinyops.") for m in mods):
                    bad.append(node.lineno)
    return bad


def issue_citations(text: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines(), 1) if ISSUE.search(line)]


def test_checks_can_fail() -> None:
    guarded = "try:\n    from tinyops.registry import builds\nexcept ImportError:\n    builds = None\n"
    third_party = "try:\n    import orjson\nexcept ImportError:\n    orjson = None\n"
    assert own_import_guards(guarded) == [1]
    assert own_import_guards(third_party) == []
    assert issue_citations("x = 1\n# the ops of " + "issue 5\n") == [2]
    assert issue_citations("# (re)issue new credentials\n") == []


def test_no_file_over_400_lines() -> None:
    long = [f"{p.relative_to(REPO)}: {n}" for p in _sources()
            if (n := len(p.read_text(errors="replace").splitlines())) > MAX_LINES]
    assert not long, "files over 400 lines:\n" + "\n".join(long)


def test_no_comments_cite_issue_numbers() -> None:
    found = [f"{p.relative_to(REPO)}:{line}" for p in _sources()
             for line in issue_citations(p.read_text(errors="replace"))]
    assert not found, "comments citing issue numbers:\n" + "\n".join(found)


def test_no_import_error_guards_around_our_modules() -> None:
    found = [f"{p.relative_to(REPO)}:{line}" for p in _sources() if p.suffix == ".py"
             for line in own_import_guards(p.read_text(), str(p))]
    assert not found, "ImportError guards around tinyops modules (import them plainly):\n" + "\n".join(found)


def test_no_keep_in_step_notes() -> None:
    assert IN_STEP.search("(the reference; keep the two in " + "step)")
    found = [f"{p.relative_to(REPO)}:{i}" for p in _sources()
             for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if IN_STEP.search(line)]
    assert not found, "two copies kept in step by hand (test them against each other):\n" + "\n".join(found)


def untyped_workspaces(source: str) -> list[int]:
    """Lines of functions whose ``ws`` parameter is not annotated as a Workspace."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
                if a.arg == "ws" and (a.annotation is None or "Workspace" not in ast.unparse(a.annotation)):
                    bad.append(node.lineno)
    return bad


def test_workspace_parameters_are_typed() -> None:
    assert untyped_workspaces("def f(ws: Any) -> None: ...\ndef g(ws: Workspace) -> None: ...\n") == [1]
    found = [f"{p.relative_to(REPO)}:{line}" for p in _sources() if p.suffix == ".py"
             for line in untyped_workspaces(p.read_text())]
    assert not found, "`ws` parameters not typed as Workspace:\n" + "\n".join(found)


def _calls(fn: ast.AST) -> list[str]:
    out = []
    for n in ast.walk(fn):
        if isinstance(n, ast.Call):
            f = n.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "atomic":
                continue
            out.append(f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else "")
            if isinstance(f, ast.Attribute) and f.attr == "replace" and len(n.args) == 1 and not n.keywords \
                    and not isinstance(n.args[0], ast.Constant):
                out.append("path.replace")
    return out


def own_atomic_writers(source: str) -> list[int]:
    """Functions that write a file and then rename it into place themselves."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            calls = _calls(node)
            writes = {"write_text", "write_bytes", "fdopen", "open", "save", "dump"} & set(calls)
            renames = {"path.replace", "rename"} & set(calls) or \
                any(c == "replace" for c in calls) and "os" in ast.unparse(node) and "os.replace" in ast.unparse(node)
            if writes and renames:
                bad.append(node.lineno)
    return bad


def test_one_atomic_writer_and_one_clock() -> None:
    assert own_atomic_writers("def f(p, tmp):\n    tmp.write_text('x')\n    tmp.replace(p)\n") == [1]
    assert own_atomic_writers("def f(p):\n    atomic.write_text(p, 'x')\n    return s.replace('a', 'b')\n") == []
    skip = {PKG / "atomic.py", PKG / "timestamps.py"}
    folders = {PKG / "devices" / "bundle.py"}  # writes a whole folder, then renames the folder: all or nothing
    writers = [f"{p.relative_to(REPO)}:{line}" for p in _sources() if p.suffix == ".py" and p not in skip | folders
               for line in own_atomic_writers(p.read_text())]
    assert not writers, "write through tinyops.atomic instead:\n" + "\n".join(writers)
    clocks = [f"{p.relative_to(REPO)}:{i}" for p in _sources() if p.suffix == ".py" and p not in skip
              for i, line in enumerate(p.read_text().splitlines(), 1)
              if re.search(r"datetime\.now\(|utcnow\(|\.isoformat\(", line)]
    assert not clocks, "take UTC times from tinyops.timestamps:\n" + "\n".join(clocks)


# Where a reference string may be read: the CLI (user input) and the registry (whose
# lookups turn a reference into its object). Everything else receives the objects.
REF_READERS = ("cli", "registry")
NOT_REFERENCES = {  # file -> why its split is not reading a model reference
    "ml/architectures.py": "a recipe's `module:function` architecture",
    "agent/desired.py": "the model line of build manifests written before `model_line` existed",
    "devices/tickets.py": "the model line of build manifests written before `model_line` existed",
}


def reference_parsing(source: str) -> list[int]:
    """Lines that parse a reference: parse_ref(), or a split/partition on ':' or '@'."""
    bad = []
    for n in ast.walk(ast.parse(source)):
        if not isinstance(n, ast.Call):
            continue
        f = n.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        if name == "parse_ref" or (name in ("split", "rsplit", "partition", "rpartition") and n.args
                                   and isinstance(n.args[0], ast.Constant) and n.args[0].value in (":", "@")):
            bad.append(n.lineno)
    return sorted(bad)


def test_references_are_parsed_only_in_the_cli_and_the_registry() -> None:
    assert reference_parsing("ref = model_ref.split(':')[0]\nr = parse_ref(text)\nx = s.split(',')\n") == [1, 2]
    found = []
    for p in _sources():
        rel = p.relative_to(PKG).as_posix()
        if p.suffix != ".py" or rel.split("/")[0] in REF_READERS or rel in NOT_REFERENCES:
            continue
        found += [f"{rel}:{line}" for line in reference_parsing(p.read_text())]
    assert not found, "reference parsing below the CLI (resolve in cli/, pass the object down):\n" + "\n".join(found)
