"""The layers of the package: imports point one way, there are no cycles, and nothing imports the root.

Layers (ARCHITECTURE.md): data and errors at the bottom; ``model`` (what is fitted) and
``inference`` (how it is sampled, knowing no law) beside each other; ``posterior`` above
both; ``fitting``; ``analyses``; ``plots``; ``api`` / ``cli`` on top.
"""

import ast
import pathlib
import re

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "bayescale"

#: What each layer may import (besides itself, ``errors``, ``checks`` and ``_version``).
ALLOWED = {
    "data": set(),
    "model": {"data"},
    "inference": set(),
    "gadre": {"data", "_fetch"},
    "simulated_recipes": {"data", "model"},
    "datasets": {"data", "model", "_fetch", "gadre", "simulated_recipes"},
    "posterior": {"data", "model", "inference"},
    "fitting": {"data", "model", "inference", "posterior"},
    "analyses": {"data", "datasets", "gadre", "model", "inference", "posterior", "fitting"},
    "plots": {"data", "model", "posterior", "analyses"},
    "api": {"data", "datasets", "gadre", "model", "inference", "posterior", "fitting", "analyses", "plots"},
    "demo": {"data", "datasets", "gadre", "model", "inference", "posterior", "fitting", "analyses", "plots", "api"},
    "cli_compare": {"data", "datasets", "model", "inference", "posterior", "fitting", "analyses", "plots", "api"},
    "cli": {"data", "datasets", "gadre", "model", "inference", "posterior", "fitting", "analyses", "plots", "api",
            "demo", "cli_compare"},
}
#: Documented exceptions: ``Backtest.plot()`` draws with the plots layer, imported lazily inside the method.
EXCEPTIONS = {("bayescale.analyses.backtest", "bayescale.plots.backtest")}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(path: pathlib.Path, module: str, top_level_only: bool):
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names if a.name.split(".")[0] == "bayescale"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] == "bayescale":
                out += [(base, a.name) for a in node.names]
    return out


def _resolve(base: str, name: str | None, modules: set) -> str:
    """The module an import refers to (``from bayescale.x import y`` is module ``bayescale.x.y`` if one exists)."""
    if name and f"{base}.{name}" in modules:
        return f"{base}.{name}"
    return base


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


MODULES = dict(_modules())


def test_nothing_imports_the_package_root():
    bad = []
    for module, path in MODULES.items():
        if module == "bayescale":
            continue
        for base, name in _imports(path, module, top_level_only=False):
            if _resolve(base, name, set(MODULES)) == "bayescale":
                bad.append(f"{module}: from {base} import {name}" if name else f"{module}: import {base}")
    assert not bad, "modules importing the package root (import from bayescale.api or the layer instead):\n" + "\n".join(bad)


def test_no_import_cycles():
    graph = {m: {_resolve(b, n, set(MODULES)) for b, n in _imports(p, m, top_level_only=False)} & set(MODULES)
             for m, p in MODULES.items() if m != "bayescale"}
    graph = {m: {d for d in deps if d != "bayescale" and not d.startswith(m + ".")} - {m} for m, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for d in graph.get(m, ()):
            if state.get(d) == 1:
                cycle = stack[stack.index(d):] + [d] if d in stack else [m, d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


def test_imports_point_one_way():
    bad = []
    for module, path in MODULES.items():
        layer = _layer(module)
        if layer in ("__init__", "errors", "_version", "checks", "_fetch"):
            continue
        allowed = ALLOWED[layer] | {layer, "errors", "_version", "checks"}
        for base, name in _imports(path, module, top_level_only=False):
            target = _resolve(base, name, set(MODULES))
            if target == "bayescale" or (module, target) in EXCEPTIONS:
                continue
            if _layer(target) not in allowed:
                bad.append(f"{module} ({layer}) imports {target} ({_layer(target)})")
    assert not bad, "imports against the layering of ARCHITECTURE.md:\n" + "\n".join(bad)


def test_no_branching_on_pooling_or_likelihood_names_outside_their_classes():
    pattern = re.compile(r"pooling\s*[!=]=|(likelihood|lik)\.kind\s*[!=]=|learns_df")
    homes = {"bayescale.model.pooling", "bayescale.model.likelihoods"}
    bad = [f"{m}:{i + 1}: {line.strip()}" for m, p in MODULES.items() if m not in homes
           for i, line in enumerate(p.read_text().splitlines()) if pattern.search(line)]
    assert not bad, "callers branch on a pooling or likelihood name (ask the object instead):\n" + "\n".join(bad)


def test_modules_stay_small():
    sizes = {m: len(p.read_text().splitlines()) for m, p in MODULES.items()}
    big = {m: n for m, n in sizes.items() if n > 400}
    assert not big, f"modules over 400 lines (split them by concept): {big}"
