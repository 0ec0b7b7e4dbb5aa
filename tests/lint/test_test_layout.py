"""The test tree stays collectable as one session."""

from __future__ import annotations

from collections import Counter

from compose_files import ROOT


def test_test_files_have_unique_basenames():
    # tests/ has no packages: two test files with one basename cannot be collected together.
    names = Counter(path.name for path in (ROOT / "tests").rglob("test_*.py"))
    assert not [name for name, count in names.items() if count > 1], names.most_common(3)
