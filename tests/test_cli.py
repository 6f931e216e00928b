import json
import subprocess
import sys

import pandas as pd
import pyarrow.parquet as pq
from typer.testing import CliRunner

from credit_grading.cli import app

runner = CliRunner()


def run_cli(*args, cwd=None):
    """Run the real console entry point in a fresh process (for exit codes and stderr)."""
    code = "from credit_grading.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_synth_then_validate(tmp_path):
    out = tmp_path / "r.parquet"
    res = runner.invoke(app, ["synth", "--rows", "5000", "--seed", "1", "--as-of", "2025-12-31", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "Wrote 5,000 rows as of 2025-12-31" in res.output
    assert pq.read_metadata(out).num_rows == 5000
    res = runner.invoke(app, ["validate", "--input", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["rows_read"] == 5000 and summary["rows_valid"] == 5000 and summary["rows_rejected"] == 0


def test_validate_reports_reasons_and_writes_rejects(tmp_path):
    out = tmp_path / "r.csv"
    res = runner.invoke(app, ["synth", "-n", "4000", "--out", str(out), "--invalid-fraction", "0.05"])
    assert res.exit_code == 0, res.output
    assert "200 rows were given a defect on purpose" in res.output
    rej = tmp_path / "rejects.csv"
    res = runner.invoke(app, ["validate", "--input", str(out), "--rejects", str(rej)])
    assert res.exit_code == 0, res.output
    assert "rejected" in res.output and "200" in res.output and "uscc_check_digit" in res.output
    table = pd.read_csv(rej)
    assert set(table.columns) == {"row_number", "uscc", "column", "value", "reason", "detail"}
    assert table["row_number"].nunique() == 200


def test_missing_column_exits_1_naming_it_without_traceback(tmp_path):
    full = tmp_path / "full.csv"
    assert runner.invoke(app, ["synth", "-n", "200", "--out", str(full)]).exit_code == 0
    df = pd.read_csv(full, dtype=str)
    cut = tmp_path / "cut.csv"
    df.drop(columns=["tax_credit_rating"]).to_csv(cut, index=False)
    proc = run_cli("validate", "--input", str(cut))
    assert proc.returncode == 1
    assert "missing required column(s): tax_credit_rating" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_bad_config_exits_1_with_the_key_path(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset:\n  catalogue: builtin\n  duplicates: keep_last\n", encoding="utf-8")
    proc = run_cli("synth", "-n", "10", "--out", str(tmp_path / "x.parquet"), "--config", str(cfg))
    assert proc.returncode == 1
    assert "dataset.duplicates" in proc.stderr and "'keep_last'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_catalogue_command(tmp_path):
    res = runner.invoke(app, ["catalogue", "--format", "csv"])
    assert res.exit_code == 0
    lines = res.output.strip().splitlines()
    assert lines[0].startswith("id,name_zh,name_en,source")
    assert any(line.startswith("tax_credit_rating,纳税信用等级") for line in lines)
    res = runner.invoke(app, ["catalogue", "--format", "json"])
    assert json.loads(res.output)["items"][0]["id"] == "enterprise_name"


def test_demo_runs_on_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "demo"
    res = runner.invoke(app, ["demo", "--rows", "8000", "--out", str(out)])
    assert res.exit_code == 0, res.output
    first = json.loads((out / "grades_2024-12-31.parquet.summary.json").read_text())
    assert first["rows_read"] == 8000 and first["rows_rejected"] == 80
    assert (out / "rejects_2024-12-31.csv").exists()
    latest = json.loads((out / "grades_2025-12-31.parquet.summary.json").read_text())
    assert latest["rows_graded"] == 8000 and sum(latest["tier_counts"].values()) == 8000
    assert (out / "model" / "manifest.json").exists() and (out / "mlflow.db").exists()
    tiers_reported = {json.loads(p.read_text())["decision"]["tier"] for p in (out / "decisions").glob("*.json")}
    assert tiers_reported == {t for t, n in latest["tier_counts"].items() if n}
    for name in ("validation_report.html", "monitoring/monitoring.html", "inspection_plan.csv", "publication_list.csv",
                 "grades_2025-12-31.parquet.migration.json"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    # The regional exchange round trip: this region's serious listings come back as verified partner lists.
    imported = json.loads((out / "exchange" / "partner" / "import_report.json").read_text())
    flagged = pd.read_parquet(out / "grades_2025-12-31.parquet")["serious_untrustworthy_flag"].eq(1).sum()
    partner = pd.read_parquet(out / "exchange" / "partner" / "partner_lists.parquet")
    assert flagged > 0 and len(partner) == flagged and set(partner["list"]) == {"beijing_serious_untrustworthy"}
    assert imported and (out / "exchange" / "package_110000" / "signature.json").exists()
    sector = json.loads((out / "sector_model" / "manifest.json").read_text())
    assert sector["format_version"] == 3 and sector["segments"]["column"] == "industry"
    text = res.output.replace("\n", " ")
    assert "Sector models (" in text and "against the pooled" in text
    assert "mlflow ui --backend-store-uri" in text and "Out-of-time AUC" in text and "Done in" in text
    assert "MLFLOW_TRACKING_URI" not in __import__("os").environ  # the demo leaves the environment as it was


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and "credit-grading 0.1.0" in res.output
