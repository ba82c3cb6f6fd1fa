"""kinetix promises Python ≥ 3.10: only ``kinetix/toml.py`` may import ``tomllib`` (absent in 3.10)."""

import ast
from pathlib import Path

import kinetix

PACKAGE = Path(kinetix.__file__).parent


def _imports_tomllib(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import) and any(alias.name == "tomllib" for alias in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "tomllib":
            return True
    return False


def test_only_the_toml_shim_imports_tomllib():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if p.name != "toml.py" and _imports_tomllib(p)]
    assert offenders == []
