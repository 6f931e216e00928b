"""Regional exchange: signed interchange packages of grades and list memberships between regions.

A region shares only what its partners need (区域信用信息共享, 联合奖惩). A **package** is a folder:

=====================  ==========================================================================
``grades.parquet``     ``id`` (USCC), ``grade``, ``tier`` (A–D, M), ``as_of_date``, ``region``
``lists.parquet``      ``id`` (USCC), ``list``, ``source``, ``start``, ``end`` (dates; ``end`` empty
                       while the listing stands), ``region`` (the region that listed the entity)
``schema.json``        the JSON Schema of a row of each table (:func:`interchange_schema`)
``manifest.json``      format, version, issuing region, as-of date, creation time, and the sha256
                       and row count of every file above
``signature.json``     an Ed25519 signature over the manifest's sha256, made with the bundle-signing
                       keys (``models keygen``); the context differs from a bundle's, so a bundle
                       signature can never pass for a package's
=====================  ==========================================================================

:func:`import_package` trusts nothing it is handed: the signature must verify and come from a
trusted key (``security.trusted_keys``, ``$CREDIT_GRADING_TRUSTED_KEYS``, or keys given), every
file must match its hash, the schema must be this version's and the tables must follow it. Then
every row is checked (vectorised): the USCC per GB 32100, tier, grade, dates, region. Bad rows are
rejected with their reasons; the accepted listings become a **partner list** in the memberships
format of :mod:`credit_grading.lists` (``list`` renamed ``<prefix>_<list>``, ``listed_by`` the
issuing region), which override rules name as ``list:<prefix>_<list>``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from credit_grading.exceptions import DataError
from credit_grading.lists import Memberships
from credit_grading.registry.uscc import REASON_CODES, UsccStatus, check_uscc
from credit_grading.signing import (
    b64_field,
    env_trusted_fingerprints,
    fingerprint,
    load_private_key,
    short,
    trusted_fingerprints,
)
from credit_grading.storage import atomic_path, describe_os_error, sha256_bytes, sha256_file, write_atomic

FORMAT = "credit_grading.exchange"
FORMAT_VERSION = 1
SIGNATURE_FORMAT = "credit_grading.exchange_signature"
GRADES, LISTS, SCHEMA, MANIFEST, SIGNATURE = (
    "grades.parquet",
    "lists.parquet",
    "schema.json",
    "manifest.json",
    "signature.json",
)
DATA_FILES = (GRADES, LISTS, SCHEMA)
PARTNER_LISTS, PARTNER_GRADES, REJECTS, REPORT = (
    "partner_lists.parquet",
    "partner_grades.parquet",
    "rejects.csv",
    "import_report.json",
)
_CONTEXT = b"credit_grading.exchange.signature/1\n"
_REGION = re.compile(r"^[0-9]{6}$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_META_BYTES = 1 << 20
TIERS = ("A", "B", "C", "D", "M")
USCC_PATTERN = "^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"

ARROW = {
    GRADES: pa.schema([("id", pa.string()), ("grade", pa.string()), ("tier", pa.string()), ("as_of_date", pa.date32()),
                       ("region", pa.string())]),
    LISTS: pa.schema([("id", pa.string()), ("list", pa.string()), ("source", pa.string()), ("start", pa.date32()),
                      ("end", pa.date32()), ("region", pa.string())]),
}  # fmt: skip


class ExchangeError(DataError):
    """An interchange package cannot be written or is refused (tampered, untrusted, malformed)."""


def interchange_schema() -> dict:
    """The JSON Schema (draft 2020-12) of one row of each table of a package."""
    date = {"type": "string", "format": "date"}
    uscc = {"type": "string", "pattern": USCC_PATTERN, "description": "unified social credit code, GB 32100-2015"}
    region = {"type": "string", "pattern": _REGION.pattern, "description": "administrative division code"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://credit-grading.invalid/schemas/exchange-{FORMAT_VERSION}.schema.json",
        "title": f"credit_grading interchange package, version {FORMAT_VERSION}",
        "$defs": {
            "grade": {"type": "object", "additionalProperties": False,
                      "required": ["id", "grade", "tier", "as_of_date", "region"],
                      "properties": {"id": uscc, "grade": {"type": "string", "minLength": 1, "maxLength": 8},
                                     "tier": {"enum": list(TIERS)}, "as_of_date": date, "region": region}},
            "listing": {"type": "object", "additionalProperties": False,
                        "required": ["id", "list", "source", "start", "end", "region"],
                        "properties": {"id": uscc, "list": {"type": "string", "pattern": _NAME.pattern},
                                       "source": {"type": ["string", "null"]}, "start": date,
                                       "end": {"oneOf": [date, {"type": "null"}]}, "region": region}},
        },
        "properties": {GRADES: {"$ref": "#/$defs/grade"}, LISTS: {"$ref": "#/$defs/listing"}},
    }  # fmt: skip


def _dumps(doc: dict) -> bytes:
    return (json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")


def _message(manifest_sha256: str) -> bytes:
    return _CONTEXT + manifest_sha256.encode("ascii")


def _signature(manifest_sha256: str, private_key) -> dict:
    from cryptography.hazmat.primitives import serialization

    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"format": SIGNATURE_FORMAT, "format_version": 1, "algorithm": "ed25519",
            "public_key": base64.b64encode(raw).decode("ascii"), "fingerprint": fingerprint(raw),
            "manifest_sha256": manifest_sha256,
            "signature": base64.b64encode(private_key.sign(_message(manifest_sha256))).decode("ascii")}  # fmt: skip


def _as_dates(col: pd.Series) -> pa.Array:
    days = pd.to_datetime(col, errors="coerce")
    return pa.array(days.dt.date.where(days.notna(), None), type=pa.date32())


def _text(col: pd.Series) -> pa.Array:
    s = col.astype("string")
    return pa.array(s.astype(object).where(s.notna(), None), type=pa.string())


def write_package(
    grades: pd.DataFrame, listings: pd.DataFrame, out_dir: Path | str, *, region: str, key_path: Path | str
) -> dict:
    """Write a package from tables already in the interchange columns, signed with ``key_path``.

    The folder is built beside ``out_dir`` and renamed into place, so a package is complete or
    absent; ``out_dir`` must not exist, or be empty. Returns the manifest."""
    out = Path(out_dir)
    if out.is_symlink() or (out.exists() and (not out.is_dir() or any(out.iterdir()))):
        raise ExchangeError(f"{out} already exists and is not an empty folder; choose a new --out for the package")
    if not _REGION.fullmatch(region):
        raise ExchangeError(f"--region must be a 6-digit administrative division code, got {region!r}")
    key = load_private_key(key_path)
    tables = {
        GRADES: pa.table([_text(grades["id"]), _text(grades["grade"]), _text(grades["tier"]),
                          _as_dates(grades["as_of_date"]), _text(grades["region"])], schema=ARROW[GRADES]),
        LISTS: pa.table([_text(listings["id"]), _text(listings["list"]), _text(listings["source"]),
                         _as_dates(listings["start"]), _as_dates(listings["end"]), _text(listings["region"])],
                        schema=ARROW[LISTS]),
    }  # fmt: skip
    as_of = pd.to_datetime(grades["as_of_date"]).max() if len(grades) else pd.NaT
    tmp = out.parent / f".{out.name}.{os.getpid()}.tmp"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    except OSError as exc:
        raise ExchangeError(describe_os_error(exc, f"writing the package folder {out}")) from None
    try:
        for name, table in tables.items():
            pq.write_table(table, tmp / name, compression="zstd")
        (tmp / SCHEMA).write_bytes(_dumps(interchange_schema()))
        files = {n: {"sha256": sha256_file(tmp / n)} for n in DATA_FILES}
        for name, table in tables.items():
            files[name]["rows"] = table.num_rows
        from credit_grading import __version__

        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "region": region,
                    "as_of_date": None if pd.isna(as_of) else str(as_of.date()), "id_format": "GB 32100-2015",
                    "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "package_version": __version__, "files": files}  # fmt: skip
        raw = _dumps(manifest)
        (tmp / MANIFEST).write_bytes(raw)
        (tmp / SIGNATURE).write_bytes(_dumps(_signature(sha256_bytes(raw), key)))
        for p in tmp.iterdir():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
        if out.exists():
            out.rmdir()  # empty, checked above
        os.rename(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ExchangeError(describe_os_error(exc, f"writing the package folder {out}")) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def export_package(
    grades: pd.DataFrame,
    memberships: Memberships | None,
    out_dir: Path | str,
    *,
    region: str,
    key_path: Path | str,
    id_column: str,
    as_of_column: str | None,
    as_of: dt.date | None = None,
) -> dict:
    """Export a region's grades (the id, ``grade``, ``tier`` and as-of columns of a grading output) and
    its own list memberships (a partner's listings, ``listed_by`` another region, are not passed on)."""
    missing = [c for c in (id_column, "grade", "tier") if c not in grades.columns]
    if missing:
        raise ExchangeError(f"the grades table has no column(s) {missing}; export reads a grading output")
    ids = grades[id_column].astype("string")
    bad = check_uscc(ids.astype(object).to_numpy()) != UsccStatus.OK
    if bad.any():
        shown = ", ".join(repr(v) for v in ids[bad].head(5))
        raise ExchangeError(f"{int(bad.sum())} id(s) in column {id_column!r} are not valid unified social credit "
                            f"codes (GB 32100), e.g. {shown}; partners match entities by USCC")  # fmt: skip
    if as_of_column and as_of_column in grades.columns:
        days = grades[as_of_column]
    elif as_of is not None:
        days = pd.Series(as_of, index=grades.index)
    else:
        raise ExchangeError("the grades have no as-of column; give the date the grades hold for (--as-of)")
    g = pd.DataFrame({"id": ids, "grade": grades["grade"].astype("string"), "tier": grades["tier"].astype("string"),
                      "as_of_date": days, "region": region})  # fmt: skip
    if memberships is not None:
        t = memberships.table
        own = t["listed_by"].isna() | (t["listed_by"] == region)
        t = t[own]
        bad = check_uscc(t["id"].to_numpy(dtype=object)) != UsccStatus.OK
        if bad.any():
            shown = ", ".join(repr(v) for v in t["id"][bad].head(5))
            raise ExchangeError(f"{memberships.source}: {int(bad.sum())} id(s) are not valid unified social credit "
                                f"codes (GB 32100), e.g. {shown}")  # fmt: skip
        listings = pd.DataFrame({"id": t["id"], "list": t["list"], "source": t["source"], "start": t["start"],
                                 "end": t["end"], "region": region})  # fmt: skip
    else:
        listings = pd.DataFrame(
            {c: pd.Series(dtype=object) for c in ("id", "list", "source", "start", "end", "region")}
        )
    return write_package(g, listings, out_dir, region=region, key_path=key_path)


# ---------------------------------------------------------------- import


def _read_small(path: Path, what: str) -> bytes:
    if path.is_symlink() or not path.is_file():
        raise ExchangeError(
            f"package {path.parent}: {what} {path.name} is missing (or not a regular file); refusing it"
        )
    if path.stat().st_size > MAX_META_BYTES:
        raise ExchangeError(
            f"package {path.parent}: {path.name} is {path.stat().st_size:,} bytes, too large for a {what}"
        )
    return path.read_bytes()


def _b64(doc: dict, key: str, size: int, where: str) -> bytes:
    raw = b64_field(doc, key, size)
    if raw is None:
        raise ExchangeError(f"{where}: {key} is not a base64 Ed25519 value of {size} bytes; refusing the package")
    return raw


def verify_signature(raw_signature: bytes, manifest_sha256: str, trusted: set[str], where: str) -> str:
    """The signer's fingerprint when ``raw_signature`` signs the manifest hash with a trusted key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    label = f"package {where}: {SIGNATURE}"
    try:
        doc = json.loads(raw_signature.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ExchangeError(f"{label} is not valid JSON; refusing the package") from None
    if not isinstance(doc, dict) or doc.get("format") != SIGNATURE_FORMAT or doc.get("algorithm") != "ed25519":
        raise ExchangeError(f"{label} is not an Ed25519 interchange-package signature; refusing the package")
    public = _b64(doc, "public_key", 32, label)
    fp = fingerprint(public)
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(_b64(doc, "signature", 64, label), _message(manifest_sha256))
    except InvalidSignature:
        raise ExchangeError(f"bad signature on package {where} by key {short(fp)}: the manifest was changed after it "
                            "was signed, or the signature was forged; refusing the package") from None  # fmt: skip
    if fp not in trusted:
        raise ExchangeError(f"package {where} is signed by key {short(fp)} ({fp}), which is not among the "
                            f"{len(trusted)} trusted key(s); refusing the package")  # fmt: skip
    return fp


def _manifest(pkg: Path, trusted: set[str]) -> tuple[dict, str]:
    if not pkg.is_dir():
        raise ExchangeError(f"package folder not found: {pkg}")
    raw = _read_small(pkg / MANIFEST, "manifest")
    signer = verify_signature(_read_small(pkg / SIGNATURE, "signature"), sha256_bytes(raw), trusted, str(pkg))
    manifest = json.loads(raw.decode("utf-8"))  # signed by a trusted key: well-formed JSON of ours
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ExchangeError(f"package {pkg} is {manifest.get('format')!r} version {manifest.get('format_version')!r}; "
                            f"this version reads {FORMAT!r} version {FORMAT_VERSION}")  # fmt: skip
    files = manifest.get("files") or {}
    if sorted(files) != sorted(DATA_FILES) or not _REGION.fullmatch(str(manifest.get("region"))):
        raise ExchangeError(f"package {pkg}: the manifest must list exactly {list(DATA_FILES)} and a 6-digit region; "
                            f"it lists {sorted(files)}, region {manifest.get('region')!r}")  # fmt: skip
    for name in DATA_FILES:
        path = pkg / name
        if path.is_symlink() or not path.is_file():
            raise ExchangeError(f"package {pkg}: {name} is missing (or not a regular file); refusing the package")
        if sha256_file(path) != files[name].get("sha256"):
            raise ExchangeError(f"package {pkg}: {name} does not match the sha256 its signed manifest records — the "
                                "file was changed after the package was signed; refusing the package")  # fmt: skip
    if json.loads((pkg / SCHEMA).read_text("utf-8")) != interchange_schema():
        raise ExchangeError(f"package {pkg}: {SCHEMA} is not the interchange schema of version {FORMAT_VERSION}")
    return manifest, signer


def _read_table(pkg: Path, name: str, rows: int | None) -> pa.Table:
    try:
        table = pq.read_table(pkg / name)
    except (OSError, pa.ArrowException) as exc:
        raise ExchangeError(f"package {pkg}: cannot read {name}: {exc}") from None
    want = ARROW[name]
    if table.schema.names != want.names or [f.type for f in table.schema] != [f.type for f in want]:
        got = ", ".join(f"{f.name}: {f.type}" for f in table.schema)
        raise ExchangeError(f"package {pkg}: {name} does not follow {SCHEMA}: columns must be "
                            f"{', '.join(f'{f.name}: {f.type}' for f in want)}; got {got}")  # fmt: skip
    if rows is not None and table.num_rows != rows:
        raise ExchangeError(f"package {pkg}: {name} has {table.num_rows} rows; its manifest says {rows}")
    return table


def _reject_reasons(frame: pd.DataFrame, checks: dict[str, np.ndarray], table: str) -> pd.DataFrame:
    parts = []
    for reason, bad in checks.items():
        rows = np.flatnonzero(bad)
        if len(rows):
            parts.append(pd.DataFrame({"table": table, "row": rows + 1, "id": frame["id"].to_numpy(dtype=object)[rows],
                                       "reason": reason}))  # fmt: skip
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["table", "row", "id", "reason"])


def _uscc_checks(ids: pa.Array) -> dict[str, np.ndarray]:
    status = check_uscc(ids)
    return {code: status == s for s, code in REASON_CODES.items()}


def _grade_checks(t: pa.Table, region: str) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    f = t.to_pandas()
    checks = _uscc_checks(t.column("id").combine_chunks())
    checks |= {
        "grade_missing": (f["grade"].fillna("").str.len() == 0).to_numpy() | (f["grade"].fillna("").str.len() > 8).to_numpy(),
        "tier_unknown": ~f["tier"].isin(TIERS).to_numpy(),
        "as_of_missing": f["as_of_date"].isna().to_numpy(),
        "region_not_the_issuer": (f["region"] != region).fillna(True).to_numpy(),
        "duplicate_id": f["id"].duplicated(keep="first").to_numpy() & f["id"].notna().to_numpy(),
    }  # fmt: skip
    return f, checks


def _listing_checks(t: pa.Table, region: str) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    f = t.to_pandas()
    checks = _uscc_checks(t.column("id").combine_chunks())
    start, end = pd.to_datetime(f["start"]), pd.to_datetime(f["end"])
    checks |= {
        "list_name_invalid": ~f["list"].fillna("").str.fullmatch(_NAME.pattern).to_numpy(dtype=bool),
        "start_missing": start.isna().to_numpy(),
        "end_before_start": (end < start).fillna(False).to_numpy(dtype=bool),
        "region_not_the_issuer": (f["region"] != region).fillna(True).to_numpy(),
    }
    return f, checks


@dataclass(frozen=True)
class ImportResult:
    manifest: dict
    signer: str
    partner_lists: pd.DataFrame  # the memberships format of credit_grading.lists
    partner_grades: pd.DataFrame
    rejects: pd.DataFrame  # table, row, id, reason
    report: dict


def _trusted(trusted_keys, base_dir: Path | None = None) -> set[str]:
    found = (
        trusted_fingerprints(trusted_keys or (), base_dir=base_dir, source="trusted keys") | env_trusted_fingerprints()
    )
    if not found:
        raise ExchangeError("no trusted keys are configured (security.trusted_keys, $CREDIT_GRADING_TRUSTED_KEYS or "
                            "--trusted-key): a package is accepted only from a partner whose key you trust")  # fmt: skip
    return found


def read_package(package: Path | str, *, trusted_keys=(), prefix: str | None = None,
                 rename: dict[str, str] | None = None) -> ImportResult:  # fmt: skip
    """Verify a package (signature by a trusted key, hashes, schema) and check every row.

    Accepted listings become partner lists named ``<prefix>_<list>`` (``prefix`` defaults to
    ``r<region>``), or as ``rename`` maps a list name."""
    pkg = Path(package)
    manifest, signer = _manifest(pkg, _trusted(trusted_keys))
    region = manifest["region"]
    prefix = prefix if prefix is not None else f"r{region}"
    if not _NAME.fullmatch(prefix):
        raise ExchangeError(f"the partner-list prefix {prefix!r} must be letters, digits and _ (it names lists)")
    files = manifest["files"]
    g, g_checks = _grade_checks(_read_table(pkg, GRADES, files[GRADES].get("rows")), region)
    li, l_checks = _listing_checks(_read_table(pkg, LISTS, files[LISTS].get("rows")), region)
    rejects = pd.concat([_reject_reasons(g, g_checks, GRADES), _reject_reasons(li, l_checks, LISTS)],
                        ignore_index=True)  # fmt: skip
    g_ok = ~np.logical_or.reduce([*g_checks.values(), np.zeros(len(g), dtype=bool)])
    l_ok = ~np.logical_or.reduce([*l_checks.values(), np.zeros(len(li), dtype=bool)])
    names = li["list"].fillna("")
    mapped = (prefix + "_" + names).astype(object)
    renamed = names.isin(list(rename or {})).to_numpy()
    mapped[renamed] = names[renamed].map(rename or {})
    partner = pd.DataFrame({"id": li["id"], "list": mapped, "source": li["source"],
                            "start": pd.to_datetime(li["start"]).dt.strftime("%Y-%m-%d"),
                            "end": pd.to_datetime(li["end"]).dt.strftime("%Y-%m-%d"), "listed_by": li["region"]})[l_ok]  # fmt: skip
    grades = g[g_ok].reset_index(drop=True)
    report = {"package": pkg.name, "region": region, "as_of_date": manifest.get("as_of_date"), "signed_by": signer,
              "created_at": manifest.get("created_at"), "manifest_sha256": sha256_file(pkg / MANIFEST),
              "grades": {"rows": len(g), "accepted": int(g_ok.sum()), "rejected": int((~g_ok).sum())},
              "lists": {"rows": len(li), "accepted": int(l_ok.sum()), "rejected": int((~l_ok).sum()),
                        "names": sorted(partner["list"].unique().tolist())},
              "reasons": rejects["reason"].value_counts().sort_index().to_dict()}  # fmt: skip
    return ImportResult(manifest, signer, partner.reset_index(drop=True), grades, rejects, report)


def import_package(package: Path | str, out_dir: Path | str, **kwargs) -> ImportResult:
    """:func:`read_package`, then write ``partner_lists.parquet`` (a memberships file), ``partner_grades.parquet``,
    ``rejects.csv`` and ``import_report.json`` into ``out_dir`` (each atomically; nothing else, nowhere else)."""
    pkg, out = Path(package), Path(out_dir)
    if out.resolve() == pkg.resolve():
        raise ExchangeError(f"--out {out} is the package folder itself; import into another folder")
    res = read_package(pkg, **kwargs)
    from credit_grading.csvsafe import write_csv

    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in ((PARTNER_LISTS, res.partner_lists), (PARTNER_GRADES, res.partner_grades)):
            with atomic_path(out / name) as tmp:
                frame.to_parquet(tmp, index=False)
        write_csv(res.rejects, out / REJECTS)
        write_atomic(out / REPORT, _dumps(res.report))
    except OSError as exc:
        raise ExchangeError(describe_os_error(exc, f"writing the import folder {out}")) from None
    return res
