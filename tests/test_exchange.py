"""Regional exchange: signed interchange packages between two synthetic regions sharing entities."""

import json
from dataclasses import replace

import jsonschema
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from credit_grading.cli import app
from credit_grading.config.grading import Action, Condition, OverrideRule
from credit_grading.exchange import (
    GRADES,
    LISTS,
    MANIFEST,
    SCHEMA,
    SIGNATURE,
    ExchangeError,
    export_package,
    import_package,
    interchange_schema,
    read_package,
    write_package,
)
from credit_grading.grading import decide
from credit_grading.lists import apply_memberships, read_memberships
from credit_grading.registry import validate_table
from credit_grading.registry.uscc import check_uscc, uscc_check_char
from credit_grading.service import bundle_schema
from credit_grading.signing import generate_keys
from credit_grading.synth import generate_registry

runner = CliRunner()
KEYS = {"id_column": "uscc", "as_of_column": "as_of"}
BEIJING, TIANJIN = "110000", "120000"
SHARED = 150


def _in_division(codes, division: str) -> np.ndarray:
    """The same organisations registered in another administrative division (check character recomputed)."""
    out = []
    for c in codes:
        body = c[:2] + division + c[8:17]
        out.append(body + uscc_check_char(body))
    return np.array(out, dtype=object)


@pytest.fixture(scope="module")
def regions(bundle, tmp_path_factory):
    """Beijing and Tianjin registries graded by the same model; Tianjin also holds 150 Beijing entities."""
    schema = bundle_schema(bundle)
    bj = generate_registry(1_200, seed=101, as_of="2025-12-31").table.to_pandas()
    tj = generate_registry(1_000, seed=102, as_of="2025-12-31").table.to_pandas()
    tj["uscc"] = _in_division(tj["uscc"], "120101")
    tj.loc[: SHARED - 1, "uscc"] = bj["uscc"].to_numpy()[:SHARED]  # branches of Beijing firms, same codes
    assert (check_uscc(tj["uscc"].to_numpy()) == 0).all()
    data = {r: validate_table(t, schema).data for r, t in ((BEIJING, bj), (TIANJIN, tj))}
    grades = {r: decide(bundle.model, d)[0] for r, d in data.items()}
    shared = bj["uscc"].tolist()[:SHARED]
    tj_only = tj["uscc"].tolist()[SHARED:]
    tj_lists = read_memberships(pd.DataFrame(
        [[c, "serious_untrustworthy", "天津市信用办", "2025-11-02", None] for c in shared[:10]]
        + [[c, "dishonest_debtor", "天津市第一中级人民法院", "2025-01-01", "2025-06-30"] for c in shared[10:15]]
        + [[c, "abnormal_operations", "天津市市场监管委", "2025-03-01", None] for c in tj_only[:20]],
        columns=["id", "list", "source", "start", "end"]))  # fmt: skip
    bj_lists = read_memberships(pd.DataFrame(
        [[c, "serious_untrustworthy", "北京市信用办", "2025-10-01", None] for c in shared[20:25]],
        columns=["id", "list", "source", "start", "end"]))  # fmt: skip
    root = tmp_path_factory.mktemp("keys")
    keys = {r: generate_keys(root / r) for r in (BEIJING, TIANJIN, "untrusted")}
    return {"data": data, "grades": grades, "lists": {BEIJING: bj_lists, TIANJIN: tj_lists}, "keys": keys,
            "shared": shared}  # fmt: skip


def _export(regions, region, out):
    return export_package(regions["grades"][region], regions["lists"][region], out, region=region,
                          key_path=regions["keys"][region].private_path, **KEYS)  # fmt: skip


