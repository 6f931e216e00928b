"""What a bundle is on disk: its file names and limits, the :class:`Bundle` it loads as, and how its
model version is derived from its content (canonical JSON, hashes)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from credit_grading.catalogue import Catalogue
from credit_grading.config.policy import SupervisionPolicy
from credit_grading.engine.segmented import SegmentedSpec
from credit_grading.specs.model import ModelSpec
from credit_grading.storage import sha256_bytes

FORMAT = "credit_grading.bundle"
FORMAT_VERSION = 2  # 2: the model version covers model.json and the manifest's behaviour fields
# 3: a segmented bundle (sector models): segments.json and each segment's files (``segment_<name>__*``), all hashed
# in the manifest and covered by the model version. Bundles without segments are still written as version 2.
SEGMENTED_FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_JSON_DEPTH = 200  # nesting deeper than any bundle document has is refused before parsing
# Manifest fields that describe where the model came from but do not change how it grades:
# outside the model version (the bundle hash still covers them).
NOT_IN_VERSION = ("files", "created_at", "package_version", "training_data")
# Files whose content defines the model (and so its version); reports are hashed but not part of it.
SPEC_FILES = ("model.json", "scorecard.json", "gbm.json", "gbm.txt", "calibration_scorecard.json",
              "calibration_gbm.json", "grade_scale.json", "overrides.json", "policy.json", "catalogue.json")  # fmt: skip
SEGMENTS_FILE = "segments.json"
SEGMENT_PREFIX = "segment_"  # a segment's spec files: segment_<name>__scorecard.json, ...


def is_spec_file(name: str) -> bool:
    """Whether ``name`` defines the model (a spec file, the segments document or a segment's spec file)."""
    return name in SPEC_FILES or name == SEGMENTS_FILE or name.startswith(SEGMENT_PREFIX)


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
    # Sector models (format 3): every segment's model and the pooled one (``model``, also the fallback).
    segments: SegmentedSpec | None = None

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
    return {n: h for n, h in listed.items() if is_spec_file(n) and n != "model.json"}


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
