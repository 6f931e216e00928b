"""Model bundles: a directory of JSON and text files, hash-checked on load, never a pickle.

A bundle holds everything needed to grade a registry the way the model was meant to:

=========================  ===================================================
``manifest.json``          format version, package version, creation time, the model's
                           name and version, its features and their types, the
                           training-data fingerprint, the config used and the sha256
                           of every other file
``model.json``             champion, name, version, hysteresis margin, file references
``scorecard.json``         binning and points of every feature
``gbm.json`` + ``gbm.txt`` the GBM's feature encoding and LightGBM's own text model
``calibration_*.json``     each model's calibration to a 12-month PD
``grade_scale.json``       the master scale and its fitted grade table
``overrides.json``         the override rules
``policy.json``            the supervision policy
``catalogue.json``         the catalogue the model was trained on
=========================  ===================================================

plus reports (points table, binning tables, evaluation) listed and hashed the same way.
:func:`load_bundle` checks the format version and every hash before parsing anything: a
changed byte is refused with a message naming the file. The model version is derived from
the content of the spec files, so the same training gives the same version.

>>> bundle = load_bundle("models/credit_grading_default")     # doctest: +SKIP
>>> bundle.model.champion, bundle.version                    # doctest: +SKIP
('gbm', '3f9c0a1b2d4e')
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from credit_grading import __version__
from credit_grading.catalogue import Catalogue
from credit_grading.config.grading import OverrideRule
from credit_grading.config.policy import SupervisionPolicy
from credit_grading.exceptions import BundleError
from credit_grading.specs._io import dumps
from credit_grading.specs.calibration import CalibrationSpec
from credit_grading.specs.gbm import GbmSpec
from credit_grading.specs.grading import GradeScaleSpec
from credit_grading.specs.model import ModelSpec
from credit_grading.specs.scorecard import ScorecardSpec

FORMAT = "credit_grading.bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# Files whose content defines the model (and so its version); reports are hashed but not part of it.
SPEC_FILES = ("model.json", "scorecard.json", "gbm.json", "gbm.txt", "calibration_scorecard.json",
              "calibration_gbm.json", "grade_scale.json", "overrides.json", "policy.json", "catalogue.json")  # fmt: skip


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def data_fingerprint(data: pd.DataFrame, *, target: str | None, as_of: str | None, source: str | None = None) -> dict:
    """Rows, bad rate, as-of range and a content hash of a training table."""
    h = hashlib.sha256()
    h.update(",".join(map(str, data.columns)).encode())
    h.update(pd.util.hash_pandas_object(data, index=False).to_numpy().tobytes())
    out: dict = {"rows": len(data), "columns": len(data.columns), "sha256": h.hexdigest()}
    if target and target in data.columns:
        out["bad_rate"] = float(np.nanmean(data[target].to_numpy(dtype=np.float64)))
    if as_of and as_of in data.columns and len(data):
        out["as_of_min"] = str(pd.Timestamp(data[as_of].min()).date())
        out["as_of_max"] = str(pd.Timestamp(data[as_of].max()).date())
    if source is not None:
        out["source"] = str(source)
        if Path(source).is_file():
            out["source_sha256"] = sha256_file(source)
    return out


@dataclass(frozen=True)
class Bundle:
    """A loaded (or just written) bundle."""

    model: ModelSpec
    policy: SupervisionPolicy
    catalogue: Catalogue
    manifest: dict
    path: Path | None = None
    reports: dict = field(default_factory=dict)  # report file name → path

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def config(self) -> dict:
        """The config the model was trained with, as plain data."""
        return self.manifest.get("config", {})

    @property
    def sha256(self) -> str:
        """The bundle's hash: the sha256 of its manifest, which lists the hash of every file."""
        return self.manifest.get("_sha256", "")


def _model_document(model: ModelSpec, version: str) -> dict:
    return {
        "format": "credit_grading.model",
        "format_version": 1,
        "name": model.name,
        "version": version,
        "champion": model.champion,
        "hysteresis_margin": model.hysteresis_margin,
        "components": {
            "scorecard": "scorecard.json" if model.scorecard is not None else None,
            "gbm": "gbm.json" if model.gbm is not None else None,
            "gbm_text": "gbm.txt" if model.gbm is not None else None,
            "calibration": {k: f"calibration_{k}.json" for k in model.calibration},
            "scale": "grade_scale.json" if model.scale is not None else None,
            "overrides": "overrides.json",
        },
        "meta": {k: v for k, v in model.meta.items() if k != "version"},
    }