def test_round_trip_between_two_regions_sharing_entities(regions, tmp_path, bundle):
    manifest = _export(regions, TIANJIN, tmp_path / "tj_pkg")
    assert sorted(p.name for p in (tmp_path / "tj_pkg").iterdir()) == sorted(
        [GRADES, LISTS, SCHEMA, MANIFEST, SIGNATURE]
    )
    assert manifest["region"] == TIANJIN and manifest["as_of_date"] == "2025-12-31"
    assert manifest["files"][GRADES]["rows"] == 1_000 and manifest["files"][LISTS]["rows"] == 35
    # Only what partners need leaves: no PD, score, reasons, items or personal data.
    assert pq.read_schema(tmp_path / "tj_pkg" / GRADES).names == ["id", "grade", "tier", "as_of_date", "region"]
    got = import_package(tmp_path / "tj_pkg", tmp_path / "bj_in", trusted_keys=[regions["keys"][TIANJIN].public_path],
                         prefix="tianjin")  # fmt: skip
    assert got.signer == regions["keys"][TIANJIN].fingerprint and len(got.rejects) == 0
    tj = regions["grades"][TIANJIN]
    pd.testing.assert_frame_equal(
        got.partner_grades[["id", "grade", "tier"]],
        pd.DataFrame({"id": tj["uscc"].astype(str), "grade": tj["grade"].astype(str), "tier": tj["tier"].astype(str)}),
        check_dtype=False,
    )
    partner = read_memberships(tmp_path / "bj_in" / "partner_lists.parquet")
    assert partner.lists == ("tianjin_abnormal_operations", "tianjin_dishonest_debtor", "tianjin_serious_untrustworthy")
    assert (partner.table["listed_by"] == TIANJIN).all() and len(partner) == 35
    # Beijing names Tianjin's serious list in a rule: the ten shared entities become tier D, with provenance.
    rule = OverrideRule(id="tianjin_serious", label_zh="天津市严重失信主体名单", label_en="Tianjin serious list",
                        when=Condition(item="list:tianjin_serious_untrustworthy", eq=1), then=Action(tier="D"))  # fmt: skip
    model = replace(bundle.model, overrides=(*bundle.model.overrides, rule))
    bj_data = regions["data"][BEIJING]
    before = regions["grades"][BEIJING]
    after, _ = decide(model, apply_memberships(bj_data, partner, **KEYS))
    listed = after["uscc"].isin(regions["shared"][:10]).to_numpy()
    assert (after.loc[listed, "tier"].astype(str) == "D").all()
    assert after.loc[listed, "rules_matched"].astype(str).str.contains("tianjin_serious").all()
    # Tianjin's lapsed dishonest-debtor listings (credit repair) and its own-only entities change nothing.
    pd.testing.assert_frame_equal(after.loc[~listed, ["grade", "tier"]], before.loc[~listed, ["grade", "tier"]])
    # And back: Beijing's package, imported in Tianjin.
    _export(regions, BEIJING, tmp_path / "bj_pkg")
    back = read_package(tmp_path / "bj_pkg", trusted_keys=[regions["keys"][BEIJING].fingerprint])
    assert back.partner_lists["list"].unique().tolist() == [f"r{BEIJING}_serious_untrustworthy"]
    assert set(back.partner_lists["id"]) == set(regions["shared"][20:25])
    # Every accepted row follows the package's own JSON Schema.
    schema = interchange_schema()
    rows = (
        pq.read_table(tmp_path / "tj_pkg" / LISTS).to_pylist()
        + pq.read_table(tmp_path / "tj_pkg" / GRADES).to_pylist()[:50]
    )
    for r in rows:
        r = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
        jsonschema.validate(r, {**schema, "$ref": "#/$defs/" + ("listing" if "list" in r else "grade")})


def _tamper_byte(pkg):
    raw = bytearray((pkg / GRADES).read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (pkg / GRADES).write_bytes(bytes(raw))


def _tamper_manifest(pkg):
    doc = json.loads((pkg / MANIFEST).read_text())
    doc["as_of_date"] = "2026-01-31"
    (pkg / MANIFEST).write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_tamper_byte, r"grades\.parquet does not match the sha256 its signed manifest records"),
        (_tamper_manifest, r"bad signature on package .* the manifest was changed after it was signed"),
        ("untrusted", r"signed by key [0-9a-f]{16} \([0-9a-f]{64}\), which is not among the 1 trusted key\(s\)"),
        ("no_keys", r"no trusted keys are configured"),
    ],
)
def test_a_tampered_or_untrusted_package_is_refused_with_one_message(regions, tmp_path, tamper, message, monkeypatch):
    monkeypatch.delenv("CREDIT_GRADING_TRUSTED_KEYS", raising=False)
    pkg = tmp_path / "pkg"
    signer = "untrusted" if tamper == "untrusted" else TIANJIN
    export_package(regions["grades"][TIANJIN], regions["lists"][TIANJIN], pkg, region=TIANJIN,
                   key_path=regions["keys"][signer].private_path, **KEYS)  # fmt: skip
    if callable(tamper):
        tamper(pkg)
    trusted = [] if tamper == "no_keys" else [regions["keys"][TIANJIN].public_path]
    with pytest.raises(ExchangeError, match=message):
        import_package(pkg, tmp_path / "in", trusted_keys=trusted)
    assert not (tmp_path / "in").exists()  # nothing written
    res = runner.invoke(app, ["exchange", "import", "--package", str(pkg), "--out", str(tmp_path / "in"),
                              *(["--trusted-key", str(trusted[0])] if trusted else [])])  # fmt: skip
    assert res.exit_code == 1 and isinstance(res.exception, ExchangeError)
    assert not (tmp_path / "in").exists()


