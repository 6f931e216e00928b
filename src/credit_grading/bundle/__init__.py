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

from credit_grading.bundle.format import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    MAX_JSON_DEPTH,
    MAX_MANIFEST_BYTES,
    NOT_IN_VERSION,
    READABLE_VERSIONS,
    SPEC_FILES,
    Bundle,
    canonical_json,
)
from credit_grading.bundle.read import bundle_files, bundle_from_files, load_bundle
from credit_grading.bundle.write import data_fingerprint, sign_bundle, write_bundle
from credit_grading.storage import sha256_bytes, sha256_file

# MAX_MANIFEST_BYTES is read from here when a manifest is read: set it on this package to change it.
__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "MAX_JSON_DEPTH", "MAX_MANIFEST_BYTES", "NOT_IN_VERSION",
           "READABLE_VERSIONS", "SPEC_FILES", "Bundle", "bundle_files", "bundle_from_files", "canonical_json",
           "data_fingerprint", "load_bundle", "sha256_bytes", "sha256_file", "sign_bundle", "write_bundle"]  # fmt: skip
