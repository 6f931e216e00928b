"""Every output is safe against hostile values (issue #15, items 7, 8, 9, 14).

- report file names derive from a safe encoding of the id and never leave ``--out``;
- every CSV the project writes neutralises formula injection (``=…`` becomes ``'=…``);
- user data is never read as console markup;
- numba's pickled kernel cache lives in a directory only the user can write;
- HTML pages escape every data value.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from credit_grading.cli import app
from credit_grading.explain import decision_documents, explain_table, render_html, report_file_stem, write_reports
from credit_grading.synth import generate_registry

DATA = Path(__file__).parent / "data"
SRC = Path(__file__).resolve().parents[1] / "src" / "credit_grading"
runner = CliRunner()

EVIL = "=cmd|' /C calc'!A0"
HOSTILE_IDS = ["../../x", "/abs/x", "a/b", "..", ".", "CON", "con", "nul.txt", "x" * 500, "<script>", "a?b", "a%3Fb",
               "a:b", "a\\b", "ABC", "abc", "", " ", "-rf", "张三", "a\x00b", "\n"]  # fmt: skip


# ---------------------------------------------------------------- item 7: report file names


def test_report_file_stems_are_safe_distinct_and_bounded():
    stems = [report_file_stem(i) for i in HOSTILE_IDS]
    assert len(set(stems)) == len(stems)  # no two ids share a file
    assert len({s.casefold() for s in stems}) == len(stems)  # not even on a case-insensitive file system
    for s in stems:
        assert re.fullmatch(r"[A-Za-z0-9_%~-]{1,120}", s), s
        assert s.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL"}
    # a plain code keeps its name
    assert report_file_stem("91110000MA01ABCD3X") == "91110000MA01ABCD3X"
    assert report_file_stem("E_12-B") == "E_12-B"
    assert report_file_stem("abc") != "abc"  # lower case is marked: some file systems ignore case
    # two ids that read the same once sanitised still differ
    assert report_file_stem("a/b") != report_file_stem("a%2Fb") != report_file_stem("a_b")
    assert report_file_stem("x" * 500) != report_file_stem("x" * 499 + "y")


@pytest.fixture(scope="module")
def few_docs(bundle):
    table = generate_registry(3_000, seed=81, as_of="2026-06-30").table
    res = explain_table(bundle, table, tier="D")
    return decision_documents(res)[:1]


def test_write_reports_keeps_hostile_ids_inside_out(few_docs, tmp_path):
    docs = []
    for i in HOSTILE_IDS:
        d = json.loads(json.dumps(few_docs[0]))
        d["entity"]["id"] = i
        docs.append(d)
    out = tmp_path / "deep" / "out"
    written = [p for p in write_reports(docs, out) if p.name != "index.html"]
    assert len(written) == 2 * len(HOSTILE_IDS) == len(set(written))
    for p in written:
        assert p.resolve().parent == out.resolve(), p
    # nothing anywhere but in out
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file() and out not in p.parents) == []
    assert sorted(p.name for p in out.iterdir()) == sorted([*(p.name for p in written), "index.html"])
    by_id = {}
    for p in written:
        if p.suffix == ".json":
            by_id[json.loads(p.read_text(encoding="utf-8"))["entity"]["id"]] = p
    assert set(by_id) == set(HOSTILE_IDS)  # every id is in its own file, unchanged inside
    page = (out / (report_file_stem("<script>") + ".html")).read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_write_reports_refuses_a_symlink_pointing_out(few_docs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.json"
    victim.write_text("precious", encoding="utf-8")
    code = few_docs[0]["entity"]["id"]
    (out / f"{code}.json").symlink_to(victim)
    write_reports(few_docs, out, "json")
    assert victim.read_text(encoding="utf-8") == "precious"
    assert not (out / f"{code}.json").is_symlink()


@pytest.fixture(scope="module")
def any_id_bundle(bundle, tmp_path_factory):
    from credit_grading.bundle import write_bundle

    cfg = json.loads(json.dumps(bundle.config))
    cfg.setdefault("dataset", {})["id_format"] = "any"
    return write_bundle(tmp_path_factory.mktemp("anyid") / "b", bundle.model, policy=bundle.policy,
                        catalogue=bundle.catalogue, config=cfg, training_data={})  # fmt: skip


def test_explain_command_with_any_ids_writes_only_inside_out(any_id_bundle, tmp_path):
    table = generate_registry(400, seed=5, as_of="2026-06-30").table
    ids = ["../../x", "/abs/x", "a/b", "..", "CON", "y" * 500, "<script>", "[/x]"]
    col = table.column("uscc").to_pylist()
    col[: len(ids)] = ids
    table = table.set_column(table.column_names.index("uscc"), "uscc", pa.array(col))
    src = tmp_path / "in" / "r.parquet"
    src.parent.mkdir()
    pq.write_table(table, src)
    out = tmp_path / "in" / "reports"
    args = ["explain", "--model", str(any_id_bundle.path), "--input", str(src), "--out", str(out)]
    for i in ids:
        args += ["--uscc", i]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, (res.output, res.exception)
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p != src)
    assert [p.name for p in files if p.name == "index.html"] == ["index.html"]  # the list of every report
    files = [p for p in files if p.name != "index.html"]
    assert len(files) == 2 * len(ids) and all(p.parent == out for p in files)
    got = {json.loads(p.read_text(encoding="utf-8"))["entity"]["id"] for p in files if p.suffix == ".json"}
    assert got == set(ids)


# ---------------------------------------------------------------- item 8: CSV formula injection

CSV_WRITER = re.compile(
    r"\.to_csv\(|pacsv\.write_csv\(|pyarrow\.csv\.write_csv|from pyarrow\.csv import .*write_csv|CSVWriter\("
    r"|\bcsv\.(writer|DictWriter)\("
)
# Files other helpers switch to credit_grading.csvsafe; the lead removes each entry when it lands.
# registry.io.write_table writes registry *data* files (synthetic registries) exactly as they are,
# so they read back the same; everything meant for people goes through csvsafe.
DATA_WRITERS = {"registry/io.py": ["pacsv.write_csv(plain, path)"]}


def _raw_csv_writers() -> dict[str, list[str]]:
    """Lines of ``src/`` that write CSV other than through ``credit_grading.csvsafe``."""
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "csvsafe.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if CSV_WRITER.search(line.split("#")[0]):
                found.setdefault(rel, []).append(f"{n}: {line.strip()}")
    return found


def test_no_csv_is_written_outside_csvsafe():
    found = _raw_csv_writers()
    for rel, allowed in DATA_WRITERS.items():
        found[rel] = [line for line in found.get(rel, []) if not any(a in line for a in allowed)]
    assert {k: v for k, v in found.items() if v} == {}, found


def _cells(path: Path) -> list[str]:
    import csv

    with open(path, encoding="utf-8-sig", newline="") as fh:
        return [c for row in csv.reader(fh) for c in row]


def _assert_inert(path: Path, *raw: str) -> None:
    cells = _cells(path)
    for r in raw:
        assert r not in cells, (r, path)
    bad = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(c)]
    assert not bad, bad


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_publish_masks_first_then_neutralises(tmp_path, catalogue):
    from credit_grading.config.policy import load_policy
    from credit_grading.csvsafe import write_csv
    from credit_grading.grading.publish import publication_list

    grades = pd.DataFrame({"uscc": ["=1+1", "91110000MA01ABCD3X"], "as_of": ["2025-12-31"] * 2, "tier": ["D", "D"],
                           "rules_matched": ["serious_untrustworthy"] * 2, "legal_rep_name": [EVIL, "@张三"],
                           "enterprise_name": [EVIL, "+x"]})  # fmt: skip
    listed = publication_list(grades, load_policy(), catalogue)
    assert listed["legal_rep_name"].tolist() == ["=" + "*" * (len(EVIL) - 1), "@**"]  # masked, not yet neutralised
    write_csv(listed, tmp_path / "l.csv")
    back = pd.read_csv(tmp_path / "l.csv", dtype=str)
    assert back["legal_rep_name"].tolist() == ["'=" + "*" * (len(EVIL) - 1), "'@**"]  # nothing of the name returns
    assert back["enterprise_name"].tolist() == ["'" + EVIL, "'+x"] and back["uscc"].tolist()[0] == "'=1+1"


def test_publish_command_csv_is_inert(tmp_path):
    grades = pd.DataFrame({"uscc": ["=1+1", "91110000MA01ABCD3X"], "as_of": ["2025-12-31"] * 2, "tier": ["D", "D"],
                           "rules_matched": ["dishonest_debtor"] * 2, "legal_rep_name": [EVIL, "李四"],
                           "enterprise_name": [EVIL, "-2"]})  # fmt: skip
    grades.to_parquet(tmp_path / "g.parquet")
    res = runner.invoke(app, ["publish", "--grades", str(tmp_path / "g.parquet"), "--out", str(tmp_path / "l.csv")])
    assert res.exit_code == 0, res.output
    _assert_inert(tmp_path / "l.csv", EVIL, "=1+1", "-2")


def test_inspection_plan_csv_is_inert(tmp_path):
    from credit_grading.synth import generate_inspectors

    n = 200
    grades = pd.DataFrame({"uscc": [f"=E{i}" for i in range(n)], "tier": ["D"] * n})
    grades.to_parquet(tmp_path / "g.parquet")
    roster = generate_inspectors(10, 0)
    roster["inspector_id"] = "@" + roster["inspector_id"].astype(str)
    roster.to_parquet(tmp_path / "i.parquet")
    res = runner.invoke(app, ["inspection-plan", "--grades", str(tmp_path / "g.parquet"), "--inspectors",
                              str(tmp_path / "i.parquet"), "--seed", "1", "--out", str(tmp_path / "p.csv")])  # fmt: skip
    assert res.exit_code == 0, res.output
    _assert_inert(tmp_path / "p.csv")


def test_validate_rejects_csv_is_inert(tmp_path):
    table = generate_registry(50, seed=3, as_of="2025-12-31").table
    col = table.column("uscc").to_pylist()
    col[0] = EVIL
    table = table.set_column(table.column_names.index("uscc"), "uscc", pa.array(col))
    pq.write_table(table, tmp_path / "r.parquet")
    res = runner.invoke(app, ["validate", "--input", str(tmp_path / "r.parquet"), "--rejects", str(tmp_path / "x.csv")])
    assert res.exit_code == 0, res.output
    _assert_inert(tmp_path / "x.csv", EVIL)


def test_registry_io_csv_for_people_is_inert_and_data_files_read_back_exactly(tmp_path):
    from credit_grading.registry import io

    frame = pd.DataFrame({"a": [EVIL, "ok"], "b": ["\tx", "@y"]})
    io.write_frame(frame, tmp_path / "o.csv")
    _assert_inert(tmp_path / "o.csv", EVIL)
    io.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "data.csv")
    assert pd.read_csv(tmp_path / "data.csv", dtype=str, keep_default_na=False).equals(frame)


def test_rescore_rejects_csv_is_inert(bundle, tmp_path):
    from credit_grading.batch import rescore

    table = generate_registry(300, seed=4, as_of="2025-12-31").table
    col = table.column("uscc").to_pylist()
    col[0] = EVIL
    table = table.set_column(table.column_names.index("uscc"), "uscc", pa.array(col))
    pq.write_table(table, tmp_path / "r.parquet")
    rescore(bundle, tmp_path / "r.parquet", tmp_path / "g.parquet", rejects_path=tmp_path / "x.csv")
    _assert_inert(tmp_path / "x.csv", EVIL)


def test_synth_side_file_is_inert(tmp_path):
    from credit_grading.synth import write_registry

    reg = generate_registry(20, seed=1, invalid_fraction=0.2)
    reg = dataclasses.replace(reg, injected=reg.injected.assign(defect=EVIL))
    side = write_registry(reg, tmp_path / "r.parquet")
    _assert_inert(side, EVIL)


def test_scorecard_points_table_csv_is_inert(fitted_scorecard, tmp_path, monkeypatch):
    table = fitted_scorecard.points_table()
    table.loc[table.index[0], "range_or_levels"] = EVIL
    monkeypatch.setattr(fitted_scorecard, "points_table", lambda: table)
    fitted_scorecard.save_points_table(tmp_path / "p.csv")
    assert (tmp_path / "p.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # still opens in spreadsheets
    _assert_inert(tmp_path / "p.csv", EVIL)


def test_bundle_report_tables_are_inert(fitted_scorecard, monkeypatch):
    import io
    from types import SimpleNamespace

    from credit_grading import pipeline

    hostile = pd.DataFrame({"feature": [EVIL], "bin": ["-inf, 3"], "points": [-1.5]})
    from credit_grading.reports import tables

    card = SimpleNamespace(spec_=None, binning_spec_=None)
    grades = [{"grade": "@A", "count": 1}]
    result = SimpleNamespace(scorecard=card, evaluation={"grades": {"development": grades, "test": grades}})
    monkeypatch.setattr(tables, "points_frame", lambda _spec: hostile)
    monkeypatch.setattr(tables, "binning_frame", lambda _spec: hostile)
    files = pipeline.bundle_reports(result)
    for name, text in files.items():
        if name.endswith(".csv"):
            frame = pd.read_csv(io.StringIO(text), dtype=str).drop(columns=["points", "count"], errors="ignore")
            assert not frame.apply(lambda c: c.str[:1].isin(list("=+-@"))).any().any(), (name, text)
    assert pd.read_csv(io.StringIO(files["points.csv"]))["points"].tolist() == [-1.5]  # numbers stay numbers


def test_catalogue_csv_is_inert(monkeypatch, catalogue):
    import credit_grading.config as config_module

    items = list(catalogue.items)
    items[0] = items[0].model_copy(update={"name_zh": EVIL, "name_en": "+1"})
    hostile = catalogue.model_copy(update={"items": tuple(items)})
    real = config_module.load_config

    def fake(path=None):
        cfg = real(path)
        return SimpleNamespaceConfig(cfg, hostile)

    monkeypatch.setattr(config_module, "load_config", fake)
    res = runner.invoke(app, ["catalogue", "--format", "csv"])
    assert res.exit_code == 0, res.output
    import csv

    rows = list(csv.reader(res.output.splitlines()))
    assert rows[0][:3] == ["id", "name_zh", "name_en"] and rows[1][:3] == [items[0].id, "'" + EVIL, "'+1"]


class SimpleNamespaceConfig:
    def __init__(self, cfg, cat):
        self._cfg, self._cat = cfg, cat

    def load_catalogue(self):
        return self._cat

    def __getattr__(self, name):
        return getattr(self._cfg, name)


# ---------------------------------------------------------------- item 9: console markup


def run_cli(*args, env=None):
    code = "from credit_grading.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                          env=env)  # fmt: skip


def _flat(text: str) -> str:
    """Console output without the line breaks and padding rich adds (the paths here have no spaces)."""
    return re.sub(r"\s+", "", text)


def test_error_message_with_markup_is_printed_verbatim(tmp_path):
    missing = tmp_path / "[/x]" / "[red]nothing.parquet"
    proc = run_cli("validate", "--input", str(missing))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "MarkupError" not in proc.stderr
    flat = proc.stderr.replace("\n", "")
    assert "error:" in flat and "[/x]" in flat and "[red]nothing.parquet" in flat


def test_paths_with_markup_print_verbatim(tmp_path):
    out = tmp_path / "[red]out" / ":thumbs_up:[bold]roster.parquet"
    res = runner.invoke(app, ["synth-roster", "--out", str(out), "--count", "5"])
    assert res.exit_code == 0, (res.output, res.exception)
    assert str(out) in _flat(res.output)
    reg = tmp_path / "[/x]reg.parquet"
    res = runner.invoke(app, ["synth", "--rows", "300", "--seed", "1", "--out", str(reg)])
    assert res.exit_code == 0, (res.output, res.exception)
    assert str(reg) in _flat(res.output)
    res = runner.invoke(app, ["validate", "--input", str(reg)])
    assert res.exit_code == 0, (res.output, res.exception)
    assert str(reg) in _flat(res.output)


def test_user_values_with_markup_in_errors_and_tables(tmp_path):
    table = generate_registry(200, seed=2, as_of="2025-12-31").table.append_column("[/x]extra", pa.array(["v"] * 200))
    pq.write_table(table, tmp_path / "r.parquet")
    res = runner.invoke(app, ["validate", "--input", str(tmp_path / "r.parquet")])
    assert res.exit_code == 0, (res.output, res.exception)
    assert "[/x]extra" in _flat(res.output)
    proc = run_cli("explain", "--model", str(DATA / "bundle_v1"), "--input", str(tmp_path / "r.parquet"),
                   "--uscc", "[/x][bold]nope", "--out", str(tmp_path / "o"))  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "[/x][bold]nope" in proc.stderr.replace("\n", "")


# ---------------------------------------------------------------- item 14: numba's cache directory

_SHOW = "import os, credit_grading.engine; print(os.environ.get('NUMBA_CACHE_DIR', ''))"


def _env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    return env


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_numba_cache_goes_to_a_private_per_user_directory(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _SHOW], capture_output=True, text=True, env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    want = tmp_path / "xdg" / "credit_grading" / "numba"
    assert proc.stdout.strip() == str(want) and proc.stderr == ""
    assert stat.S_IMODE(want.stat().st_mode) == 0o700 and want.stat().st_uid == os.getuid()
    # the user's own choice wins
    env = {**_env(tmp_path), "NUMBA_CACHE_DIR": str(tmp_path / "mine")}
    proc = subprocess.run([sys.executable, "-c", _SHOW], capture_output=True, text=True, env=env)
    assert proc.stdout.strip() == str(tmp_path / "mine")


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_a_cache_directory_others_can_write_is_refused(tmp_path, mode):
    shared = tmp_path / "xdg" / "credit_grading" / "numba"
    shared.mkdir(parents=True)
    shared.chmod(mode)
    # importing a kernel module sets up its cache (numba creates the cache's folders then)
    code = (
        _SHOW
        + "\nfrom credit_grading.engine import _kernels_nb; print(sorted(os.listdir(os.environ['NUMBA_CACHE_DIR'])))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    used = Path(proc.stdout.splitlines()[0].strip())
    assert used.is_absolute() and used != shared and shared not in used.parents
    assert proc.stdout.splitlines()[1] != "[]"  # the cache went to the private directory ...
    assert not used.exists()  # ... which is gone with the process
    assert len(proc.stderr.strip().splitlines()) == 1 and str(shared) in proc.stderr
    assert list(shared.iterdir()) == []


# ---------------------------------------------------------------- HTML escapes every data value

XSS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "'><svg onload=alert(1)>"]


def _no_raw_tag(page: str) -> None:
    """No element or attribute came from the data: only our own tags, no event handler anywhere."""
    from html.parser import HTMLParser

    ours = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "br", "strong", "span", "table",
            "thead", "tbody",
            "tr", "th", "td", "ul", "li", "div", "svg", "text", "rect", "line", "polyline"}  # fmt: skip
    seen = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            seen.append((tag, [a for a, _ in attrs]))

    Tags().feed(page)
    assert seen and {t for t, _ in seen} <= ours, {t for t, _ in seen} - ours
    assert not [a for _, attrs in seen for a in attrs if a.startswith("on") or a == "src"]


def test_decision_page_escapes_every_value(few_docs):
    doc = json.loads(json.dumps(few_docs[0]))
    doc["entity"].update({"id": XSS[1], "enterprise_name": XSS[0], "legal_rep_name": XSS[2], "district": XSS[0],
                          "industry": XSS[1]})  # fmt: skip
    doc["as_of"] = XSS[0]
    doc["decision"].update({"tier_label_zh": XSS[0], "tier_label_en": XSS[1], "grade": XSS[2], "model_grade": XSS[0],
                            "override": {"rule": XSS[0], "label_zh": XSS[1], "label_en": XSS[2]}})  # fmt: skip
    for r in doc["reasons"]:
        r.update({"name_zh": XSS[0], "name_en": XSS[1], "value": XSS[2], "typical_value": XSS[0]})
    for s in doc["waterfall"]["steps"]:
        s["label"] = XSS[1]
    doc["measures"] = [{"zh": XSS[0], "en": XSS[1]}]
    doc["model"].update({"name": XSS[0], "version": XSS[1], "champion": XSS[2]})
    doc["data"].update({"input": XSS[0], "input_sha256": XSS[1]})
    _no_raw_tag(render_html(doc))


def test_report_pages_escape_every_value():
    from credit_grading.explain import charts
    from credit_grading.reports.html import render, table

    svg = charts.bars([(XSS[0], 1.0), (XSS[1], -1.0)], title=XSS[2], unit=XSS[0])
    svg += charts.lines([(XSS[1], [0, 1], [0, 1])], title=XSS[0])
    svg += charts.waterfall(0.0, [(XSS[2], 1.0)], title=XSS[1], unit=XSS[2])
    rows = [{"a": XSS[0], "b": XSS[1], "cls": XSS[2]}]
    page = render(XSS[0], XSS[1], [{"title": XSS[2], "paragraphs": [XSS[0]], "svgs": [svg],
                                    "tables": [table(rows, title=XSS[1], classes="cls")]}])  # fmt: skip
    _no_raw_tag(page)


def test_report_command_never_writes_over_its_input(tmp_path):
    data = tmp_path / "r.parquet"
    pq.write_table(generate_registry(300, seed=6, as_of="2025-12-31").table, data)
    before = data.read_bytes()
    res = runner.invoke(app, ["report", "--model", str(DATA / "bundle_v1"), "--data", str(data), "--out", str(data)])
    assert res.exit_code != 0 and "--data and --out name the same file" in str(res.exception)
    assert data.read_bytes() == before and sorted(tmp_path.iterdir()) == [data]


def test_neutralise_leaves_numbers_dates_and_categories_right():
    import datetime as dt

    from credit_grading.csvsafe import neutralise

    frame = pd.DataFrame({"date": [dt.date(2025, 1, 1), None], "mixed": ["=x", dt.date(2025, 1, 1)],
                          "n": [-1.5, 2.0], "cat": pd.Categorical(["@a", "b"]),
                          "s": pd.array(["+1", None], dtype="string")})  # fmt: skip
    got = neutralise(frame)
    assert got["date"].tolist() == [dt.date(2025, 1, 1), None] and got["n"].tolist() == [-1.5, 2.0]
    assert got["mixed"].tolist() == ["'=x", dt.date(2025, 1, 1)]
    assert got["cat"].astype(str).tolist() == ["'@a", "b"] and got["s"].tolist()[0] == "'+1"


def test_rescore_writes_ids_in_the_form_validation_read_them(any_id_bundle, tmp_path):
    """With free-form ids, " a1 " and "a1" are one key: the output carries the trimmed id, once."""
    from credit_grading.batch import rescore

    table = generate_registry(300, seed=6, as_of="2026-06-30").table
    col = table.column("uscc").to_pylist()
    col[0], col[1], col[2] = "  ../x  ", "=id\t", "plain"
    table = table.set_column(table.column_names.index("uscc"), "uscc", pa.array(col))
    pq.write_table(table, tmp_path / "r.parquet")
    s = rescore(any_id_bundle, tmp_path / "r.parquet", tmp_path / "g.parquet", chunk_rows=100)
    got = pq.read_table(tmp_path / "g.parquet").column("uscc").to_pylist()
    assert s["rows_graded"] == 300 and got[:3] == ["../x", "=id", "plain"]
