"""The layout's import rules, checked on the source: one-way arrows and no cycles.

Every import counts, lazy ones inside functions included; only ``if TYPE_CHECKING:`` imports,
which never run, are left out.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("raysweep", "search", "trainables")
LEAVES = {"search.errors", "search.version", "search._tune_compat"}
# The parts of trainables a spec may read: plain data, no torch.
TORCH_FREE_TRAINABLES = {
    "trainables",
    "trainables.config",
    "trainables.architecture",
    "trainables.layout",
    "trainables.data",
    "trainables.tabular",
    "trainables.storage",
    "trainables.atomic",
    "trainables.recipe",
    "trainables.sources",
    "trainables.factories",
    "trainables.image_folder",
}
ALLOWED = {
    "api": {"api", "cli", "sweep", "views", "results", "spec", "trainables", "leaf"},
    "cli": {"cli", "sweep", "views", "results", "spec", "leaf"},
    "sweep": {"sweep", "spec", "trainables", "views", "results", "leaf"},
    # Showing a sweep (terminal view, dashboard) reads results; it never runs one.
    "views": {"views", "results", "spec", "trainables", "leaf"},
    "results": {"results", "spec", "trainables", "leaf"},
    "spec": {"spec", "trainables", "leaf"},
    "trainables": {"trainables"},
    "leaf": set(),
}


def layer(module: str) -> str:
    if module in LEAVES:
        return "leaf"
    if module.startswith("raysweep"):
        return "api"
    if module == "search.cli":
        return "cli"
    if module.startswith("trainables"):
        return "trainables"
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in ("spec", "sweep", "views", "results"):
        return parts[1]
    return "leaf" if module == "search" else "unknown"


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``module`` imports; ``from pkg import name`` counts as pkg.name
    when that is a module, else as pkg."""
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                for a in node.names
            ]
        else:
            continue
        out.update(n for n in names if n.split(".")[0] in PACKAGES and n != module)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports_of(m, p, known) & set(known) for m, p in known.items()}


def test_every_module_sits_in_a_known_layer():
    assert sorted(m for m in graph() if layer(m) == "unknown") == []


def test_imports_point_one_way():
    wrong = sorted(
        f"{m} -> {target}"
        for m, targets in graph().items()
        for target in targets
        if layer(target) not in ALLOWED[layer(m)]
    )
    assert wrong == []


def test_a_spec_reads_only_the_torch_free_parts_of_trainables():
    wrong = sorted(
        f"{m} -> {t}"
        for m, targets in graph().items()
        if layer(m) == "spec"
        for t in targets
        if layer(t) == "trainables" and t not in TORCH_FREE_TRAINABLES
    )
    assert wrong == []


def test_only_the_trainables_import_ray_in_trainables():
    """The Tune trainable, and the Ray Train run a data-parallel trial drives."""
    importers = set()
    for module, path in modules().items():
        if layer(module) != "trainables":
            continue
        for node in _runtime_nodes(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "ray" or n.startswith("ray.") for n in names):
                importers.add(module)
    assert importers == {"trainables.trainable", "trainables.ray_train"}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_there_is_no_import_cycle():
    assert find_cycle(graph()) is None


def test_the_cycle_finder_finds_a_cycle_and_the_layer_check_a_wrong_arrow():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert "results" not in ALLOWED[layer("search.spec.space")]
    assert "sweep" not in ALLOWED[layer("search.views.terminal")]
    assert layer("search.sweep.run") == "sweep" and layer("search._tune_compat") == "leaf"


def test_private_ray_attributes_are_used_only_in_the_compat_module():
    """``obj._name`` on anything but ``self``/``cls``, in raysweep's own code, only there."""
    offenders = []
    for module, path in modules().items():
        if module == "search._tune_compat":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                offenders.append(f"{module}: .{node.attr}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any("._" in n for n in names if n.startswith(("ray", "optuna"))):
                    offenders.append(f"{module}: import {names}")
    assert offenders == []


def _fresh_import(code: str) -> list[str]:
    heavy = "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'ray', 'optuna'}))"
    done = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\n{heavy}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return eval(done.stdout.strip().splitlines()[-1])  # noqa: S307 - our own printed list


@pytest.mark.parametrize(
    "code",
    [
        "import search.spec",
        "from search.spec import load_spec; load_spec('examples/digits.yaml')",
        "import search.cli, search.results",
        "import trainables.config, trainables.architecture, trainables.layout",
        "import raysweep; raysweep.load('examples/digits.yaml')",
    ],
)
def test_reading_a_spec_imports_neither_torch_nor_ray(code):
    assert _fresh_import(code) == []
