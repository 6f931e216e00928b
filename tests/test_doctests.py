"""Every example in a docstring is true: each module with ``>>>`` examples runs as a doctest."""

import doctest
import importlib
import importlib.util
import tempfile
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "credit_grading"

# Extras a module's examples need; its test is skipped only when the extra is missing.
NEEDS = {"credit_grading.spark": "pyspark"}


def _modules_with_examples() -> list[str]:
    found = []
    for path in sorted(PKG.rglob("*.py")):
        if ">>>" not in path.read_text(encoding="utf-8"):
            continue
        parts = path.relative_to(PKG.parent).with_suffix("").parts
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


MODULES = _modules_with_examples()


def test_the_modules_with_examples_are_found():
    assert len(MODULES) >= 10 and "credit_grading.stats" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    extra = NEEDS.get(name)
    if extra and importlib.util.find_spec(extra) is None:
        pytest.skip(f"{name}'s examples need {extra}")
    # An example that writes a relative path, or a temporary file, writes under tmp_path.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder().find(module, name) if t.examples]
    assert tests, f"{name} has '>>>' in its source but no example doctest finds"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
