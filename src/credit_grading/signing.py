"""Signed bundles: Ed25519 keys, their fingerprints, and the signature file of a bundle.

A bundle's hash (:attr:`credit_grading.bundle.Bundle.sha256`) is the sha256 of its
``manifest.json``, which holds the sha256 of every other file: so one signature over that
hash covers every byte of the bundle. The signature lives beside the manifest in
``signature.json``:

=================  =====================================================================
``algorithm``      ``ed25519``
``public_key``     the signer's raw 32-byte public key, base64
``fingerprint``    sha256 of the raw public key, hex (64 characters; the first 16 are shown)
``bundle_sha256``  the bundle hash that was signed
``signature``      Ed25519 signature of ``credit_grading.bundle.signature/1`` + newline +
                   the bundle hash, base64
=================  =====================================================================

Trust is configured, never read from the bundle: ``security.trusted_keys`` in the config, the
environment variable ``CREDIT_GRADING_TRUSTED_KEYS`` (key files separated by ``os.pathsep``)
or ``load_bundle(path, trusted_keys=[...])``. Each entry is a public-key PEM file or a full
64-hex fingerprint.

>>> fingerprint(bytes(32))[:16]
'66687aadf862bd77'
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from credit_grading.exceptions import BundleError
from credit_grading.storage import fsync_file, sha256_bytes

SIGNATURE = "signature.json"
SIGNATURE_FORMAT = "credit_grading.signature"
ALGORITHM = "ed25519"
ENV_TRUSTED_KEYS = "CREDIT_GRADING_TRUSTED_KEYS"
PRIVATE_KEY_FILE = "signing_key.pem"
PUBLIC_KEY_FILE = "signing_key.pub.pem"
MAX_SIGNATURE_BYTES = 64 * 1024
_CONTEXT = b"credit_grading.bundle.signature/1\n"
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def fingerprint(raw_public_key: bytes) -> str:
    """The fingerprint of a raw Ed25519 public key: its sha256, hex."""
    return sha256_bytes(raw_public_key)


def short(fp: str) -> str:
    """The first 16 hex characters of a fingerprint, as shown to people."""
    return fp[:16]


def message(bundle_sha256: str) -> bytes:
    """The bytes a signature signs: a fixed context and the bundle hash."""
    return _CONTEXT + bundle_sha256.encode("ascii")


@dataclass(frozen=True)
class KeyPair:
    private_path: Path
    public_path: Path
    fingerprint: str


def _raw_public(public_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` complete or not at all, with ``mode``, refusing to replace an existing file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
        fsync_file(tmp)
        os.link(tmp, path)  # fails if path exists: never overwrite a key
    except FileExistsError:
        raise BundleError(f"{path} already exists; refusing to overwrite a key file") from None
    finally:
        tmp.unlink(missing_ok=True)


def generate_keys(out_dir: Path | str) -> KeyPair:
    """Write a new Ed25519 key pair into ``out_dir``: ``signing_key.pem`` (private, mode 0600) and
    ``signing_key.pub.pem``; an existing key file is never overwritten."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    out = Path(out_dir)
    private_path, public_path = out / PRIVATE_KEY_FILE, out / PUBLIC_KEY_FILE
    for p in (private_path, public_path):
        if p.exists() or p.is_symlink():
            raise BundleError(f"{p} already exists; refusing to overwrite a key file (choose another --out)")
    out.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())  # fmt: skip
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    _write_new(private_path, private_pem, 0o600)
    try:
        _write_new(public_path, public_pem, 0o644)
    except BaseException:
        private_path.unlink(missing_ok=True)
        raise
    return KeyPair(private_path, public_path, fingerprint(_raw_public(key.public_key())))


