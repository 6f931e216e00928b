"""Signed bundles: keys, signatures, trusted keys from arguments, config and environment, MLflow."""

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credit_grading.bundle import bundle_files, bundle_from_files, load_bundle, sign_bundle
from credit_grading.cli import app
from credit_grading.config import load_config
from credit_grading.exceptions import BundleError
from credit_grading.signing import (
    ENV_TRUSTED_KEYS,
    SIGNATURE,
    config_trusted_keys,
    fingerprint,
    generate_keys,
    load_public_key,
)
from credit_grading.tracking import resolve_model

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "credit_grading_default"
DATA = Path(__file__).parent / "data"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_trust_from_outside(monkeypatch):
    monkeypatch.delenv(ENV_TRUSTED_KEYS, raising=False)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Two key pairs: ``ours`` (trusted in the tests) and ``theirs``."""
    root = tmp_path_factory.mktemp("keys")
    return generate_keys(root / "ours"), generate_keys(root / "theirs")


@pytest.fixture()
def model(tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(SHIPPED, copy)
    return copy


def _cli(*args, env=None, cwd=None):
    code = "from credit_grading.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, cwd=cwd)  # fmt: skip


def _config_trusting(key, tmp_path: Path) -> Path:
    """A config whose security.trusted_keys names ``key``'s public file, next to it."""
    cfg = tmp_path / "conf" / "c.yaml"
    cfg.parent.mkdir()
    shutil.copy(key.public_path, cfg.parent / "ours.pub.pem")
    default = (ROOT / "configs" / "default.yaml").read_text().replace("catalogue: catalogue.yaml",
                                                                      f"catalogue: {ROOT / 'configs' / 'catalogue.yaml'}")  # fmt: skip
    cfg.write_text(default + "\nsecurity:\n  trusted_keys:\n    - ours.pub.pem\n")
    return cfg


