"""The package boundaries docs/architecture.md promises, read from the source (imports, not behaviour): no import
circles, the layer order (plumbing → data_pipeline → pretrain's parts → engine → training → commands → launch),
and DeepSpeed imported in the training path only by the DeepSpeed step engine.

Imports are counted the way a reader meets them: at any depth (inside functions: they run too), under
`TYPE_CHECKING` (the annotation still ties the two modules together), and through a package's `__init__`:
`from pretrain.training import Trainer` depends on `pretrain/training/__init__.py`, which imports its submodules,
and so does `from pretrain.training.loop import Trainer` (Python runs the package's `__init__` first).

A function-level import therefore never breaks a circle; one that remains says why it is lazy (`# lazy: <why>`).
"""

from __future__ import annotations

import ast
import re
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
# A justification: `# lazy: <why>` on the import's own lines, or in the comment lines just above a block of imports.
LAZY_COMMENT = re.compile(r"#.*\blazy: *\S")

# The layers, lowest first (docs/architecture.md draws them). A module imports only its own layer or lower ones;
# within a layer, only without circles. A module belongs to the longest prefix listed.
LAYERS = {
    "plumbing": ["plumbing"],
    "data_pipeline": ["data_pipeline"],
    # The parts: what a trainer, a tool or a test composes. Each reads its own config dataclass; pretrain.config
    # is the schema that gathers them (and composition, which adopts a fine-tune's shape through weights).
    "parts": ["pretrain.model", "pretrain.data", "pretrain.weights", "pretrain.checkpoint", "pretrain.distributed",
              "pretrain.config", "pretrain.cli", "pretrain.optimizer", "pretrain.stability", "pretrain.metrics",
              "pretrain.inference", "pretrain.evaluation", "pretrain.finetune", "pretrain.mixing",
              "pretrain.heartbeat", "pretrain.incidents"],
    # The step engine; pretrain.distributed.session joins the process group through its DeepSpeed accelerator.
    "engine": ["pretrain.engine", "pretrain.distributed.session"],
    "training": ["pretrain.training", "pretrain.callbacks"],
    "commands": ["pretrain", "pretrain.train", "pretrain.generate", "pretrain.export", "pretrain.plan",
                 "pretrain.evaluation.cli", "pretrain.evaluation.__main__", "pretrain.finetune.cli",
                 "pretrain.finetune.__main__", "pretrain.mixing.cli", "pretrain.mixing.__main__",
                 "pretrain.mixing.demo", "pretrain.distributed.__main__"],
    "launch": ["launch"],
}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_statements(path: Path, name: str) -> list[tuple[str, str | None]]:
    """(module, imported name or None) for every import in the file, at any depth, TYPE_CHECKING included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(base, alias.name) for alias in node.names]
    return found


def ancestor_packages(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts))]


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """module → the project modules it imports. `from pkg import name` is an edge to `pkg.name` when that is a
    module, else to `pkg` (its __init__ runs and re-exports `name` from a submodule: the edges __init__ → its
    submodules carry the rest); `import a.b.c` to the longest of a.b.c, a.b, a that is a project module. Either
    way also to the packages above the target (`a`, `a.b`: their __init__ runs first), except those the importer
    is inside (already running when it is)."""
    files = {module_name(root, p): p for package in packages for p in (root / package).rglob("*.py")}

    def target(module: str, attr: str | None) -> str | None:
        if attr is not None and f"{module}.{attr}" in files:
            return f"{module}.{attr}"
        parts = module.split(".")
        return next((".".join(parts[:k]) for k in range(len(parts), 0, -1) if ".".join(parts[:k]) in files), None)

    graph = {}
    for name, path in files.items():
        targets = {target(module, attr) for module, attr in import_statements(path, name)} - {None}
        inside = {name, *ancestor_packages(name)}
        packages_run = {p for t in targets for p in ancestor_packages(t) if p in files}
        graph[name] = (targets - {name}) | (packages_run - inside)
    return graph


def function_level_imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, module as written, whether it says why it is lazy) for each import statement inside a function."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    import_lines = {n for node in imports for n in range(node.lineno, node.end_lineno + 1)}
    in_functions = {node for function in ast.walk(tree) if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                    for node in ast.walk(function) if isinstance(node, (ast.Import, ast.ImportFrom))}

    def justified(node: ast.stmt) -> bool:
        if any(LAZY_COMMENT.search(lines[n - 1]) for n in range(node.lineno, node.end_lineno + 1)):
            return True
        above = node.lineno - 1  # up through the imports and comments just above it
        while above >= 1 and (above in import_lines or lines[above - 1].lstrip().startswith("#")):
            if LAZY_COMMENT.search(lines[above - 1]):
                return True
            above -= 1
        return False

    def written(node: ast.stmt) -> str:
        if isinstance(node, ast.ImportFrom):
            return "." * node.level + (node.module or "")
        return ", ".join(alias.name for alias in node.names)

    return sorted((node.lineno, written(node), justified(node)) for node in in_functions)


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each set of modules that reach one another (Tarjan's strongly connected components), as one circle
    through them, for the message."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = stack[stack.index(node):]
            del stack[stack.index(node):]
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [path_through(graph, sorted(component)) for component in components]


def path_through(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A circle from the component's first module back to it (breadth-first inside the component)."""
    start, members = component[0], set(component)
    previous = {start: ""}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                path = [node]
                while previous[path[-1]]:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if nxt not in previous:
                previous[nxt] = node
                frontier.append(nxt)
    return component


