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

plus reports (points table, binning tables, evaluation) listed and hashed the same way, and
optionally ``signature.json`` (see :mod:`credit_grading.signing`).

:func:`load_bundle` checks the format version, the signature and every hash before parsing
anything: a changed byte is refused with a message naming the file. It reads plain files inside
the bundle only: a symbolic link anywhere in the bundle, or a listed name that is not a plain
file name (``..``, ``/``), is refused. The model version is derived from the content of the
spec files, ``model.json`` and every field of the manifest that changes behaviour (its config,
features, model and format: everything but the file hashes, the creation time, the package
version and the training-data description), so the same training gives the same version and an
edited manifest no longer matches its version. The bundle hash (:attr:`Bundle.sha256`, what a
signature signs and the run log records) is the sha256 of the manifest's bytes, so it covers
every field and every file.

Format version 1 bundles (before the version covered the manifest) still load: their version
covers the spec files only, so an edit of their manifest's config shows only as a different
bundle hash; sign them (``credit-grading models sign``) to pin every byte.

>>> bundle = load_bundle("models/credit_grading_default")     # doctest: +SKIP
>>> bundle.model.champion, bundle.version                    # doctest: +SKIP
('gbm', '3f9c0a1b2d4e')
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from credit_grading import __version__
from credit_grading.catalogue import Catalogue
from credit_grading.config.grading import OverrideRule
from credit_grading.config.policy import SupervisionPolicy
from credit_grading.exceptions import BundleError
from credit_grading.signing import (
    SIGNATURE,
    env_trusted_fingerprints,
    load_private_key,
    signature_document,
    trusted_fingerprints,
    verify_signature,
)
from credit_grading.specs._io import dumps
from credit_grading.specs.calibration import CalibrationSpec
from credit_grading.specs.gbm import GbmSpec
from credit_grading.specs.grading import GradeScaleSpec
from credit_grading.specs.model import ModelSpec
from credit_grading.specs.scorecard import ScorecardSpec
from credit_grading.storage import sha256_bytes, sha256_file, write_atomic

FORMAT = "credit_grading.bundle"
FORMAT_VERSION = 2  # 2: the model version covers model.json and the manifest's behaviour fields
READABLE_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_JSON_DEPTH = 200  # nesting deeper than any bundle document has is refused before parsing
# Manifest fields that describe where the model came from but do not change how it grades:
# outside the model version (the bundle hash still covers them).
NOT_IN_VERSION = ("files", "created_at", "package_version", "training_data")
# Files whose content defines the model (and so its version); reports are hashed but not part of it.
SPEC_FILES = ("model.json", "scorecard.json", "gbm.json", "gbm.txt", "calibration_scorecard.json",
              "calibration_gbm.json", "grade_scale.json", "overrides.json", "policy.json", "catalogue.json")  # fmt: skip

__all__ = ["Bundle", "bundle_files", "bundle_from_files", "data_fingerprint", "load_bundle", "sha256_bytes",
           "sha256_file", "sign_bundle", "write_bundle"]  # fmt: skip


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
    signed_by: str | None = None  # fingerprint of the key whose valid signature the bundle carries

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


def _content_version(hashes: dict[str, str]) -> str:
    """Format 1: the version of the spec files' hashes (``model.json`` and the manifest not included)."""
    h = hashlib.sha256()
    for name in sorted(hashes):
        h.update(name.encode() + b"\0" + hashes[name].encode() + b"\n")
    return h.hexdigest()[:12]


def canonical_json(data: object) -> bytes:
    """One byte string per JSON value: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _model_version(hashes: dict[str, str], model_doc: dict, manifest: dict) -> str:
    """Format 2: the version of the spec files' hashes, ``model.json`` and every behaviour field of the
    manifest (all but :data:`NOT_IN_VERSION` and the version itself), as canonical JSON."""
    doc = {k: v for k, v in model_doc.items() if k != "version"}
    man = {k: v for k, v in manifest.items() if k not in NOT_IN_VERSION}
    if isinstance(man.get("model"), dict):
        man["model"] = {k: v for k, v in man["model"].items() if k != "version"}
    body = {"spec_files": hashes, "model.json": doc, "manifest.json": man}
    return sha256_bytes(canonical_json(body))[:12]


def _spec_hashes(listed: dict) -> dict[str, str]:
    return {n: h for n, h in listed.items() if n in SPEC_FILES and n != "model.json"}


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
    for name in reports or {}:
        if name in files or name in SPEC_FILES or name in (MANIFEST, SIGNATURE) or not _plain_name(name):
            raise BundleError(f"a report cannot be called {name!r}")
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "created_at": (created_at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "model": {"name": model.name, "version": None, "champion": model.champion},
        "features": _features(model),
        "training_data": training_data,
        "config": config,
    }
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
    report_paths = {n: path / n for n in (reports or {})}
    return Bundle(model, policy, catalogue, manifest, path, report_paths)


def _plain_name(name: object) -> bool:
    """A file name that stays inside the bundle directory: no folder part, not ``.``/``..``, not hidden."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
        and not name.startswith(".")
    )