def _spec_files(model: ModelSpec, policy: SupervisionPolicy, catalogue: Catalogue) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    if model.scorecard is not None:
        files["scorecard.json"] = dumps(model.scorecard.to_dict()).encode()
    if model.gbm is not None:
        gbm = model.gbm.to_dict()
        files["gbm.txt"] = gbm.pop("model_text").encode()
        gbm["model_file"] = "gbm.txt"
        files["gbm.json"] = dumps(gbm).encode()
    for key, cal in model.calibration.items():
        files[f"calibration_{key}.json"] = dumps(cal.to_dict()).encode()
    if model.scale is not None:
        files["grade_scale.json"] = dumps(model.scale.to_dict()).encode()
    files["overrides.json"] = dumps(
        {"format": "credit_grading.overrides", "format_version": 1,
         "rules": [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in model.overrides]}
    ).encode()  # fmt: skip
    files["policy.json"] = dumps(policy.model_dump(mode="json")).encode()
    files["catalogue.json"] = dumps(catalogue.model_dump(mode="json")).encode()
    return files


def _content_version(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + sha256_bytes(files[name]).encode() + b"\n")
    return h.hexdigest()[:12]


def _features(model: ModelSpec) -> list[dict]:
    seen: dict[str, dict] = {}
    if model.gbm is not None:
        for f in model.gbm.features:
            seen[f.name] = {"name": f.name, "type": f.kind, "models": ["gbm"]}
    if model.scorecard is not None:
        for f in model.scorecard.features:
            entry = seen.setdefault(f.name, {"name": f.name, "type": f.binning.kind, "models": []})
            entry["models"].append("scorecard")
    return list(seen.values())


def write_bundle(
    path: Path | str,
    model: ModelSpec,
    *,
    policy: SupervisionPolicy,
    catalogue: Catalogue,
    config: dict,
    training_data: dict,
    reports: dict[str, bytes | str] | None = None,
    overwrite: bool = False,
    created_at: dt.datetime | None = None,
) -> Bundle:
    """Write ``model`` as a bundle directory, atomically (a temporary directory renamed into place)."""
    path = Path(path)
    if path.exists() and not overwrite and (path.is_file() or any(path.iterdir())):
        raise BundleError(f"{path} already exists and is not empty; choose another output or allow overwriting")
    files = _spec_files(model, policy, catalogue)
    version = _content_version(files)
    files["model.json"] = dumps(_model_document(model, version)).encode()
    for name, content in (reports or {}).items():
        if name in files or name == MANIFEST or "/" in name or name.startswith("."):
            raise BundleError(f"a report cannot be called {name!r}")
        files[name] = content.encode() if isinstance(content, str) else content
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "created_at": (created_at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "model": {"name": model.name, "version": version, "champion": model.champion},
        "features": _features(model),
        "training_data": training_data,
        "config": config,
        "files": {name: sha256_bytes(content) for name, content in sorted(files.items())},
    }
    manifest_bytes = dumps(manifest).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; a bundle is an ordinary directory
    try:
        for name, content in files.items():
            (tmp / name).write_bytes(content)
        (tmp / MANIFEST).write_bytes(manifest_bytes)
        for p in tmp.iterdir():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest["_sha256"] = sha256_bytes(manifest_bytes)
    model = replace(model, meta={**model.meta, "version": version})
    report_paths = {n: path / n for n in (reports or {})}
    return Bundle(model, policy, catalogue, manifest, path, report_paths)


def _read_json(raw: bytes, name: str) -> dict:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"bundle file {name} is not valid JSON: {exc}") from None


def bundle_files(bundle: Bundle) -> dict[str, bytes]:
    """Every file of a bundle (manifest included) as bytes: how a bundle travels to other processes."""
    if bundle.path is None:
        raise BundleError("this bundle has no directory to read its files from")
    names = [MANIFEST, *bundle.manifest["files"]]
    return {name: (bundle.path / name).read_bytes() for name in names}


