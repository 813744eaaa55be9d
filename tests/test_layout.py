"""The package is layered: every import of phonerec code, function-level ones included, goes down
(or sideways inside a layer without a cycle), so each subpackage reads as one stage of the data flow."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "phonerec"

# Lowest first. A module may import modules of its own layer or of a lower one, never of a higher one.
LAYERS = [
    ("ground", ["phonerec.phones", "phonerec.fileio", "phonerec.logs", "phonerec.textgrid", "phonerec.segments",
                "phonerec.records", "phonerec.errors", "phonerec.model_config", "phonerec.config"]),
    ("models", ["phonerec.models"]),
    ("features", ["phonerec.features"]),
    ("corpora", ["phonerec.corpora"]),
    ("data", ["phonerec.data"]),
    ("decoding", ["phonerec.decoding"]),
    ("evaluation", ["phonerec.evaluation"]),
    ("training", ["phonerec.training"]),
    ("inference", ["phonerec.inference"]),
    ("experiment", ["phonerec.experiment", "phonerec.smoke"]),
    ("transcribe", ["phonerec.transcribe", "phonerec.forced_alignment"]),
    ("api", ["phonerec.api", "phonerec.corpus_alignment"]),  # corpus_alignment trains: never imported by api
    ("commands", ["phonerec.commands", "phonerec.__main__", "phonerec"]),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(name: str) -> int:
    best = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if name == prefix or name.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (rank, len(prefix))
    if best is None:
        raise AssertionError(f"module {name} is in no layer of tests/test_layout.py: add it where it belongs")
    return best[0]


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every phonerec module `path` imports, anywhere in the file (`from a.b import c` counts as a.b.c
    when c is a module, else a.b)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "phonerec"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "phonerec":
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.add(sub if sub in known else target)
    return out - {name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def test_every_module_is_in_a_layer_and_imports_only_go_down():
    bad = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
           for m, targets in graph().items() for t in sorted(targets) if layer_of(t) > layer_of(m)]
    assert not bad, "imports that go up a layer:\n  " + "\n  ".join(bad)


def test_import_graph_has_no_cycle():
    g = graph()
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(g.get(m, ())):
            if state.get(t) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)


def test_the_checker_sees_function_level_imports_and_cycles(tmp_path):
    """The checks above must see what they are for: an import inside a function, and a cycle."""
    pkg = tmp_path / "phonerec"
    pkg.mkdir()
    (pkg / "a.py").write_text("def f():\n    from phonerec.b import g\n")
    (pkg / "b.py").write_text("from phonerec import a\n")
    known = {"phonerec.a", "phonerec.b"}
    assert imports_of("phonerec.a", pkg / "a.py", known) == {"phonerec.b"}
    assert imports_of("phonerec.b", pkg / "b.py", known) == {"phonerec.a"}


# What using a model must never pull in: the training loop, data loading, experiment glue, SpecAugment.
TRAINING_ONLY = ("phonerec.experiment", "phonerec.training.trainer", "phonerec.data", "phonerec.features.augment")
INFERENCE = ("phonerec.inference", "phonerec.transcribe", "phonerec.forced_alignment", "phonerec.api", "phonerec.serve")


def reachable(g: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for t in g.get(todo.pop(), ()):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


def test_inference_never_reaches_the_trainer():
    """`from phonerec import Recognizer` (and the page) load a model without the training machinery."""
    g = graph()
    bad = {m: sorted(t for t in reachable(g, m) if t.startswith(TRAINING_ONLY))
           for m in g if m.startswith(INFERENCE)}
    assert not {m: ts for m, ts in bad.items() if ts}, bad
    assert reachable({"a": {"b"}, "b": {"c"}}, "a") == {"b", "c"}  # the walk follows imports of imports


def test_importing_the_recognizer_loads_no_training_module():
    import subprocess
    import sys

    code = ("import phonerec, sys; phonerec.Recognizer; print(sorted(m for m in sys.modules if m.startswith("
            "('phonerec.experiment', 'phonerec.training.trainer', 'phonerec.data'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_every_subpackage_says_what_it_is():
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 20, f"{init} needs a docstring saying what the package is for"


def test_no_source_file_but_data_is_over_400_lines():
    long = {str(p.relative_to(SRC)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"split these along their seams: {long}"
