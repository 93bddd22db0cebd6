"""The package boundaries docs/architecture.md promises, read from the source (imports, not behaviour):
no import circles, `plumbing` below everything, `data_pipeline` never reaching into `pretrain`, and DeepSpeed
imported in the training path only by the DeepSpeed step engine."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("plumbing", "data_pipeline", "pretrain", "launch")

# Where `import deepspeed` may appear under pretrain/: the step engine (the training path's one door), and the
# offline weight reader behind inference/export (DeepSpeed's own zero_to_fp32 merges ZeRO partitions).
DEEPSPEED_IMPORTERS = {
    "pretrain.engine.deepspeed_engine",
    "pretrain.engine.deepspeed_grad_norm",
    "pretrain.engine.deepspeed_checkpoint_io",  # DeepSpeed's checkpoint-engine seam, routed to our ShardWriter
    "pretrain.weights.training_checkpoint",  # checkpoint_weights: zero_to_fp32 (model weights only)
    "pretrain.checkpoint.universal_convert",  # ds_to_universal made resumable (run in a subprocess)
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imported_modules(path: Path) -> set[str]:
    """Every module this file imports, at any depth (lazy imports count: they run too), except TYPE_CHECKING."""
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if is_type_checking_block(node):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for package in PACKAGES for p in (REPO / package).rglob("*.py")}
    return {name: {m for m in imported_modules(path) if m in files and m != name} for name, path in files.items()}


def test_no_import_circles(graph):
    """A circle means neither side can be understood (or imported) alone; the old validate ↔ buckets one was
    dodged with a function-level import, which this test counts too. A package's __init__ re-exporting its own
    modules is not a circle (those modules import siblings, not the package)."""
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue  # a package and its own submodules
            if state.get(nxt) == 1:
                circles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert circles == []


@pytest.mark.parametrize(("package", "forbidden"), [
    ("plumbing", ("data_pipeline", "pretrain", "launch")),
    ("data_pipeline", ("pretrain", "launch")),
])
def test_lower_packages_never_import_higher_ones(graph, package, forbidden):
    crossings = sorted(f"{name} → {m}" for name, imports in graph.items() if name.split(".")[0] == package
                       for m in imports if m.split(".")[0] in forbidden)
    assert crossings == []


def test_only_the_deepspeed_step_engine_imports_deepspeed_in_pretrain():
    importers = sorted(module_name(p) for p in (REPO / "pretrain").rglob("*.py")
                       if any(m == "deepspeed" or m.startswith("deepspeed.") for m in imported_modules(p)))
    assert set(importers) <= DEEPSPEED_IMPORTERS, importers
    assert "pretrain.engine.deepspeed_engine" in importers  # the test reads imports at all
