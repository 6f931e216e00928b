"""Writing a bundle (atomically: a temporary directory renamed into place) and signing one."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from credit_grading import __version__
from credit_grading.bundle.format import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    SEGMENT_PREFIX,
    SEGMENTED_FORMAT_VERSION,
    SEGMENTS_FILE,
    Bundle,
    _model_version,
    _plain_name,
    is_spec_file,
)
from credit_grading.bundle.read import _directory_reader, _load_dir
from credit_grading.catalogue import Catalogue
from credit_grading.config.policy import SupervisionPolicy
from credit_grading.engine.segmented import SegmentedSpec
from credit_grading.exceptions import BundleError
from credit_grading.signing import SIGNATURE, load_private_key, signature_document, verify_signature
from credit_grading.specs._io import dumps
from credit_grading.specs.model import ModelSpec
from credit_grading.storage import sha256_bytes, sha256_file, write_atomic


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


def _component_files(model: ModelSpec, prefix: str = "") -> dict[str, bytes]:
    """The scorecard, GBM and calibration files of ``model``, their names prefixed by ``prefix``."""
    files: dict[str, bytes] = {}
    if model.scorecard is not None:
        files[f"{prefix}scorecard.json"] = dumps(model.scorecard.to_dict()).encode()
    if model.gbm is not None:
        gbm = model.gbm.to_dict()
        files[f"{prefix}gbm.txt"] = gbm.pop("model_text").encode()
        gbm["model_file"] = f"{prefix}gbm.txt"
        files[f"{prefix}gbm.json"] = dumps(gbm).encode()
    for key, cal in model.calibration.items():
        files[f"{prefix}calibration_{key}.json"] = dumps(cal.to_dict()).encode()
    return files


def segment_prefix(name: str) -> str:
    """The prefix of a segment's files in a bundle: ``segment_<name>__``."""
    return f"{SEGMENT_PREFIX}{name}__"


def _segments_files(segments: SegmentedSpec) -> dict[str, bytes]:
    """``segments.json`` (column, level map, per segment its champion, meta and files) and every segment's files."""
    files: dict[str, bytes] = {}
    docs = {}
    for name, m in segments.models.items():
        prefix = segment_prefix(name)
        if not _plain_name(prefix + "x"):
            raise BundleError(f"segment name {name!r} cannot name a bundle file")
        own = _component_files(m, prefix)
        files.update(own)
        docs[name] = {
            "champion": m.champion,
            "components": {
                "scorecard": f"{prefix}scorecard.json" if m.scorecard is not None else None,
                "gbm": f"{prefix}gbm.json" if m.gbm is not None else None,
                "gbm_text": f"{prefix}gbm.txt" if m.gbm is not None else None,
                "calibration": {k: f"{prefix}calibration_{k}.json" for k in m.calibration},
            },
            "meta": {k: v for k, v in m.meta.items() if k != "version"},
        }
    files[SEGMENTS_FILE] = dumps(
        {"format": "credit_grading.segments", "format_version": 1, "column": segments.column,
         "levels": dict(sorted(segments.levels.items())), "segments": docs, "meta": segments.meta}
    ).encode()  # fmt: skip
    return files


def _spec_files(model: ModelSpec, policy: SupervisionPolicy, catalogue: Catalogue) -> dict[str, bytes]:
    files = _component_files(model)
    if model.scale is not None:
        files["grade_scale.json"] = dumps(model.scale.to_dict()).encode()
    files["overrides.json"] = dumps(
        {"format": "credit_grading.overrides", "format_version": 1,
         "rules": [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in model.overrides]}
    ).encode()  # fmt: skip
    files["policy.json"] = dumps(policy.model_dump(mode="json")).encode()
    files["catalogue.json"] = dumps(catalogue.model_dump(mode="json")).encode()
    return files