def _json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """True when brackets nest deeper than ``limit`` (strings skipped): checked before parsing, so a
    hostile document cannot exhaust the parser's recursion."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # too few brackets to nest that deep: no need to scan
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def _read_json(raw: bytes, name: str) -> dict:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"bundle file {name} is not valid JSON: {exc}") from None
    except RecursionError:
        raise BundleError(f"bundle file {name} nests its JSON too deeply to be read; refusing to load it") from None


def _read_manifest(raw: bytes, source: object) -> dict:
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleError(f"the {MANIFEST} of {source} is {len(raw):,} bytes, more than the {MAX_MANIFEST_BYTES:,} "
                          "a manifest may have; refusing to load it")  # fmt: skip
    if _json_depth_exceeds(raw, MAX_JSON_DEPTH):
        raise BundleError(f"the {MANIFEST} of {source} nests deeper than {MAX_JSON_DEPTH} levels; refusing to load it")
    return _read_json(raw, MANIFEST)


def _resolve_trusted(trusted_keys: Iterable[str | Path] | None) -> set[str]:
    """Fingerprints to require: the keys given plus those of ``$CREDIT_GRADING_TRUSTED_KEYS``."""
    given = trusted_fingerprints(trusted_keys, source="trusted_keys") if trusted_keys else set()
    return given | env_trusted_fingerprints()


def bundle_files(bundle: Bundle) -> dict[str, bytes]:
    """Every file of a bundle (manifest and signature included) as bytes: how a bundle travels to other
    processes. Refused when the manifest on disk is no longer the one the bundle was loaded from."""
    if bundle.path is None:
        raise BundleError("this bundle has no directory to read its files from")
    read = _directory_reader(Path(bundle.path))
    files = {MANIFEST: read(MANIFEST)}
    if files[MANIFEST] is None or sha256_bytes(files[MANIFEST]) != bundle.sha256:
        raise BundleError(f"the bundle at {bundle.path} changed on disk after it was loaded; load it again")
    for name in bundle.manifest["files"]:
        files[name] = read(name)
    signature = read(SIGNATURE)
    if signature is not None:
        files[SIGNATURE] = signature
    return {k: v for k, v in files.items() if v is not None}


def bundle_from_files(files: dict[str, bytes], source: str = "<files>", *,
                      trusted_keys: Iterable[str | Path] | None = ()) -> Bundle:  # fmt: skip
    """A bundle from its files' bytes, with the same checks as :func:`load_bundle`.

    ``trusted_keys`` defaults to none (a signature present is still verified): this is how a bundle
    already loaded, with its trust checked, travels to worker processes. ``None`` applies the
    environment's ``$CREDIT_GRADING_TRUSTED_KEYS`` as :func:`load_bundle` does.
    """
    trusted = _resolve_trusted(trusted_keys) if trusted_keys is None else trusted_fingerprints(trusted_keys)
    return _load(files.get, source, Path(source), trusted)


def _check_manifest(manifest: dict, source: object) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{source} is not a credit_grading bundle manifest")
    version = manifest.get("format_version")
    if version not in READABLE_VERSIONS:
        raise BundleError(
            f"bundle {source} has format version {version!r}; this package (credit_grading {__version__}) reads "
            f"version{'s' if len(READABLE_VERSIONS) > 1 else ''} {', '.join(map(str, READABLE_VERSIONS))}"
        )
    listed = manifest.get("files")
    if not isinstance(listed, dict) or "model.json" not in listed:
        raise BundleError(f"the manifest of {source} lists no model.json")
    for name in listed:
        if not _plain_name(name) or name in (MANIFEST, SIGNATURE):
            raise BundleError(f"the manifest of {source} lists {name!r}, which is not a plain file name inside the "
                              "bundle; refusing to read outside the bundle")  # fmt: skip


def _directory_reader(root: Path) -> Callable[[str], bytes | None]:
    """Read a bundle member: a regular file opened without following symbolic links; ``None`` if absent."""

    def read(name: str) -> bytes | None:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(root / name, flags)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise BundleError(_symlink_message(root, name)) from None
            raise BundleError(f"cannot read bundle file {name} in {root}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise BundleError(f"bundle file {name} in {root} is not a regular file; refusing to read it")
            return fh.read()

    return read


def _symlink_message(root: Path, name: str) -> str:
    return (f"bundle file {name} in {root} is a symbolic link; a bundle holds plain files only, so that nothing is "
            "read from outside it: refusing to load it")  # fmt: skip


def load_bundle(path: Path | str, *, trusted_keys: Iterable[str | Path] | None = None) -> Bundle:
    """Load a bundle, verifying its format version, its signature and every file's sha256 first.

    ``trusted_keys`` (public-key files or 64-hex fingerprints), together with the keys listed in
    ``$CREDIT_GRADING_TRUSTED_KEYS``, are the keys a bundle must be signed by; when there are
    none, an unsigned bundle loads and a signed one must carry a valid signature.
    """
    return _load_dir(Path(path), _resolve_trusted(trusted_keys))


def _load_dir(path: Path, trusted: set[str] | None) -> Bundle:
    if not path.is_dir():
        raise BundleError(f"no model bundle at {path}: expected a directory with {MANIFEST}")
    root = path.resolve()  # the bundle directory itself may be reached through a link
    try:
        for entry in os.scandir(root):
            if entry.is_symlink():
                raise BundleError(_symlink_message(path, entry.name))
    except OSError as exc:
        raise BundleError(f"cannot list the bundle at {path}: {exc.strerror or exc}") from None
    return _load(_directory_reader(root), path, path, trusted)


def _load(read: Callable[[str], bytes | None], source: object, path: Path, trusted: set[str] | None) -> Bundle:
    """The checks every loader makes, in order: manifest, signature, file hashes, model version."""
    manifest_bytes = read(MANIFEST)
    if manifest_bytes is None:
        raise BundleError(f"{source} is not a model bundle: {MANIFEST} is missing")
    manifest = _read_manifest(manifest_bytes, source)
    _check_manifest(manifest, source)
    bundle_sha256 = sha256_bytes(manifest_bytes)
    signed_by = None if trusted is None else verify_signature(read(SIGNATURE), bundle_sha256, trusted, str(source))
    raw: dict[str, bytes] = {}
    for name, expected in manifest["files"].items():
        content = read(name)
        if content is None:
            raise BundleError(f"bundle file {name} is listed in the manifest but missing from {source}")
        got = sha256_bytes(content)
        if got != expected:
            raise BundleError(
                f"bundle file {name} has sha256 {got[:16]}…, the manifest says {str(expected)[:16]}…: "
                f"the bundle at {source} was changed after it was written; refusing to load it"
            )
        raw[name] = content
    bundle = _parse(raw, manifest, path)
    _check_version(bundle, raw, manifest, source)
    manifest["_sha256"] = bundle_sha256
    return replace(bundle, signed_by=signed_by)


def _check_version(bundle: Bundle, raw: dict[str, bytes], manifest: dict, source: object) -> None:
    """The version written in the bundle must be the one its content gives."""
    stated = manifest.get("model", {}).get("version") if isinstance(manifest.get("model"), dict) else None
    hashes = _spec_hashes(manifest["files"])
    if manifest["format_version"] == 1:
        derived, what = _content_version(hashes), "spec files"
    else:
        derived = _model_version(hashes, _read_json(raw["model.json"], "model.json"), manifest)
        what = "spec files, model.json and the manifest's config, features and model fields"
    if stated != bundle.version or derived != bundle.version:
        raise BundleError(
            f"the model version of bundle {source} does not match its content: manifest.json says {stated!r}, "
            f"model.json says {bundle.version!r}, its {what} give {derived!r}; the bundle was changed after it was "
            "written; refusing to load it"
        )


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
