"""The product does not need its test scaffolding: nothing under nas/ outside nas/testing
imports nas.testing (lazy imports included)."""
import ast

from nas.testing import ROOT


def test_the_product_never_imports_nas_testing():
    offenders = []
    for path in sorted((ROOT / "nas").rglob("*.py")):
        if (ROOT / "nas" / "testing") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "nas.testing" or n.startswith("nas.testing.") for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path, name: str, modules: set[str]) -> set[str]:
    """The nas modules `path` imports anywhere (top level or inside functions). `from a
    import b` counts a.b when that is a module, else a; a submodule's implicit import of
    its own package is not counted (re-exporting packages would all look circular)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _path_back(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """The shortest import chain from `start` back to itself, or None."""
    came_from, frontier = {start: None}, [start]
    while frontier:
        following = []
        for module in frontier:
            if start in graph[module]:
                chain = [start]
                while module is not None and module != start:
                    chain.insert(1, module)
                    module = came_from[module]
                return chain + [start]
            for target in sorted(graph[module] - came_from.keys()):
                came_from[target] = module
                following.append(target)
        frontier = following
    return None


def _circles(graph: dict[str, set[str]]) -> list[str]:
    return [" -> ".join(chain) for chain in map(lambda m: _path_back(graph, m), sorted(graph))
            if chain is not None]


def test_the_circle_finder_finds_a_lazy_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == \
        ["a -> b -> c -> a", "b -> c -> a -> b", "c -> a -> b -> c"]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles_lazy_imports_included():
    """The design's rule: dependencies point one way, so no module imports one that
    (directly or through others) imports it back, even from inside a function."""
    paths = {_module_name(p): p for p in (ROOT / "nas").rglob("*.py")}
    graph = {name: _imports(path, name, set(paths)) for name, path in paths.items()}
    assert len(graph) > 100 and sum(map(len, graph.values())) > 300  # it did read the imports
    assert _circles(graph) == []
