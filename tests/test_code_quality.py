"""The code passes the project's ruff configuration and holds no pickling of artefacts."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> list[str]:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if exe is None:
        pytest.fail("ruff is not installed: it is part of the dev extra")
    return [exe]


def test_ruff_check_passes():
    proc = subprocess.run([*_ruff(), "check", "src", "tests", "benchmarks"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_is_clean():
    cmd = [*_ruff(), "format", "--check", "src", "tests", "benchmarks"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_pickling_in_the_package():
    pattern = re.compile(r"^\s*(import|from)\s+(pickle|joblib|cloudpickle|dill)\b", re.M)
    offenders = [p.name for p in (ROOT / "src").rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_notebooks_are_stored_without_outputs():
    import json

    root = Path(__file__).resolve().parents[1]
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert len(notebooks) >= 6 and [nb.name for nb in notebooks if nb.name not in readme] == []  # each one listed
    for nb in notebooks:
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert code and all(not c["outputs"] and c["execution_count"] is None for c in code), nb.name