def test_bad_rows_are_rejected_with_reasons_and_the_rest_accepted(regions, tmp_path):
    key = regions["keys"][TIANJIN]
    good = regions["shared"][:3]
    broken = good[0][:17] + ("0" if good[0][17] != "0" else "1")
    grades = pd.DataFrame({"id": [*good, broken, "91120000MA0", good[0]], "grade": ["AA", "BBB", "", "A", "A", "C"],
                           "tier": ["A", "B", "B", "E", "A", "D"], "as_of_date": "2025-12-31",
                           "region": [TIANJIN, TIANJIN, TIANJIN, TIANJIN, BEIJING, TIANJIN]})  # fmt: skip
    listings = pd.DataFrame({"id": [good[0], good[1], broken], "list": ["serious_untrustworthy", "bad name", "x"],
                             "source": "s", "start": ["2025-01-01", "2025-01-01", "2025-01-01"],
                             "end": [None, None, "2024-01-01"], "region": TIANJIN})  # fmt: skip
    write_package(grades, listings, tmp_path / "pkg", region=TIANJIN, key_path=key.private_path)
    res = runner.invoke(app, ["exchange", "import", "--package", str(tmp_path / "pkg"), "--out", str(tmp_path / "in"),
                              "--trusted-key", key.fingerprint, "--rename", "serious_untrustworthy=tianjin_serious"])  # fmt: skip
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "2 of 6 grades and 1 of 3 listings accepted" in text and "tianjin_serious" in text
    rejects = pd.read_csv(tmp_path / "in" / "rejects.csv", dtype=str)
    got = sorted(zip(rejects["table"], rejects["row"].astype(int), rejects["reason"], strict=True))
    assert got == [
        ("grades.parquet", 3, "grade_missing"), ("grades.parquet", 4, "tier_unknown"),
        ("grades.parquet", 4, "uscc_check_digit"), ("grades.parquet", 5, "region_not_the_issuer"),
        ("grades.parquet", 5, "uscc_length"), ("grades.parquet", 6, "duplicate_id"),
        ("lists.parquet", 2, "list_name_invalid"), ("lists.parquet", 3, "end_before_start"),
        ("lists.parquet", 3, "uscc_check_digit"),
    ]  # fmt: skip
    partner = read_memberships(tmp_path / "in" / "partner_lists.parquet")
    assert partner.table[["id", "list", "listed_by"]].values.tolist() == [[good[0], "tianjin_serious", TIANJIN]]
    report = json.loads((tmp_path / "in" / "import_report.json").read_text())
    assert report["grades"] == {"rows": 6, "accepted": 2, "rejected": 4} and report["region"] == TIANJIN
    # The folder holds exactly what import writes.
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == sorted(
        ["partner_lists.parquet", "partner_grades.parquet", "rejects.csv", "import_report.json"])  # fmt: skip


def test_export_command_writes_a_package_only_where_asked(regions, tmp_path):
    grades = tmp_path / "grades.parquet"
    regions["grades"][TIANJIN].to_parquet(grades)
    m = regions["lists"][TIANJIN].table
    m.assign(start=m["start"].dt.strftime("%Y-%m-%d"), end=m["end"].dt.strftime("%Y-%m-%d")).to_csv(
        tmp_path / "lists.csv", index=False)  # fmt: skip
    key = regions["keys"][TIANJIN].private_path
    args = ["exchange", "export", "--grades", str(grades), "--lists", str(tmp_path / "lists.csv"), "--region", TIANJIN,
            "--key", str(key)]  # fmt: skip
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "out" / "pkg")])
    assert res.exit_code == 0, res.output
    assert "1,000 grades, 35 listings, signed" in " ".join(res.output.split())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["pkg"]  # no temporary folder left beside it
    again = runner.invoke(app, [*args, "--out", str(tmp_path / "out" / "pkg")])
    assert again.exit_code == 1 and "already exists and is not an empty folder" in str(again.exception)
    bad = runner.invoke(app, [*args[:-4], "--region", "12", "--key", str(key), "--out", str(tmp_path / "p2")])
    assert bad.exit_code == 1 and "6-digit administrative division code" in str(bad.exception)
    assert not (tmp_path / "p2").exists()
    # A partner's listing is never passed on as one's own.
    m2 = regions["lists"][TIANJIN].table.assign(listed_by=BEIJING)
    manifest = export_package(regions["grades"][TIANJIN], replace(regions["lists"][TIANJIN], table=m2),
                              tmp_path / "p3", region=TIANJIN, key_path=key, **KEYS)  # fmt: skip
    assert manifest["files"][LISTS]["rows"] == 0


def test_an_import_folder_that_is_a_file_is_one_message(regions, tmp_path):
    _export(regions, TIANJIN, tmp_path / "pkg")
    (tmp_path / "in").write_text("not a folder")
    with pytest.raises(ExchangeError, match="import folder"):
        import_package(tmp_path / "pkg", tmp_path / "in", trusted_keys=[regions["keys"][TIANJIN].fingerprint])
    assert (tmp_path / "in").read_text() == "not a folder"
    with pytest.raises(ExchangeError, match="is the package folder itself"):
        import_package(tmp_path / "pkg", tmp_path / "pkg", trusted_keys=[regions["keys"][TIANJIN].fingerprint])