def _read_key_file(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    if len(data) > 64 * 1024:
        raise BundleError(f"{path} is not a key file: {len(data):,} bytes")
    return data


def load_private_key(path: Path | str):
    """An Ed25519 private key from an unencrypted PEM file (as written by :func:`generate_keys`)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path)
    data = _read_key_file(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise BundleError(f"{path} is protected by a passphrase; credit-grading signs with unencrypted key files "
                          "(keep them mode 0600)") from None  # fmt: skip
    except (ValueError, binascii.Error):
        hint = " (it is a public key; sign with the private signing_key.pem)" if b"PUBLIC KEY" in data else ""
        raise BundleError(f"{path} is not a PEM private key{hint}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(f"{path} holds a {type(key).__name__.removeprefix('_')}, not an Ed25519 private key")
    return key


def load_public_key(path: Path | str) -> bytes:
    """The raw 32 bytes of an Ed25519 public key read from a PEM file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    path = Path(path)
    data = _read_key_file(path)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, binascii.Error):
        hint = " (it is a private key; trust the public signing_key.pub.pem)" if b"PRIVATE KEY" in data else ""
        raise BundleError(f"{path} is not a PEM public key{hint}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(f"{path} holds a {type(key).__name__.removeprefix('_')}, not an Ed25519 public key")
    return _raw_public(key)


def trusted_fingerprints(entries: Iterable[str | Path], *, base_dir: Path | None = None, source: str = "") -> set[str]:
    """Fingerprints of trusted keys given as public-key files or full 64-hex fingerprints.

    Relative file names are read relative to ``base_dir`` (the config's folder). ``source`` names
    where the entries came from, for the message when one is not usable.
    """
    out: set[str] = set()
    where = f" (from {source})" if source else ""
    for entry in entries:
        text = str(entry).strip()
        if _HEX64.fullmatch(text):
            out.add(text.lower())
            continue
        path = Path(text).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        if not text or not path.is_file():
            raise BundleError(f"trusted key {text!r}{where} is neither a public-key file nor a 64-hex-character "
                              "sha256 fingerprint")  # fmt: skip
        out.add(fingerprint(load_public_key(path)))
    return out


def env_trusted_fingerprints() -> set[str]:
    """Fingerprints of the keys listed in ``$CREDIT_GRADING_TRUSTED_KEYS`` (none when unset or empty)."""
    value = os.environ.get(ENV_TRUSTED_KEYS, "")
    entries = [p for p in value.split(os.pathsep) if p.strip()]
    return trusted_fingerprints(entries, source=f"${ENV_TRUSTED_KEYS}") if entries else set()


def config_trusted_keys(config) -> tuple[str, ...]:
    """``security.trusted_keys`` of a loaded config, relative files resolved against its folder."""
    base = getattr(config, "base_dir", None)
    out = []
    for entry in config.security.trusted_keys:
        path = Path(entry).expanduser()
        if not _HEX64.fullmatch(entry.strip()) and base is not None and not path.is_absolute():
            entry = str(base / path)
        out.append(entry)
    return tuple(out)


def signature_document(bundle_sha256: str, private_key) -> dict:
    """The content of ``signature.json`` for a bundle hash, signed with ``private_key``."""
    raw = _raw_public(private_key.public_key())
    return {
        "format": SIGNATURE_FORMAT,
        "format_version": 1,
        "algorithm": ALGORITHM,
        "public_key": base64.b64encode(raw).decode("ascii"),
        "fingerprint": fingerprint(raw),
        "bundle_sha256": bundle_sha256,
        "signature": base64.b64encode(private_key.sign(message(bundle_sha256))).decode("ascii"),
    }


def b64_field(doc: dict, key: str, size: int) -> bytes | None:
    """``doc[key]`` decoded from base64 when it is exactly ``size`` bytes, else None (signature files)."""
    value = doc.get(key)
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    return raw if len(raw) == size else None


def _b64(doc: dict, key: str, size: int, where: str) -> bytes:
    raw = b64_field(doc, key, size)
    if raw is None:
        raise BundleError(f"{where}: {key} is not a base64 Ed25519 {key.replace('_', ' ')} of {size} bytes")
    return raw


def verify_signature(raw: bytes | None, bundle_sha256: str, trusted: set[str], where: str) -> str | None:
    """Check the signature file of a bundle; return the signer's fingerprint (``None`` if unsigned).

    A signature present must be valid for ``bundle_sha256``. When ``trusted`` is not empty the
    bundle must be signed, and by one of those keys.
    """
    if raw is None:
        if trusted:
            raise BundleError(f"bundle {where} is not signed (no {SIGNATURE}) and trusted keys are configured; "
                              "refusing to load it")  # fmt: skip
        return None
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    label = f"{SIGNATURE} of bundle {where}"
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise BundleError(f"{label} is {len(raw):,} bytes, more than a signature can be; refusing to load it")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BundleError(f"{label} is not valid JSON; refusing to load the bundle") from None
    if not isinstance(doc, dict) or doc.get("format") != SIGNATURE_FORMAT or doc.get("format_version") != 1:
        raise BundleError(f"{label} is not a version-1 credit_grading signature")
    if doc.get("algorithm") != ALGORITHM:
        raise BundleError(f"{label} uses algorithm {doc.get('algorithm')!r}; only {ALGORITHM} is accepted")
    public = _b64(doc, "public_key", 32, label)
    fp = fingerprint(public)
    if doc.get("fingerprint") != fp:
        raise BundleError(f"{label} names key fingerprint {str(doc.get('fingerprint'))[:16]}… but holds the key "
                          f"{short(fp)} ({fp}); refusing to load it")  # fmt: skip
    signed_for = doc.get("bundle_sha256")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(_b64(doc, "signature", 64, label), message(bundle_sha256))
    except InvalidSignature:
        why = (
            f"it was signed for bundle sha256 {str(signed_for)[:16]}…, the manifest now hashes to {bundle_sha256[:16]}…"
            if signed_for != bundle_sha256
            else "the signature does not verify"
        )
        raise BundleError(f"bad signature on bundle {where} by key {short(fp)} ({fp}): {why}; the bundle was changed "
                          "after it was signed, or the signature was forged; refusing to load it") from None  # fmt: skip
    if trusted and fp not in trusted:
        raise BundleError(f"bundle {where} is signed by key {short(fp)} ({fp}), which is not among the "
                          f"{len(trusted)} trusted key(s); refusing to load it")  # fmt: skip
    return fp
