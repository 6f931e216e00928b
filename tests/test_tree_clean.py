"""Tests write only inside their temporary directories: the session fails if the repository gains a file.

The check itself lives in ``tests/conftest.py`` (``pytest_sessionfinish``: it runs once, after every
test, in the controlling process — also under ``pytest -n 2``). These tests run it on a small suite in
a scratch git repository: a test that leaves a file in the tree (even one ``.gitignore`` hides) fails
the session, a test that writes into its ``tmp_path``, the working directory or the default audit
database and MLflow store does not.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

LEAKY = """
from pathlib import Path

def test_leaves_a_file_in_the_tree():
    (Path(__file__).resolve().parents[1] / "leak.db").write_text("x")
"""

TIDY = """
import os
import sqlite3
from pathlib import Path

def test_writes_where_it_may(tmp_path):
    (tmp_path / "a.db").write_text("x")
    Path("in_the_working_directory.txt").write_text("x")  # the session's temporary working directory
    sqlite3.connect(os.environ["CREDIT_GRADING_AUDIT_DB"]).close()
    assert os.environ["MLFLOW_TRACKING_URI"].startswith("sqlite:///") and str(Path.cwd()) in os.environ["MLFLOW_TRACKING_URI"]

def test_runs_in_parallel_too():
    assert True
"""


def _scratch_repo(root: Path, test_text: str) -> Path:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "tests").mkdir()
    shutil.copy(HERE / "conftest.py", root / "tests" / "conftest.py")
    (root / ".gitignore").write_text("*.db\n__pycache__/\n")
    (root / "tests" / "test_sample.py").write_text(test_text)
    return root


def _pytest(root: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *args]
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_file_left_in_the_tree_fails_the_session(tmp_path, workers):
    root = _scratch_repo(tmp_path / "repo", LEAKY)
    res = _pytest(root, *workers)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "the test suite wrote into the repository tree: leak.db" in res.stdout


def test_writes_in_temporary_places_keep_the_tree_clean(tmp_path):
    root = _scratch_repo(tmp_path / "repo", TIDY)
    res = _pytest(root, "-n", "2")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "tree not clean" not in res.stdout
    assert sorted(p.name for p in root.iterdir()) == [".git", ".gitignore", "tests"]


def test_the_snapshot_sees_ignored_files_but_not_caches(tmp_path):
    from conftest import tree_files

    root = _scratch_repo(tmp_path / "repo", TIDY)
    before = tree_files(root)
    (root / "x.db").write_text("x")
    (root / "tests" / "__pycache__").mkdir()
    (root / "tests" / "__pycache__" / "a.pyc").write_text("x")
    (root / ".venv").mkdir()
    (root / ".venv" / "f").write_text("x")
    assert tree_files(root) - before == {"x.db"}
    assert tree_files(tmp_path) is None  # outside a git checkout there is nothing to check
