"""No import cycle anywhere in the package (docs/architecture.md, "Layers").

The graph is built from the source with `ast`, not by importing: every `import` and `from ... import`
statement counts wherever it stands (module level, inside a function, under `if TYPE_CHECKING:`: a
type-only import is still a dependency a reader has to follow, so it counts like any other), and so
does a module named in a string constant as `"sipwarden.x.y:attr"` or passed to
`importlib.import_module` (the CLI's lazily loaded subcommands). `from pkg import name` is an edge
to `pkg.name` when that is a module, else to `pkg` (its `__init__`). The implicit import of a
module's parent packages is not an edge: a package that re-exports its own modules is no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "sipwarden"

# Edges known to be on their way out, each with who removes it. Empty is the goal.
ALLOWED: set[tuple[str, str]] = set()


def modules(src: Path = SRC) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's __init__); the compiled steps' Cython sources too."""
    out = {}
    for p in sorted([*(src / PACKAGE).rglob("*.py"), *(src / PACKAGE).rglob("*.pyx")]):
        parts = list(p.relative_to(src).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return out


def _owner(name: str, mods: dict) -> str | None:
    """The module `name` refers to: itself, or the nearest enclosing module that exists."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node: ast.AST, here: str, is_pkg: bool, mods: dict) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = here if is_pkg else here.rpartition(".")[0]
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            mod = f"{base}.{node.module}" if node.module else base
        else:
            mod = node.module or ""
        return [f"{mod}.{a.name}" if f"{mod}.{a.name}" in mods else mod for a in node.names]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
        if text.startswith(f"{PACKAGE}.") and ":" in text and " " not in text:
            return [text.partition(":")[0]]
    if (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in _LOADERS
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
        return [node.args[0].value]
    return []


_LOADERS = ("import_module", "load")  # importlib.import_module(name), compiled.load(name): imports by name


def _source(path: Path) -> str:
    """A module's text as Python: a Cython source keeps only its Python import lines (its `cimport`s
    are C headers, its `cdef`s are not Python)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".pyx":
        return text
    keep = (ln if ln.startswith(("import ", "from ")) and " cimport " not in ln else "" for ln in text.splitlines())
    return "\n".join(keep)


def import_graph(src: Path = SRC) -> dict[str, dict[str, int]]:
    """module -> {imported module: line of the first such import}, modules of the package only."""
    mods = modules(src)
    graph: dict[str, dict[str, int]] = {}
    for here, (path, is_pkg) in mods.items():
        edges = graph.setdefault(here, {})
        for node in ast.walk(ast.parse(_source(path), str(path))):
            for t in _targets(node, here, is_pkg, mods):
                if t == PACKAGE or t.startswith(f"{PACKAGE}."):
                    owner = _owner(t, mods)
                    if owner and owner != here and owner not in edges:
                        edges[owner] = node.lineno
    return graph


def _without(graph: dict[str, dict[str, int]], allowed: set[tuple[str, str]]) -> dict[str, list[str]]:
    return {m: [t for t in sorted(e) if (m, t) not in allowed] for m, e in graph.items()}


