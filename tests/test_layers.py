"""The package's layer contract and its import graph, read from the source with ast (no import, no network).

A module may import its own part of the package and any layer below it; parts that share a layer are
independent of each other. Lazy imports inside functions count too: they are still dependencies.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "swishpaint"

# Top first. Each layer lists its parts (a subpackage or a top-level module of swishpaint).
LAYERS: list[tuple[str, ...]] = [
    ("__main__",),  # python -m swishpaint
    ("cli", "__init__"),  # __init__: the package root's lazy `swishpaint.Colorizer`
    ("experiments",),  # evaluate, compare, bench: may import everything, imported by nothing
    ("server",),
    ("inference", "training"),
    ("regions",),  # line-art segmentation, flats, the region chooser, the classical references
    ("data", "losses", "models"),
    ("metrics",),  # the leaf that anything may import
    ("configs", "files"),
    ("errors",),
]
LAYER_OF = {part: i for i, layer in enumerate(LAYERS) for part in layer}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """swishpaint modules that `name` imports anywhere in its source (relative imports resolved)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "swishpaint"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "swishpaint":
                continue
            for alias in node.names:  # `from pkg import module` depends on the module itself
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_part_of_the_package_has_a_layer():
    unknown = sorted({part_of(m) for m in modules()} - set(LAYER_OF))
    assert not unknown, f"add {unknown} to LAYERS in tests/test_layers.py (and to the README's diagram)"


def test_imports_only_go_down_the_layers():
    wrong = []
    for module, targets in graph().items():
        src = part_of(module)
        for target in targets:
            dst = part_of(target)
            if dst != src and LAYER_OF.get(dst, -1) <= LAYER_OF.get(src, -1):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layer order:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles():
    g = graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(g[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_contract_checker_sees_violations(tmp_path):
    """The graph reader resolves relative and lazy imports, so a violation cannot hide in a function."""
    pkg = tmp_path / "swishpaint"
    (pkg / "metrics").mkdir(parents=True)
    (pkg / "metrics" / "__init__.py").write_text("")
    (pkg / "metrics" / "bad.py").write_text("def f():\n    from ..training import loop\n")
    known = {"swishpaint.metrics", "swishpaint.metrics.bad", "swishpaint.training", "swishpaint.training.loop"}
    assert imports_of("swishpaint.metrics.bad", pkg / "metrics" / "bad.py", known) == {"swishpaint.training.loop"}
    assert LAYER_OF["metrics"] > LAYER_OF["training"]


def test_no_module_uses_a_name_it_does_not_define():
    """pyflakes over the package and scripts: a name left behind by a rename fails here, also on a path that
    no other test runs (a corpus source, an error branch)."""
    from pyflakes.api import checkPath
    from pyflakes.messages import UndefinedName
    from pyflakes.reporter import Reporter

    class Collect(Reporter):
        def __init__(self):
            self.found = []

        def flake(self, message):
            if isinstance(message, UndefinedName):
                self.found.append(str(message))

        def unexpectedError(self, filename, message):
            self.found.append(f"{filename}: {message}")

        def syntaxError(self, filename, msg, lineno, offset, text):
            self.found.append(f"{filename}:{lineno}: {msg}")

    reporter = Collect()
    for path in [*PACKAGE.rglob("*.py"), *(PACKAGE.parents[1] / "scripts").glob("*.py")]:
        checkPath(str(path), reporter)
    assert reporter.found == []
