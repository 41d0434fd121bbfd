"""Imports point down only, and no module imports itself back through a cycle.

Layers, lowest first (docs/architecture.md):
vocabulary/errors/atomic/fmt/paths <- data <- estimation <- inference <- tables/results/plots/study
<- report <- cli. Every ``import``/``from ... import`` of a package module (also inside
functions) is read from the source with :mod:`ast`; the package's ``__init__`` (lazy
re-exports for the API) and ``__main__`` are the entry points and may import any layer.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "analysis"

LAYERS = [
    ("base", ["analysis.vocab", "analysis.errors", "analysis.atomic", "analysis.fmt", "analysis.paths",
              "analysis.safe_text", "analysis.digest"]),
    ("data", ["analysis.data"]),
    ("estimation", ["analysis.estimation"]),
    ("inference", ["analysis.inference"]),
    ("results", ["analysis.tables", "analysis.results", "analysis.plots", "analysis.study", "analysis.warmup"]),
    ("report", ["analysis.report"]),
    ("cli", ["analysis.cli"]),
]
ENTRY_POINTS = {"analysis", "analysis.__main__"}


def module_name(path: Path, root: Path = PACKAGE) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    for i, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    return None


def imports_of(path: Path, package_modules: set[str]) -> set[str]:
    """Package modules imported by ``path`` (``from analysis.x import y`` counts y when y is a
    module, else analysis.x)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "analysis")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "analysis":
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in package_modules else node.module)
    return {m for m in found if m in package_modules}


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    files = sorted(root.rglob("*.py"))
    modules = {module_name(f, root) for f in files}
    return {module_name(f, root): imports_of(f, modules) - {module_name(f, root)} for f in files}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for mod, deps in graph.items():
        if mod in ENTRY_POINTS:
            continue
        lm = layer_of(mod)
        if lm is None:
            bad.append(f"{mod} belongs to no layer (add it to LAYERS and docs/architecture.md)")
            continue
        for d in deps:
            ld = layer_of(d)
            if d in ENTRY_POINTS:
                bad.append(f"{mod} imports the package entry point {d}")
            elif ld is not None and ld > lm:
                bad.append(f"{mod} ({LAYERS[lm][0]}) imports {d} ({LAYERS[ld][0]}), a higher layer")
    return sorted(bad)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles among modules (Tarjan's strongly connected components of size > 1)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
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

    for v in graph:
        if v not in index:
            visit(v)
    return out


@pytest.fixture(scope="module")
def package_graph():
    """The package's import graph, read once for the two checks below (each read parses every
    module of the package, ~0.7 s of CPU; neither check changes the graph)."""
    return import_graph()


def test_imports_point_down_only(package_graph):
    bad = upward_imports(package_graph)
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_import_cycles(package_graph):
    found = cycles({m: d for m, d in package_graph.items() if m not in ENTRY_POINTS})
    assert not found, f"import cycles: {found}"


def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path):
    """The two checks fail on a tree with one upward import and one cycle (so they can fail)."""
    pkg = tmp_path / "analysis"
    for sub in ("data", "estimation", "report"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "vocab.py").write_text("")
    (pkg / "data" / "prices.py").write_text("from analysis.estimation import engine\n")  # upward
    (pkg / "estimation" / "engine.py").write_text("import numpy\n")
    (pkg / "report" / "a.py").write_text("from analysis.report import b\n")
    (pkg / "report" / "b.py").write_text("def f():\n    from analysis.report import a\n")  # cycle
    graph = import_graph(pkg)
    assert any("analysis.data.prices" in b and "analysis.estimation.engine" in b for b in upward_imports(graph))
    assert cycles(graph) == [["analysis.report.a", "analysis.report.b"]]


@pytest.mark.parametrize("module", ["analysis.fmt", "analysis.report.pdf", "analysis.inference.cells"])
def test_every_module_has_a_layer(module):
    assert layer_of(module) is not None


#: Third-party modules the package imports only inside the functions that use them (each costs
#: about a second of CPU at import; report kernels and the CLI start without them).
DEFERRED = ("scipy.stats", "scipy.special", "statsmodels")


def third_party_imports(modules, *, top_level_only: bool) -> list[str]:
    """'<module>: import X' / '<module>: from X import Y' for every absolute import in the
    package of a module in ``modules`` (or below it), at the top level of each file or anywhere."""
    def matches(name: str) -> bool:
        return any(name == d or name.startswith(d + ".") for d in modules)

    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in (tree.body if top_level_only else ast.walk(tree)):
            if isinstance(node, ast.Import):
                found += [f"{module_name(path)}: import {a.name}" for a in node.names if matches(a.name)]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found += [f"{module_name(path)}: from {node.module} import {a.name}" for a in node.names
                          if matches(node.module) or matches(f"{node.module}.{a.name}")]
    return found


def test_heavy_third_party_modules_are_imported_where_they_are_used():
    """No module imports scipy.stats, scipy.special or statsmodels at its top level (so neither
    ``import analysis.study`` nor a report kernel's warm-up pays for them)."""
    assert third_party_imports(DEFERRED, top_level_only=True) == []


def test_scipy_stats_and_statsmodels_are_never_imported_by_the_package():
    """Nowhere in the package (top level or inside a function) is scipy.stats or statsmodels
    imported: the distributions come from scipy.special (analysis.estimation.pvalues), and a
    process that fits a study does not pay about 1-1.4 s of CPU for scipy.stats."""
    assert third_party_imports(("scipy.stats", "statsmodels"), top_level_only=False) == []


def test_the_import_checks_find_imports_at_the_top_and_inside_functions():
    """The checks above can fail: the package imports scipy.special inside functions only, and
    numpy at the top level."""
    inside = third_party_imports(("scipy.special",), top_level_only=False)
    assert inside and third_party_imports(("scipy.special",), top_level_only=True) == []
    assert any(line.endswith(": import numpy") for line in third_party_imports(("numpy",), top_level_only=True))


@pytest.mark.shared_prices
def test_a_study_fit_loads_neither_scipy_stats_nor_statsmodels(shared_prices, tmp_path):
    """A small study (one event, four firms, a few pseudo-dates) through the CLI, in a fresh
    interpreter: neither module is loaded (an indirect import, e.g. through a library, would
    show here; the package's own imports are checked above)."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from analysis.cli import main\n"
            f"rc = main(['study', '--prices', {str(shared_prices)!r}, '--event', 'nyt_hikvision_2019', "
            f"'--symbol', '002415.SZ', '--symbol', '002236.SZ', '--symbol', 'AMBA', '--symbol', 'INTC', "
            f"'--placebo-draws', '10', '--out', {str(tmp_path / 'out')!r}, '--quiet'])\n"
            "print(rc, sorted(m for m in ('scipy.stats', 'statsmodels') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "0 []"
