"""Reading a bundle safely: plain file names only, never through a symbolic link, JSON depth and size
bounded before parsing, and every hash, the signature and the model version checked before use."""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from credit_grading import __version__
from credit_grading.bundle.format import (
    FORMAT,
    MANIFEST,
    MAX_JSON_DEPTH,
    READABLE_VERSIONS,
    SEGMENTED_FORMAT_VERSION,
    SEGMENTS_FILE,
    Bundle,
    _content_version,
    _model_version,
    _plain_name,
    _spec_hashes,
    is_spec_file,
)
from credit_grading.catalogue import Catalogue
from credit_grading.config.grading import OverrideRule
from credit_grading.config.policy import SupervisionPolicy
from credit_grading.engine.segmented import SegmentedSpec
from credit_grading.exceptions import BundleError
from credit_grading.signing import SIGNATURE, env_trusted_fingerprints, trusted_fingerprints, verify_signature
from credit_grading.specs.calibration import CalibrationSpec
from credit_grading.specs.gbm import GbmSpec
from credit_grading.specs.grading import GradeScaleSpec
from credit_grading.specs.model import ModelSpec
from credit_grading.specs.scorecard import ScorecardSpec
from credit_grading.storage import sha256_bytes


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


def _manifest_limit() -> int:
    """The largest manifest read, as ``credit_grading.bundle.MAX_MANIFEST_BYTES`` holds it when called: the
    package is where the limit is set."""
    from credit_grading import bundle

    return bundle.MAX_MANIFEST_BYTES


def _read_manifest(raw: bytes, source: object) -> dict:
    limit = _manifest_limit()
    if len(raw) > limit:
        raise BundleError(f"the {MANIFEST} of {source} is {len(raw):,} bytes, more than the {limit:,} "
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


def _parse(raw: dict[str, bytes], manifest: dict, path: Path) -> Bundle:
    doc = _read_json(raw["model.json"], "model.json")
    if doc.get("format") != "credit_grading.model" or doc.get("format_version") != 1:
        raise BundleError("model.json is not a version-1 credit_grading model document")
    comp = doc["components"]

    def need(name: str | None) -> bytes:
        if name not in raw:
            raise BundleError(f"model.json refers to {name}, which the manifest does not list")
        return raw[name]

    scorecard, gbm, calibration = _components(comp, need)
    scale = GradeScaleSpec.from_dict(_read_json(need(comp["scale"]), comp["scale"])) if comp.get("scale") else None
    rules_doc = _read_json(need(comp["overrides"]), comp["overrides"])
    rules = tuple(OverrideRule.model_validate(r) for r in rules_doc.get("rules", []))
    model = ModelSpec(scorecard, gbm, calibration, champion=doc["champion"], name=doc["name"],
                      meta={**doc.get("meta", {}), "version": doc["version"]}, scale=scale, overrides=rules,
                      hysteresis_margin=float(doc.get("hysteresis_margin", 0.0)))  # fmt: skip
    policy = SupervisionPolicy.model_validate(_read_json(need("policy.json"), "policy.json"))
    catalogue = Catalogue.model_validate(_read_json(need("catalogue.json"), "catalogue.json"))
    reports = {n: path / n for n in raw if not is_spec_file(n)}
    segments = None
    if manifest.get("format_version") == SEGMENTED_FORMAT_VERSION:
        if SEGMENTS_FILE not in raw:
            raise BundleError(
                f"the bundle at {path} is a segmented bundle (format version 3) but lists no {SEGMENTS_FILE}"
            )
        segments = _segments(raw[SEGMENTS_FILE], model, need)
    return Bundle(model, policy, catalogue, manifest, path, reports, segments=segments)


def _components(comp: dict, need: Callable[[str | None], bytes]) -> tuple:
    """A model document's scorecard, GBM and calibrations, read from the files it names."""
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
    return scorecard, gbm, calibration


def _segments(raw: bytes, pooled: ModelSpec, need: Callable[[str | None], bytes]) -> SegmentedSpec:
    """The sector models of ``segments.json``: each segment shares the pooled model's scale, rules and version."""
    doc = _read_json(raw, SEGMENTS_FILE)
    if doc.get("format") != "credit_grading.segments" or doc.get("format_version") != 1:
        raise BundleError(f"{SEGMENTS_FILE} is not a version-1 credit_grading segments document")
    models = {}
    try:
        for name, sdoc in doc["segments"].items():
            scorecard, gbm, calibration = _components(sdoc["components"], need)
            models[name] = replace(pooled, scorecard=scorecard, gbm=gbm, calibration=calibration,
                                   champion=sdoc["champion"], meta={**sdoc.get("meta", {}), "version": pooled.version})  # fmt: skip
        return SegmentedSpec(str(doc["column"]), dict(doc["levels"]), models, pooled, meta=doc.get("meta", {}))
    except (KeyError, TypeError, AttributeError) as exc:
        raise BundleError(f"{SEGMENTS_FILE} is missing a field or has one of the wrong kind: {exc}") from None