def bundle_from_files(files: dict[str, bytes], source: str = "<files>") -> Bundle:
    """A bundle from its files' bytes, with the same checks as :func:`load_bundle`."""
    if MANIFEST not in files:
        raise BundleError(f"{source}: no {MANIFEST}")
    manifest = _read_json(files[MANIFEST], MANIFEST)
    _check_manifest(manifest, source)
    raw = {}
    for name, expected in manifest["files"].items():
        if name not in files:
            raise BundleError(f"bundle file {name} is listed in the manifest but missing from {source}")
        got = sha256_bytes(files[name])
        if got != expected:
            raise BundleError(f"bundle file {name} has sha256 {got[:16]}…, the manifest says {str(expected)[:16]}…")
        raw[name] = files[name]
    manifest["_sha256"] = sha256_bytes(files[MANIFEST])
    return _parse(raw, manifest, Path(source))


def _check_manifest(manifest: dict, source: object) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{source} is not a credit_grading bundle manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            f"bundle {source} has format version {version!r}; this package (credit_grading {__version__}) reads "
            f"version {FORMAT_VERSION}"
        )
    listed = manifest.get("files")
    if not isinstance(listed, dict) or "model.json" not in listed:
        raise BundleError(f"the manifest of {source} lists no model.json")


def load_bundle(path: Path | str) -> Bundle:
    """Load a bundle, verifying its format version and every file's sha256 first."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"no model bundle at {path}: expected a directory with {MANIFEST}")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{path} is not a model bundle: {MANIFEST} is missing")
    manifest_bytes = mpath.read_bytes()
    manifest = _read_json(manifest_bytes, MANIFEST)
    _check_manifest(manifest, path)
    listed = manifest["files"]
    raw: dict[str, bytes] = {}
    for name, expected in listed.items():
        fp = path / name
        if Path(name).name != name or not fp.is_file():
            raise BundleError(f"bundle file {name} is listed in the manifest but missing from {path}")
        content = fp.read_bytes()
        got = sha256_bytes(content)
        if got != expected:
            raise BundleError(
                f"bundle file {name} has sha256 {got[:16]}…, the manifest says {str(expected)[:16]}…: "
                f"the bundle at {path} was changed after it was written; refusing to load it"
            )
        raw[name] = content
    manifest["_sha256"] = sha256_bytes(manifest_bytes)
    return _parse(raw, manifest, path)


def _parse(raw: dict[str, bytes], manifest: dict, path: Path) -> Bundle:
    doc = _read_json(raw["model.json"], "model.json")
    if doc.get("format") != "credit_grading.model" or doc.get("format_version") != 1:
        raise BundleError("model.json is not a version-1 credit_grading model document")
    comp = doc["components"]

    def need(name: str | None) -> bytes:
        if name not in raw:
            raise BundleError(f"model.json refers to {name}, which the manifest does not list")
        return raw[name]

    scorecard = (
        ScorecardSpec.from_dict(_read_json(need(comp["scorecard"]), comp["scorecard"]))
        if comp.get("scorecard")
        else None
    )
    gbm = None
    if comp.get("gbm"):
        gdoc = _read_json(need(comp["gbm"]), comp["gbm"])
        gdoc["model_text"] = need(comp["gbm_text"]).decode("utf-8")
        gdoc.pop("model_file", None)
        gbm = GbmSpec.from_dict(gdoc)
    calibration = {k: CalibrationSpec.from_dict(_read_json(need(f), f)) for k, f in comp["calibration"].items()}
    scale = GradeScaleSpec.from_dict(_read_json(need(comp["scale"]), comp["scale"])) if comp.get("scale") else None
    rules_doc = _read_json(need(comp["overrides"]), comp["overrides"])
    rules = tuple(OverrideRule.model_validate(r) for r in rules_doc.get("rules", []))
    model = ModelSpec(scorecard, gbm, calibration, champion=doc["champion"], name=doc["name"],
                      meta={**doc.get("meta", {}), "version": doc["version"]}, scale=scale, overrides=rules,
                      hysteresis_margin=float(doc.get("hysteresis_margin", 0.0)))  # fmt: skip
    policy = SupervisionPolicy.model_validate(_read_json(need("policy.json"), "policy.json"))
    catalogue = Catalogue.model_validate(_read_json(need("catalogue.json"), "catalogue.json"))
    reports = {n: path / n for n in raw if n not in SPEC_FILES}
    return Bundle(model, policy, catalogue, manifest, path, reports)