def knots(graph: dict[str, dict[str, int]], allowed: set[tuple[str, str]] = frozenset()) -> list[set[str]]:
    """The strongly connected groups of more than one module (each module reaches every other)."""
    g = _without(graph, allowed)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    groups: list[set[str]] = []
    counter = 0
    for root in sorted(g):  # iterative Tarjan: no recursion limit on a deep chain
        if root in index:
            continue
        work = [(root, iter(g[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(g.get(w, []))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    group = set()
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        group.add(w)
                        if w == v:
                            break
                    if len(group) > 1:
                        groups.append(group)
    return sorted(groups, key=min)


def cycles(graph: dict[str, dict[str, int]], allowed: set[tuple[str, str]] = frozenset()) -> list[list[str]]:
    """One concrete cycle (a -> b -> ... -> a) through each knot: the shortest from its
    alphabetically first module."""
    g = _without(graph, allowed)
    out = []
    for group in knots(graph, allowed):
        start = min(group)
        prev: dict[str, str] = {}
        queue = [start]
        found = None
        while queue and found is None:  # breadth first: the shortest way back to `start`
            nxt = []
            for v in queue:
                for w in g[v]:
                    if w == start:
                        found = v
                        break
                    if w in group and w not in prev:
                        prev[w] = v
                        nxt.append(w)
                if found is not None:
                    break
            queue = nxt
        path = [found]
        while path[-1] != start:
            path.append(prev[path[-1]])
        out.append([*reversed(path), start])
    return sorted(out)


def describe(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:], strict=False)) + f" -> {cycle[-1]}"


def test_no_import_cycle() -> None:
    graph = import_graph()
    found = cycles(graph, ALLOWED)
    assert not found, "import cycles:\n" + "\n".join(
        f"{describe(c, graph)}\n    (all in this knot: {', '.join(sorted(k))})"
        for c, k in zip(found, knots(graph, ALLOWED), strict=True))


def test_allowed_edges_still_exist() -> None:
    """An allowance outliving its edge would hide a new cycle through the same pair: remove it."""
    graph = import_graph()
    assert [e for e in ALLOWED if e[1] not in graph.get(e[0], {})] == []


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """A cycle made of a function-level import, a TYPE_CHECKING import, a relative `from . import`
    and a lazily loaded command string is found and named (the checker bites)."""
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .b import B\n")  # a re-export: no cycle by itself
    (pkg / "a.py").write_text("def f():\n    from .sub import b\n    return b\n")
    (pkg / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..c import C\nB = 1\n")
    (pkg / "c.py").write_text('LAZY = {"x": "sipwarden.d:cmd"}\n')
    (pkg / "d.py").write_text("import importlib\nm = importlib.import_module('sipwarden.a')\n")
    (pkg / "e.py").write_text("from . import a\nfrom .sub import B\n")  # into the cycle, not part of it
    graph = import_graph(tmp_path)
    assert graph["sipwarden.e"] == {"sipwarden.a": 1, "sipwarden.sub": 2}
    found = cycles(graph)
    assert found == [["sipwarden.a", "sipwarden.sub.b", "sipwarden.c", "sipwarden.d", "sipwarden.a"]]
    assert describe(found[0], graph) == ("sipwarden.a (line 2) -> sipwarden.sub.b (line 3) -> sipwarden.c (line 1) "
                                         "-> sipwarden.d (line 2) -> sipwarden.a")
    assert cycles(graph, {("sipwarden.c", "sipwarden.d")}) == []


def test_the_graph_sees_compiled_steps(tmp_path: Path) -> None:
    """A Cython source's Python imports and a module loaded by name through `compiled.load` are edges."""
    pkg = tmp_path / PACKAGE
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import compiled\nACCEL = compiled.load('sipwarden._b')\n")
    (pkg / "compiled.py").write_text("")
    (pkg / "_b.pyx").write_text("from libc.string cimport memchr\ncdef int n = 0\nfrom . import a as _a\n")
    graph = import_graph(tmp_path)
    assert graph["sipwarden._b"] == {"sipwarden.a": 3}
    assert cycles(graph) == [["sipwarden._b", "sipwarden.a", "sipwarden._b"]]


# The pure core (docs/architecture.md, "Layers"): text, bytes and events in, events, verdicts and
# decisions out; time comes from the events. It may import only itself and the standard library's
# computing modules: no other layer of sipwarden, nothing that reads a clock, a file or a socket
# (`socket` only for inet_ntop, in the HEP parser).
PURE = ("sipwarden.addr", "sipwarden.events", "sipwarden.timefmt", "sipwarden.compiled", "sipwarden.config",
        "sipwarden.parsers", "sipwarden.detect", "sipwarden.policy")
NO_IO = {"asyncio", "os", "sqlite3", "subprocess", "threading", "time", "socket", "select", "selectors", "signal",
         "shutil", "tempfile", "urllib.request", "http", "httpx", "redis", "nftables", "dpkt", "inotify_simple"}
IO_ALLOWED = {  # module: the I/O-ish imports it may make, and why
    "sipwarden.parsers.hep": {"socket"},  # socket.inet_ntop: bytes -> address text, no socket opened
    "sipwarden.compiled": {"os"},  # reads SIPWARDEN_PURE once, at import
    "sipwarden.config.loader": {"os", "shutil"},  # load() reads the file; environment_problems looks at the host
    "sipwarden.config.fleet": {"socket"},  # the host name as the default node name
    "sipwarden.timefmt": {"os"},  # the local zone's name (TZ) for timestamps without one
}


def _is_pure(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PURE)


def _stdlib_imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(_source(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module)
    return {m for m in out if not m.startswith(PACKAGE)}


def test_the_pure_core_imports_no_io_layer_and_no_io() -> None:
    graph = import_graph()
    mods = modules()
    wrong = []
    for m, edges in graph.items():
        if not _is_pure(m):
            continue
        wrong += [f"{m} (line {line}) imports {t}" for t, line in edges.items() if not _is_pure(t) and t != PACKAGE]
        io = {s for s in _stdlib_imports(mods[m][0]) if s in NO_IO or s.split(".")[0] in NO_IO}
        wrong += [f"{m} imports {s}" for s in sorted(io - IO_ALLOWED.get(m, set()))]
    assert wrong == []


# Calls that read the clock or a file, whatever module they come from (`open` is a builtin, `now` a
# datetime method): the pure core makes none but these, each with its reason.
IO_CALLS = {"open", "now", "today", "utcnow", "read_text", "read_bytes", "is_file", "exists",
            "stat", "getmtime", "time", "monotonic", "perf_counter"}
CALLS_ALLOWED = {
    "sipwarden.timefmt": {"open", "now"},  # the local zone, once, when a config names "local": /etc/localtime
    "sipwarden.config.loader": {"read_text", "exists"},  # load() reads the config file; host checks
    "sipwarden.config.schema": {"open"},  # a secret's *_file, read when the config is loaded
    "sipwarden.config.fleet": {"is_file"},  # a TLS file named in [fleet] must exist
}


def _io_calls(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(_source(path))):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name in IO_CALLS:
                out.add(name)
    return out


def test_the_pure_core_reads_no_clock_and_no_file() -> None:
    mods = modules()
    wrong = [f"{m} calls {c}()" for m, (path, _) in mods.items() if _is_pure(m)
             for c in sorted(_io_calls(path) - CALLS_ALLOWED.get(m, set()))]
    assert wrong == []


# The layers, lowest first (docs/architecture.md, "Layers"): a module imports its own package and the
# layers below; packages of one layer may import each other (no cycle: see above).
LAYERS = (
    ("", "config", "events", "addr", "timefmt", "compiled"),  # "": the package itself (__version__)
    ("parsers", "detect", "policy"),
    ("sources", "enforce", "store"),
    ("pipeline", "api", "report", "audit", "fleet", "notify", "blocklist"),
    ("daemon",),
    ("cli", "__main__"),
)


def _layer(module: str) -> int:
    part = module.split(".")[1] if "." in module else ""
    return next((i for i, layer in enumerate(LAYERS) if part in layer), -1)


def test_every_module_has_a_layer_and_imports_only_downwards() -> None:
    graph = import_graph()
    assert [m for m in graph if _layer(m) < 0] == [], "name the layer of each new package or module in LAYERS"
    upward = [f"{m} (layer {_layer(m)}, line {line}) imports {t} (layer {_layer(t)})"
              for m, edges in graph.items() for t, line in edges.items() if _layer(t) > _layer(m)]
    assert upward == []
