"""Test modules share helpers through tests/factories.py and tests/clients.py (and the
reliability machinery in tests/reliability.py), never by importing a conftest or each other:
importing a conftest loads it a second time under another name, and a helper living in a test
module drags that module's fixtures and tests along."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_module_imports_a_conftest_or_a_test_module():
    offenders = []
    for path in sorted([*ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/*.py")]):
        for module in _imported_modules(path):
            last = module.rsplit(".", 1)[-1]
            if module.startswith("tests") and (last == "conftest" or last.startswith("test_")):
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == [], (
        "move the helper to tests/factories.py or tests/clients.py: " + "; ".join(offenders)
    )
