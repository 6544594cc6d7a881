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
