"""The test tree is packages imported from the repository root, never a path hack."""

from __future__ import annotations

import ast
import tomllib

from tests.support import ROOT

TESTS = ROOT / "tests"


def _python_dirs() -> list:
    return sorted({path.parent for path in TESTS.rglob("*.py") if "__pycache__" not in path.parts})


def test_every_test_directory_is_a_package():
    # A directory without __init__.py is imported by its basename, so `tests.support`
    # would not resolve from it and two test files of one name would collide.
    missing = [str(d.relative_to(ROOT)) for d in _python_dirs() if not (d / "__init__.py").exists()]
    assert not missing, missing


def _edits_sys_path(node: ast.AST) -> bool:
    def is_sys_path(target: ast.AST) -> bool:
        while isinstance(target, ast.Subscript):
            target = target.value
        return (
            isinstance(target, ast.Attribute)
            and target.attr == "path"
            and isinstance(target.value, ast.Name)
            and target.value.id == "sys"
        )

    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return is_sys_path(node.func.value)
    if isinstance(node, ast.Assign | ast.AugAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return any(is_sys_path(target) for target in targets)
    return False


def test_no_test_module_edits_sys_path():
    edits = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted(TESTS.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if _edits_sys_path(node)
    ]
    assert not edits, edits


def test_pytest_imports_by_rootdir_without_a_pythonpath_setting():
    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    assert "pythonpath" not in pytest_options["ini_options"]
