"""The import graph of ``src/fitscope``: layers that import only downward, no cycles.

The graph is grimp's, of every import statement in the package (also those inside
functions), less those under ``if TYPE_CHECKING:`` (they never run). Each module
belongs to one layer of :data:`LAYERS` (the longest name that is the module or one of
its packages decides), and may import its own layer and those below it. Any cycle fails,
also one within a layer. :data:`KNOWN` lists the imports that break these rules today,
each with what it is; the test fails on any other, and on a known one that is gone (so
the list only shrinks: delete its line).

Where new code goes: a module of its own in the lowest layer whose modules it needs,
named in LAYERS (a module of no layer fails the test), never importing a layer above it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

import grimp
import pytest

PACKAGE = "fitscope"

# Top to bottom. A name covers the module and, for a package, everything in it, unless a
# longer name in another layer covers a submodule.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("entry points", ("fitscope.cli", "fitscope.cli_support", "fitscope.lab",
                      "fitscope.landscape.commands", "fitscope.probe.commands",
                      "fitscope.study.commands", "fitscope.widgets")),
    ("claims", ("fitscope.claims",)),
    ("studies", ("fitscope.study",)),
    ("domain", ("fitscope.population", "fitscope.landscape", "fitscope.probe",
                "fitscope.display", "fitscope.figures", "fitscope.live", "fitscope.progress",
                "fitscope.regularization_paths", "fitscope.baselines",
                "fitscope.many")),  # train_many (issue 18), when it lands
    ("engine", ("fitscope.engine", "fitscope.epoch_loop", "fitscope.run", "fitscope.run_state")),
    ("instruments", ("fitscope.probe.training", "fitscope.probe.hooks", "fitscope.probe.stats")),
    ("training parts", ("fitscope.models", "fitscope.init", "fitscope.optim",
                        "fitscope.regularize", "fitscope.sizing", "fitscope.threads")),
    ("core", ("fitscope.core",)),
    ("config and data", ("fitscope", "fitscope.config", "fitscope.data", "fitscope.jsontext",
                         "fitscope.validation_text", "fitscope._lazy")),
)

# The core may import these of fitscope, and outside fitscope only torch and the
# standard library.
CORE, CORE_MAY_IMPORT, CORE_EXTERNAL = "fitscope.core", ("fitscope.config",), ("torch",)

# (importer, imported): why each breaks the rules today. Every line is a debt.
KNOWN: Mapping[tuple[str, str], str] = {
    # The reprs of lower objects call display functions that need higher modules
    # (function-local imports; display.py / figures.py / run.py are not this layer's).
    ("fitscope.display", "fitscope.claims.report"): "claim_html summarizes a claim",
    ("fitscope.display", "fitscope.study.report"): "study_report_html",
    ("fitscope.display", "fitscope.probe.findings"): "run_html diagnoses the run (a cycle: "
                                                      "a Finding's repr calls display)",
    ("fitscope.figures", "fitscope.lab.views"): "RunPlots draws the lab's decision boundary",
    ("fitscope.run", "fitscope.display"): "Run.__repr__ / _repr_html_",
    ("fitscope.run", "fitscope.figures"): "Run.plot",
    ("fitscope.probe.hooks", "fitscope.display"): "Probe.__repr__ / _repr_html_",
    # The engine starts the live display when the config asks for it.
    ("fitscope.engine", "fitscope.live"): "train(live=True)",
    # probe.findings <-> probe.fixes: a finding's fix retrains, the fix reads findings.
    ("fitscope.probe.fixes", "fitscope.probe.findings"): "verify() diagnoses the retrained runs",
    # landscape.results <-> landscape.figures: a result's figure, the figure's result types.
    ("fitscope.landscape.results", "fitscope.landscape.figures"): "Line.figure / Surface.figure",
}


def build(package: str = PACKAGE, external: bool = False) -> grimp.ImportGraph:
    return grimp.build_graph(package, include_external_packages=external,
                             exclude_type_checking_imports=True, cache_dir=None)


def layer_of(module: str, layers=LAYERS) -> int | None:
    """The index in ``layers`` (0 is the top) of the longest name covering ``module``."""
    best, index = "", None
    for i, (_, names) in enumerate(layers):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > len(best):
                best, index = name, i
    return index


def direct_imports(graph: grimp.ImportGraph, ignore: Iterable[tuple[str, str]] = ()
                   ) -> set[tuple[str, str]]:
    """Every (importer, imported) edge between two modules of the graph, less ``ignore``."""
    skip = set(ignore)
    return {(a, b) for a in graph.modules for b in graph.find_modules_directly_imported_by(a)
            if (a, b) not in skip and b in graph.modules}


def upward_imports(edges: set[tuple[str, str]], layers=LAYERS) -> list[str]:
    """The edges whose importer sits in a lower layer than what it imports."""
    found = []
    for a, b in sorted(edges):
        la, lb = layer_of(a, layers), layer_of(b, layers)
        if la is not None and lb is not None and lb < la:
            found.append(f"{a} ({layers[la][0]}) imports {b} ({layers[lb][0]})")
    return found


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    succ: dict[str, list[str]] = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
        succ.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(succ):
        if root in index:
            continue
        work = [(root, iter(sorted(succ[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        component.append(m)
                        if m == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(succ[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(found)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return build()


def test_every_module_has_a_layer(graph):
    assert [m for m in sorted(graph.modules) if layer_of(m) is None] == []


def test_no_layer_imports_a_layer_above_it(graph):
    edges = direct_imports(graph, ignore=KNOWN)
    assert upward_imports(edges) == []


def test_no_import_cycles(graph):
    edges = direct_imports(graph, ignore=KNOWN)
    assert cycles(edges) == []


def test_each_known_exception_still_exists(graph):
    """A known exception that was fixed is deleted from KNOWN, so it cannot come back."""
    edges = direct_imports(graph)
    assert [edge for edge in KNOWN if edge not in edges] == []


def test_the_known_exceptions_are_what_breaks_the_rules(graph):
    """Without KNOWN the rules fail exactly on its imports: none of them is excused for
    nothing."""
    edges = direct_imports(graph)
    upward = set(upward_imports(edges))
    in_cycles = {m for component in cycles(edges) for m in component}
    for a, b in KNOWN:
        breaks_layers = any(line.startswith(f"{a} (") and f" imports {b} (" in line
                            for line in upward)
        assert breaks_layers or {a, b} <= in_cycles, (a, b)


def test_the_core_imports_only_torch_config_and_the_standard_library():
    graph = build(external=True)
    core = [m for m in graph.modules if m == CORE or m.startswith(CORE + ".")]
    allowed_external = set(CORE_EXTERNAL) | set(sys.stdlib_module_names) | {"__future__"}
    bad = []
    for module in core:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith(PACKAGE + ".") or imported == PACKAGE:
                ok = (imported == CORE or imported.startswith(CORE + ".")
                      or imported in CORE_MAY_IMPORT)
            else:
                ok = imported.split(".")[0] in allowed_external
            if not ok:
                bad.append(f"{module} imports {imported}")
    assert bad == []


# -- the checks themselves, on small graphs whose answer is known ---------------------

def small_graph(edges: list[tuple[str, str]]) -> grimp.ImportGraph:
    g = grimp.ImportGraph()
    for a, b in edges:
        g.add_import(importer=a, imported=b)
    return g


SMALL_LAYERS = (("top", ("app.cli",)), ("middle", ("app.engine",)), ("bottom", ("app",)))


def test_an_upward_import_is_found():
    edges = direct_imports(small_graph([("app.engine", "app.config"),
                                        ("app.config", "app.cli")]))
    assert upward_imports(edges, SMALL_LAYERS) == [
        "app.config (bottom) imports app.cli (top)"]
    assert upward_imports(edges - {("app.config", "app.cli")}, SMALL_LAYERS) == []


def test_a_cycle_is_found_also_within_a_layer_and_through_a_function_local_import(tmp_path,
                                                                                  monkeypatch):
    edges = direct_imports(small_graph([("app.a", "app.b"), ("app.b", "app.c"),
                                        ("app.c", "app.a"), ("app.c", "app.d")]))
    assert cycles(edges) == [["app.a", "app.b", "app.c"]]
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "one.py").write_text("from . import two\n")
    (package / "two.py").write_text("def f():\n    from . import one\n    return one\n")
    (package / "three.py").write_text("from typing import TYPE_CHECKING\n"
                                      "if TYPE_CHECKING:\n    from . import one\n")
    (package / "four.py").write_text("from . import three\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cycles(direct_imports(build("cyclic"))) == [["cyclic.one", "cyclic.two"]]


def test_a_module_covered_by_a_longer_name_takes_its_layer():
    assert layer_of("fitscope.probe.findings") == layer_of("fitscope.landscape")
    assert layer_of("fitscope.probe.hooks") > layer_of("fitscope.engine")
    assert layer_of("fitscope.study.commands") == 0
    assert layer_of("fitscope.core.losses") > layer_of("fitscope.models")
    assert layer_of("fitscope.cli_support") == 0 and layer_of("fitscope.config") == len(LAYERS) - 1
