"""A model whose data keys entities by another column: decision reports, objections and history follow it.

The frozen bundle of ``tests/data`` is copied with its configuration renamed (format 1 manifests may
be edited: they do not cover the configuration) and graded on the same rows with renamed columns.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from credit_grading.bundle import load_bundle
from credit_grading.explain import decision_documents, explain_table, write_reports
from credit_grading.runlog import history

DATA = Path(__file__).parent / "data"
RENAMED = {"uscc": "firm_code", "as_of": "snapshot"}


def _cli(*args, cwd):
    res = subprocess.run([sys.executable, "-m", "credit_grading.cli", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


@pytest.fixture(scope="module")
def renamed(tmp_path_factory):
    root = tmp_path_factory.mktemp("renamed")
    shutil.copytree(DATA / "bundle_v1", root / "bundle")
    manifest = json.loads((root / "bundle" / "manifest.json").read_text())
    manifest["config"]["dataset"].update(id_column="firm_code", id_format="any", as_of_column="snapshot")
    (root / "bundle" / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    frame = pd.read_csv(DATA / "bundle_v1_input.csv", dtype={"uscc": str}).rename(columns=RENAMED)
    frame.to_csv(root / "registry.csv", index=False)
    return root, load_bundle(root / "bundle"), frame


def test_decision_reports_name_the_configured_key(renamed, tmp_path):
    root, bundle, frame = renamed
    code = frame["firm_code"].iloc[4]
    docs = decision_documents(explain_table(bundle, frame, ids=[code]), input_path=str(root / "registry.csv"))
    doc = docs[0]
    assert doc["format_version"] == 2
    assert doc["entity"]["id"] == code and doc["entity"]["id_column"] == "firm_code"
    assert doc["entity"]["id_format"] == "any" and "uscc" not in doc["entity"]
    assert doc["as_of"] == str(frame["snapshot"].iloc[4])[:10]
    write_reports(docs, tmp_path / "out")
    page = (tmp_path / "out" / f"{code}.html").read_text(encoding="utf-8")
    index = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "编号 ID · firm_code" in page and "USCC" not in page
    assert "编号 ID · firm_code" in index and "USCC" not in index
    assert json.loads((tmp_path / "out" / f"{code}.json").read_text())["entity"]["id"] == code


def test_the_builtin_key_is_still_headed_as_a_uscc(bundle, tmp_path):
    frame = pd.read_csv(DATA / "bundle_v1_input.csv", dtype={"uscc": str})
    docs = decision_documents(explain_table(bundle, frame, ids=[frame["uscc"].iloc[0]]))
    assert docs[0]["entity"]["id_format"] == "uscc"
    write_reports(docs, tmp_path, fmt="html")
    assert "统一社会信用代码 USCC" in next(tmp_path.glob("9*.html")).read_text(encoding="utf-8")


def test_history_and_objections_find_the_entity_by_the_configured_key(renamed, tmp_path):
    root, _bundle, _frame = renamed
    db = tmp_path / "audit.db"
    bundle_dir, registry = str(root / "bundle"), str(root / "registry.csv")
    _cli("rescore", "--model", bundle_dir, "--input", registry, "--output", "graded.parquet", "--audit-db", str(db),
         cwd=tmp_path)  # fmt: skip
    graded = pd.read_parquet(tmp_path / "graded.parquet")
    assert list(graded.columns[:2]) == ["firm_code", "snapshot"]
    code = graded["firm_code"].iloc[7]
    rows = history(code, db)
    assert len(rows) == 1 and rows[0]["status"] == "ok"
    mine = graded[graded["firm_code"] == code].iloc[0]
    assert rows[0]["grade"] == mine["grade"] and rows[0]["as_of"] == str(mine["snapshot"])[:10]
    out = _cli("objection", "file", "--uscc", code, "--item", "overdue_tax_filings_24m", "--claimed", "0",
               "--reason", "filed on time", "--audit-db", str(db), cwd=tmp_path)  # fmt: skip
    assert "Objection 1 filed" in out
    _cli("objection", "resolve", "1", "--decision", "accept", "--note", "checked", "--out", "o", "--audit-db", str(db),
         cwd=tmp_path)  # fmt: skip
    report = json.loads((tmp_path / "o" / "objection_1.json").read_text())
    assert report["before"]["entity"]["id"] == report["after"]["entity"]["id"] == code
    page = (tmp_path / "o" / "objection_1.html").read_text(encoding="utf-8")
    assert f"编号 ID · firm_code {code}" in page and "USCC" not in page
    assert [r["kind"] for r in history(code, db)] == ["rescore", "objection"]
