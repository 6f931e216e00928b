"""The registered model behind MLflow's own servers, on 127.0.0.1 and a free port, stopped at the end:

- ``mlflow models serve -m models:/credit_grading@champion --env-manager local`` answers a JSON
  request for a few entities with the grade, tier, PD and reasons BundleGrader gives — the path a
  registration or objection system calls for a single enterprise;
- ``mlflow server`` shows the training run, and headless Chromium (when installed) screenshots its page.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from credit_grading.service import BundleGrader

pytestmark = pytest.mark.slow
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)


@pytest.fixture(scope="module")
def champion(registered_model):
    """A model trained, registered and promoted to champion in a store of its own."""
    root, uri, res = registered_model
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = uri
    # as in an activated environment: MLflow starts uvicorn by name
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return root, env, res


def _plain(values) -> list:
    return [None if pd.isna(v) else v for v in values]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _server(args: list[str], *, env: dict, cwd: Path, ready: str, timeout: float = 90):
    """Start an MLflow server on 127.0.0.1 and a free port; yield its base URL once ``ready`` answers; stop it."""
    port = _free_port()
    log = (cwd / f"server_{port}.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", *args, "--host", "127.0.0.1", "--port", str(port)],
                            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"the server exited: {(cwd / log.name).read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(base + ready, timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the server did not answer in {timeout} s: {Path(log.name).read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        log.close()


def test_mlflow_models_serve_grades_a_few_entities_like_bundle_grader(champion):
    root, env, res = champion
    table = pq.read_table(root / "registry.parquet").slice(9990, 4)  # four entities of the 2025 snapshot
    frame = table.to_pandas()
    frame["as_of"] = frame["as_of"].astype(str)  # as a registration system sends them: text dates
    frame["established_on"] = frame["established_on"].astype(str)
    frame = frame.astype(object).where(frame.notna(), None)
    frame.loc[3, "uscc"] = "NOT-A-CODE"  # a bad key comes back rejected, with its reason
    body = json.dumps({"dataframe_records": frame.to_dict("records")}, default=str).encode()
    uri = "models:/credit_grading@champion"
    with _server(["models", "serve", "-m", uri, "--env-manager", "local", "-w", "1"], env=env, cwd=root,
                 ready="/ping") as base:  # fmt: skip
        req = urllib.request.Request(base + "/invocations", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            got = pd.DataFrame(json.loads(r.read())["predictions"])
    want = BundleGrader(res.bundle).predict(pd.DataFrame(frame.to_dict("records")))
    assert len(got) == 4 and got["status"].tolist() == ["graded"] * 3 + ["rejected"]
    assert got.loc[3, "reject_reasons"].startswith("uscc_")
    for col in ("uscc", "grade", "tier", "status", "reason_1", "reason_2", "reason_3"):
        assert _plain(got[col]) == _plain(want[col]), col
    np.testing.assert_allclose(got["pd"].to_numpy(dtype=float), want["pd"].to_numpy(dtype=float), rtol=1e-12)
    assert got.loc[:2, "pd"].between(0, 1).all()


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (/usr/bin/chromium): no screenshot")
def test_the_run_page_in_headless_chromium(champion, tmp_path):
    from credit_grading.tracking import run_url

    root, env, res = champion
    run_id, exp_id = res.tracked.run_id, res.tracked.experiment_id
    store = env["MLFLOW_TRACKING_URI"]
    args = ["server", "--backend-store-uri", store, "--workers", "1"]
    with _server(args, env=env, cwd=root, ready="/health") as base:
        with urllib.request.urlopen(f"{base}/ajax-api/2.0/mlflow/runs/get?run_id={run_id}", timeout=10) as r:
            run = json.loads(r.read())["run"]
        assert run["info"]["status"] == "FINISHED"
        shot = tmp_path / "run.png"
        url = run_url(run_id, exp_id, base)  # the model-training view: MLflow 3.17's UI opens on GenAI otherwise
        profile = tmp_path / "chromium-profile"
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}",
               "--window-size=1400,1000", "--virtual-time-budget=15000", f"--screenshot={shot}"]  # fmt: skip
        done = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
        dom = subprocess.run([*cmd[:-1], "--dump-dom", url], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    assert f"credit_grading-{res.bundle.version}" in dom.stdout  # the run's name is on its page
    assert "Model registry" in dom.stdout and "Evaluation runs" not in dom.stdout  # runs, not GenAI traces
    assert "Out-of-time test" in dom.stdout  # the run's description
    shutil.copy(shot, root / "run_page.png")