def layer_of(module: str) -> int:
    prefixes = {prefix: rank for rank, members in enumerate(LAYERS.values()) for prefix in members}
    parts = module.split(".")
    return next((prefixes[".".join(parts[:k])] for k in range(len(parts), 0, -1) if ".".join(parts[:k]) in prefixes),
                -1)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(REPO, PACKAGES)


def test_no_import_circles(graph):
    """A circle means neither side can be understood (or imported) alone. Counted strictly, a circle cannot hide
    behind TYPE_CHECKING, a function-level import or a package's __init__ (the callbacks ↔ trainer and
    checkpoint store ↔ engine ones did)."""
    assert circles(graph) == []


def write_package(root: Path, files: dict[str, str]) -> None:
    for relative, source in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(source)


@pytest.mark.parametrize("files", [
    pytest.param({"app/low.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from app.high import H\n",
                  "app/high.py": "from app.low import L\n"}, id="type-checking"),
    pytest.param({"app/low.py": "def f():\n    from app.high import H\n", "app/high.py": "from .low import f\n"},
                 id="function-level"),
    pytest.param({"app/parts/__init__.py": "from app.parts.base import Base\n",
                  "app/parts/base.py": "from app.loop import Loop\n",
                  "app/loop/__init__.py": "from app.loop.core import Loop\n",
                  "app/loop/core.py": "from app.parts import Base\n"}, id="through-package-init"),
])
def test_the_count_sees_the_circles_a_reader_meets(tmp_path, files):
    write_package(tmp_path, {"app/__init__.py": "", **files})
    assert len(circles(import_graph(tmp_path, ("app",)))) == 1


def test_importing_a_submodule_runs_its_packages_init(tmp_path):
    """`from app.loop.core import Loop` runs app/loop/__init__.py first, and that one imports back."""
    write_package(tmp_path, {"app/__init__.py": "", "app/parts/__init__.py": "",
                             "app/parts/base.py": "from app.loop.core import Loop\nBase = Loop\n",
                             "app/loop/__init__.py": "from app.loop.core import Loop\nfrom app.loop.extra import X\n",
                             "app/loop/core.py": "Loop = 1\n", "app/loop/extra.py": "from app.parts.base import Base\n"})
    assert len(circles(import_graph(tmp_path, ("app",)))) == 1


def test_a_package_init_re_exporting_its_own_modules_is_no_circle(tmp_path):
    write_package(tmp_path, {"app/__init__.py": "", "app/pkg/__init__.py": "from app.pkg.a import A\n",
                             "app/pkg/a.py": "from app.pkg.b import B\n", "app/pkg/b.py": "B = 1\n"})
    assert circles(import_graph(tmp_path, ("app",))) == []


def test_every_module_has_a_layer(graph):
    assert sorted(name for name in graph if layer_of(name) < 0) == []


def test_imports_go_down_the_layers_only(graph):
    """plumbing → data_pipeline → pretrain's parts → engine → training → commands → launch: a module imports its
    own layer or lower ones (docs/architecture.md, "Layers")."""
    names = list(LAYERS)
    upward = sorted(f"{name} ({names[layer_of(name)]}) → {target} ({names[layer_of(target)]})"
                    for name, targets in graph.items() for target in targets if layer_of(target) > layer_of(name))
    assert upward == []


def test_only_the_deepspeed_step_engine_imports_deepspeed_in_pretrain():
    importers = sorted(module_name(REPO, p) for p in (REPO / "pretrain").rglob("*.py")
                       if any(m == "deepspeed" or m.startswith("deepspeed.")
                              for m, _ in import_statements(p, module_name(REPO, p))))
    assert set(importers) <= DEEPSPEED_IMPORTERS, importers
    assert "pretrain.engine.deepspeed_engine" in importers  # the test reads imports at all


def test_every_function_level_import_says_why_it_is_lazy():
    """An import inside a function hides a dependency from the top of the file, and (counted above) never breaks a
    circle. The ones that stay keep a heavy or optional dependency (DeepSpeed, transformers, torchao, peft, Ray,
    flash-attn, wandb, ...) off the import path of those who do not need it, or a command's start fast, and say
    so: `# lazy: <why>` on the import or in the comment just above its block of imports."""
    unexplained = sorted(
        f"{path.relative_to(REPO)}:{line}: {module}"
        for package in PACKAGES for path in (REPO / package).rglob("*.py")
        for line, module, justified in function_level_imports(path)
        if not justified)
    assert unexplained == []


@pytest.mark.parametrize(("source", "expected"), [
    pytest.param("import os\n", [], id="module-level"),
    pytest.param("def f():\n    import json\n", [(2, "json", False)], id="unexplained"),
    pytest.param("def f():\n    # Imported here: the old wording\n    import json\n", [(3, "json", False)],
                 id="a-comment-without-lazy"),
    pytest.param("def f():\n    import torchao  # lazy: optional\n", [(2, "torchao", True)], id="on-the-line"),
    pytest.param("def f():\n    # lazy: Ray is optional\n    import ray\n    import ray.data\n\n    import numpy\n",
                 [(3, "ray", True), (4, "ray.data", True), (6, "numpy", False)], id="above-the-block-only"),
    pytest.param("class A:\n    def f(self):\n        from .b import (\n            c,  # lazy: heavy\n        )\n",
                 [(3, ".b", True)], id="method-multi-line"),
])
def test_the_lazy_rule_reads_the_import_and_the_comment_above_its_block(tmp_path, source, expected):
    (tmp_path / "m.py").write_text(source)
    assert function_level_imports(tmp_path / "m.py") == expected