def _features(model: ModelSpec, segments: SegmentedSpec | None = None) -> list[dict]:
    """Every feature any model reads (the pooled first, then each segment's), and which models read it."""
    seen: dict[str, dict] = {}
    for m in [model, *(segments.models.values() if segments is not None else ())]:
        if m.gbm is not None:
            for f in m.gbm.features:
                entry = seen.setdefault(f.name, {"name": f.name, "type": f.kind, "models": []})
                if "gbm" not in entry["models"]:
                    entry["models"].append("gbm")
        if m.scorecard is not None:
            for f in m.scorecard.features:
                entry = seen.setdefault(f.name, {"name": f.name, "type": f.binning.kind, "models": []})
                if "scorecard" not in entry["models"]:
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
    segments: SegmentedSpec | None = None,
) -> Bundle:
    """Write ``model`` as a bundle directory, atomically (a temporary directory renamed into place).

    With ``segments`` (sector models) the bundle is format version 3: ``model`` is the pooled model
    (the fallback, with the master scale), and ``segments.json`` with each segment's files is added.
    """
    path = Path(path)
    if path.exists() and not overwrite and (path.is_file() or any(path.iterdir())):
        raise BundleError(f"{path} already exists and is not empty; choose another output or allow overwriting")
    files = _spec_files(model, policy, catalogue)
    if segments is not None:
        if segments.pooled != model:
            raise BundleError("a segmented bundle's model must be its pooled model (segments.pooled)")
        files.update(_segments_files(segments))
    for name in reports or {}:
        if name in files or is_spec_file(name) or name in (MANIFEST, SIGNATURE) or not _plain_name(name):
            raise BundleError(f"a report cannot be called {name!r}")
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION if segments is None else SEGMENTED_FORMAT_VERSION,
        "package_version": __version__,
        "created_at": (created_at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "model": {"name": model.name, "version": None, "champion": model.champion},
        "features": _features(model, segments),
        "training_data": training_data,
        "config": config,
    }
    if segments is not None:
        manifest["segments"] = {"column": segments.column, "models": list(segments.models)}
    # The version is computed on the documents as they will be read back (JSON round trip).
    doc = json.loads(dumps(_model_document(model, "")))
    version = _model_version({n: sha256_bytes(c) for n, c in files.items()}, doc, json.loads(dumps(manifest)))
    manifest["model"]["version"] = version
    files["model.json"] = dumps(_model_document(model, version)).encode()
    for name, content in (reports or {}).items():
        files[name] = content.encode() if isinstance(content, str) else content
    manifest["files"] = {name: sha256_bytes(content) for name, content in sorted(files.items())}
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
    if segments is not None:
        segments = replace(segments, pooled=model, models={n: replace(m, meta={**m.meta, "version": version})
                                                             for n, m in segments.models.items()})  # fmt: skip
    report_paths = {n: path / n for n in (reports or {})}
    return Bundle(model, policy, catalogue, manifest, path, report_paths, segments=segments)


def sign_bundle(path: Path | str, private_key_path: Path | str, *, overwrite: bool = False) -> Bundle:
    """Sign the bundle at ``path`` with an Ed25519 private key: writes ``signature.json`` atomically.

    The bundle is fully verified first (hashes and version; an existing signature too unless
    ``overwrite``). A signature by another key is replaced only with ``overwrite``.
    """
    key = load_private_key(private_key_path)
    path = Path(path)
    bundle = _load_dir(path, None)  # every hash and the version, not the signature yet
    read = _directory_reader(path.resolve())
    manifest_bytes = read(MANIFEST)
    if manifest_bytes is None or sha256_bytes(manifest_bytes) != bundle.sha256:
        raise BundleError(f"the bundle at {path} changed while it was being signed; sign it again")
    doc = signature_document(bundle.sha256, key)
    existing = read(SIGNATURE)
    if existing is not None and not overwrite:
        try:
            signer = verify_signature(existing, bundle.sha256, set(), str(path))
        except BundleError as exc:
            raise BundleError(f"the bundle at {path} carries a {SIGNATURE} that is not valid ({exc}); re-sign with "
                              "--overwrite to replace it") from None  # fmt: skip
        if signer != doc["fingerprint"]:
            raise BundleError(f"the bundle at {path} is already signed by key {signer[:16]} ({signer}); "
                              "re-sign with --overwrite to replace that signature")  # fmt: skip
    write_atomic(path.resolve() / SIGNATURE, dumps(doc) + "\n")
    return replace(bundle, signed_by=doc["fingerprint"])