def test_keygen_writes_a_private_key_for_its_owner_only_and_never_overwrites(tmp_path):
    res = runner.invoke(app, ["models", "keygen", "--out", str(tmp_path / "k")], terminal_width=200)
    assert res.exit_code == 0, res.output
    private, public = tmp_path / "k" / "signing_key.pem", tmp_path / "k" / "signing_key.pub.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    fp = fingerprint(load_public_key(public))
    assert f"Fingerprint {fp[:16]}  ({fp})" in res.output
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == ["signing_key.pem", "signing_key.pub.pem"]
    before = private.read_bytes()
    proc = _cli("models", "keygen", "--out", str(tmp_path / "k"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "signing_key.pem already exists; refusing to overwrite a key file" in proc.stderr
    assert private.read_bytes() == before


def test_a_signed_bundle_loads_with_its_key_trusted_as_a_file_or_a_fingerprint(model, keys):
    ours, _ = keys
    res = runner.invoke(app, ["models", "sign", str(model), "--key", str(ours.private_path)], terminal_width=200)
    assert res.exit_code == 0, res.output
    doc = json.loads((model / SIGNATURE).read_text())
    assert doc["algorithm"] == "ed25519" and doc["fingerprint"] == ours.fingerprint
    assert doc["bundle_sha256"] == load_bundle(model).sha256
    assert not [p.name for p in model.iterdir() if p.name.startswith(".")]  # nothing left half-written
    for trusted in ([ours.public_path], [ours.fingerprint], [ours.fingerprint.upper()]):
        bundle = load_bundle(model, trusted_keys=trusted)
        assert bundle.signed_by == ours.fingerprint
    # Signing did not change the bundle: same version and hash as the shipped model.
    assert bundle.version == load_bundle(SHIPPED).version and bundle.sha256 == load_bundle(SHIPPED).sha256


def test_with_trusted_keys_an_unsigned_or_other_key_bundle_is_refused_naming_the_key(model, keys):
    ours, theirs = keys
    with pytest.raises(BundleError, match="is not signed .*trusted keys are configured; refusing to load it"):
        load_bundle(model, trusted_keys=[ours.public_path])
    sign_bundle(model, theirs.private_path)
    with pytest.raises(BundleError, match=rf"signed by key {theirs.fingerprint[:16]} \({theirs.fingerprint}\), "
                                          r"which is not among the 1 trusted key\(s\)"):  # fmt: skip
        load_bundle(model, trusted_keys=[ours.public_path])
    assert load_bundle(model, trusted_keys=[ours.fingerprint, theirs.fingerprint]).signed_by == theirs.fingerprint
    # Without trusted keys the valid signature is accepted and reported.
    assert load_bundle(model).signed_by == theirs.fingerprint


def test_a_bad_signature_is_refused_even_without_trusted_keys(model, keys):
    ours, _ = keys
    sign_bundle(model, ours.private_path)
    doc = json.loads((model / SIGNATURE).read_text())
    sig = bytearray(__import__("base64").b64decode(doc["signature"]))
    sig[0] ^= 1
    doc["signature"] = __import__("base64").b64encode(bytes(sig)).decode()
    (model / SIGNATURE).write_text(json.dumps(doc))
    with pytest.raises(BundleError, match=rf"bad signature on bundle .* by key {ours.fingerprint[:16]}"):
        load_bundle(model)


def test_a_manifest_edited_after_signing_is_refused_even_where_the_version_does_not_cover_it(model, keys):
    ours, _ = keys
    sign_bundle(model, ours.private_path)
    m = json.loads((model / "manifest.json").read_text())
    m["created_at"] = "2020-01-01T00:00:00+00:00"  # outside the model version, inside the bundle hash
    (model / "manifest.json").write_text(json.dumps(m, indent=1))
    with pytest.raises(BundleError, match=r"bad signature .*it was signed for bundle sha256 .*, the manifest now "
                                          r"hashes to .*the bundle was changed after it was signed"):  # fmt: skip
        load_bundle(model)


def test_a_file_tampered_after_signing_is_refused(model, keys):
    ours, _ = keys
    sign_bundle(model, ours.private_path)
    raw = bytearray((model / "gbm.txt").read_bytes())
    raw[len(raw) // 2] ^= 1
    (model / "gbm.txt").write_bytes(bytes(raw))
    with pytest.raises(BundleError, match="bundle file gbm.txt has sha256 .* was changed after it was written"):
        load_bundle(model, trusted_keys=[ours.fingerprint])
    with pytest.raises(BundleError, match="gbm.txt has sha256"):  # and it cannot be signed as it is now
        sign_bundle(model, ours.private_path, overwrite=True)


def test_a_signed_version_1_bundle_pins_its_manifest(tmp_path, keys):
    ours, _ = keys
    copy = tmp_path / "v1"
    shutil.copytree(DATA / "bundle_v1", copy)
    sign_bundle(copy, ours.private_path)
    assert load_bundle(copy, trusted_keys=[ours.public_path]).version == "3c1c81c027a4"
    m = json.loads((copy / "manifest.json").read_text())
    m["config"]["dataset"]["id_format"] = "any"
    (copy / "manifest.json").write_text(json.dumps(m, indent=1))
    with pytest.raises(BundleError, match="bad signature"):
        load_bundle(copy)


def test_resigning_with_another_key_needs_overwrite(model, keys):
    ours, theirs = keys
    sign_bundle(model, ours.private_path)
    sign_bundle(model, ours.private_path)  # the same key again: the same signature
    res = runner.invoke(app, ["models", "sign", str(model), "--key", str(theirs.private_path)])
    assert res.exit_code == 1 and "already signed by key" in str(res.exception)
    assert load_bundle(model).signed_by == ours.fingerprint
    assert sign_bundle(model, theirs.private_path, overwrite=True).signed_by == theirs.fingerprint
    with pytest.raises(BundleError, match="is not a PEM private key .*it is a public key"):
        sign_bundle(model, theirs.public_path)


def test_trusted_keys_from_the_environment_apply_to_every_loader(model, keys, monkeypatch, tmp_path):
    ours, theirs = keys
    monkeypatch.setenv(ENV_TRUSTED_KEYS, os.pathsep.join([str(ours.public_path), str(theirs.public_path)]))
    with pytest.raises(BundleError, match="is not signed"):
        load_bundle(model)
    with pytest.raises(BundleError, match="is not signed"):
        resolve_model(str(model))
    sign_bundle(model, theirs.private_path)
    assert load_bundle(model).signed_by == theirs.fingerprint
    # The bytes that travel to worker processes carry the signature and are checked again there.
    files = bundle_files(load_bundle(model))
    assert SIGNATURE in files and bundle_from_files(files).signed_by == theirs.fingerprint
    monkeypatch.setenv(ENV_TRUSTED_KEYS, str(tmp_path / "missing.pem"))
    with pytest.raises(BundleError, match=rf"missing.pem' \(from \${ENV_TRUSTED_KEYS}\) is neither a public-key file"):
        load_bundle(model)


def test_the_command_line_refuses_an_unsigned_bundle_under_trusted_keys(model, keys, tmp_path):
    ours, _ = keys
    env = {ENV_TRUSTED_KEYS: str(ours.public_path)}
    reg = tmp_path / "r.csv"
    assert _cli("synth", "-n", "300", "--out", str(reg)).returncode == 0
    proc = _cli("rescore", "--model", str(model), "--input", str(reg), "--output", str(tmp_path / "g.parquet"),
                "--audit-db", str(tmp_path / "audit.db"), env=env)  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "is not signed (no signature.json) and trusted keys are configured" in proc.stderr
    assert not (tmp_path / "g.parquet").exists()
    sign_bundle(model, ours.private_path)
    proc = _cli("rescore", "--model", str(model), "--input", str(reg), "--output", str(tmp_path / "g.parquet"),
                "--audit-db", str(tmp_path / "audit.db"), env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_models_verify_prints_hashes_and_the_signature_with_keys_from_a_config(model, keys, tmp_path):
    ours, theirs = keys
    cfg = _config_trusting(ours, tmp_path)
    loaded = load_config(cfg)
    assert config_trusted_keys(loaded) == (str(cfg.parent / "ours.pub.pem"),)
    assert "security" not in loaded.model_dump(mode="json")  # a machine's trust is not written into bundles
    res = runner.invoke(app, ["models", "verify", str(model)], terminal_width=250)
    assert res.exit_code == 0, res.output
    manifest = json.loads((model / "manifest.json").read_text())
    assert (
        manifest["files"]["gbm.txt"] in res.output and f"All {len(manifest['files'])} file hashes match" in res.output
    )
    assert "Unsigned." in res.output
    res = runner.invoke(app, ["models", "verify", str(model), "--config", str(cfg)], terminal_width=250)
    assert res.exit_code == 1 and "is not signed" in str(res.exception)
    sign_bundle(model, ours.private_path)
    res = runner.invoke(app, ["models", "verify", str(model), "--config", str(cfg)], terminal_width=250)
    assert res.exit_code == 0, res.output
    assert f"Signature valid, key {ours.fingerprint[:16]} ({ours.fingerprint}); a trusted key." in res.output
    res = runner.invoke(app, ["models", "verify", str(model), "--trusted-key", theirs.fingerprint], terminal_width=250)
    assert res.exit_code == 1 and f"signed by key {ours.fingerprint[:16]}" in str(res.exception)


def test_a_signed_bundle_registered_in_mlflow_keeps_its_signature(model, keys, tmp_path, monkeypatch):
    import pandas as pd

    from credit_grading.synth import generate_registry
    from credit_grading.tracking import log_model, mlflow_session

    ours, theirs = keys
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    bundle = sign_bundle(model, ours.private_path)
    sample = generate_registry(50, seed=3, as_of="2025-12-31").table.to_pandas()
    with mlflow_session() as mlflow:
        mlflow.set_experiment("signed")
        with mlflow.start_run():
            log_model(mlflow, bundle, pd.DataFrame(sample), register=True)
    got = resolve_model(f"models:/{bundle.name}/1", trusted_keys=[ours.public_path])
    assert got.signed_by == ours.fingerprint and got.sha256 == bundle.sha256
    assert (got.path / SIGNATURE).is_file()
    with pytest.raises(BundleError, match=f"signed by key {ours.fingerprint[:16]}"):
        resolve_model(f"models:/{bundle.name}/1", trusted_keys=[theirs.fingerprint])


def test_rescore_takes_trusted_keys_from_its_config(model, keys, tmp_path):
    ours, _ = keys
    cfg = _config_trusting(ours, tmp_path)
    reg = tmp_path / "r.csv"
    assert _cli("synth", "-n", "300", "--out", str(reg)).returncode == 0
    args = ["rescore", "--model", str(model), "--input", str(reg), "--output", str(tmp_path / "g.parquet"),
            "--audit-db", str(tmp_path / "audit.db"), "--config", str(cfg)]  # fmt: skip
    proc = _cli(*args)
    assert proc.returncode == 1 and "is not signed" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "g.parquet").exists()
    sign_bundle(model, ours.private_path)
    proc = _cli(*args)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("command", ["explain", "report", "monitor"])
def test_report_commands_take_trusted_keys_from_their_config(model, keys, tmp_path, command):
    ours, _ = keys
    cfg = _config_trusting(ours, tmp_path)
    reg = tmp_path / "r.parquet"
    assert _cli("synth", "-n", "300", "--out", str(reg)).returncode == 0
    extra = {"explain": ["--input", str(reg), "--all", "--out", str(tmp_path / "x")],
             "report": ["--data", str(reg), "--out", str(tmp_path / "v.html")],
             "monitor": ["--reference", str(reg), "--current", str(reg), "--out", str(tmp_path / "m")]}[command]  # fmt: skip
    proc = _cli(command, "--model", str(model), *extra, "--config", str(cfg))
    assert proc.returncode == 1 and "is not signed" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not any((tmp_path / n).exists() for n in ("x", "v.html", "m"))
