"""The import layers hold: lower packages never reach up into the pipelines or the CLI, and the
packages a search needs run without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import hwnas

ROOT = Path(hwnas.__file__).parent
LOWER = ("core", "data", "devices", "supernet", "profiling", "predictors", "search")
TORCH_FREE = ("core", "search", "predictors", "devices")


def imports(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` in the file names (relative ones resolved)."""
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def offenders(packages: tuple[str, ...], banned: tuple[str, ...]) -> list[str]:
    return [
        f"{p.relative_to(ROOT.parent)} imports {m}"
        for pkg in packages
        for p in modules(pkg)
        for m in sorted(imports(p))
        if any(m == b or m.startswith(b + ".") for b in banned)
    ]


def test_every_package_is_walked():
    for pkg in LOWER:
        assert modules(pkg), pkg


def test_lower_packages_never_import_pipelines_or_cli():
    assert offenders(LOWER, ("hwnas.pipelines", "hwnas.cli")) == []


@pytest.mark.parametrize("pkg", TORCH_FREE)
def test_torch_free_packages_import_no_torch(pkg):
    assert offenders((pkg,), ("torch", "torchvision")) == []


def test_the_walker_sees_lazy_imports():
    f = ROOT / "search" / "report.py"
    assert "hwnas.search.evolution" in imports(f)
    assert "matplotlib" in imports(f)  # imported inside a function


def test_a_search_imports_without_torch():
    code = (
        "import sys, hwnas.core, hwnas.search, hwnas.predictors, hwnas.devices, hwnas.present; "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
