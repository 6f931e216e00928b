"""Benchmark: registry rescoring with ``credit-grading rescore`` against the path a user writes today.

Run by hand (not a test); every figure comes from this one run:

    .venv/bin/python benchmarks/bench_rescore.py                       # 5M rows, 10M for memory
    .venv/bin/python benchmarks/bench_rescore.py --rows 1000000 --memory-rows 0

A model is trained once (2 synthetic snapshots × ``--train-rows``, no tracking); its bundle
decides with the GBM, a copy with the scorecard. For each deciding model, on the same
``--rows``-row synthetic Parquet registry, each path runs in a fresh process (so that its
peak RSS is its own):

* **ours**: ``rescore`` — stream, validate, score, grade, tier, overrides, top-3 reasons,
  write Parquet (atomic, resumable);
* **naive**: what a user writes today — pandas reads the whole file; the GBM through
  ``booster.predict`` plus ``pred_contrib`` for the top-3 reasons, the scorecard through
  optbinning's ``Scorecard.score`` (optbinning fitted on the same training rows and features);
  the bundle's calibration; ``pd.cut`` on the bundle's PD cut-offs;
* **engine alone**: the compiled model scoring and explaining the same rows already in memory.

Printed: seconds, rows/s and peak RSS of each (the best of ``--repeats`` interleaved runs); ours
against naive; what ours spends beyond the engine; the stages of ours one after the other (read,
validate, engine, decide, write: seconds per 1M rows, wall and CPU); whether every row's model
grade is identical; the cost of ``--reasons-for`` variants; and the peak RSS of a
``--memory-rows`` rescoring with the default chunk size.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve()


def rss_mb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss would count the parent's pages
    mapped in the child between fork and exec)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args) -> dict:
    warnings.simplefilter("ignore")
    from credit_grading.bundle import load_bundle

    bundle = load_bundle(args.bundle)
    model = bundle.model
    if args.child == "ours":
        from credit_grading.batch import rescore

        t0 = time.perf_counter()
        c0 = time.process_time()
        none = args.reasons_for == "none"
        s = rescore(bundle, args.input, args.output, reasons=0 if none else 3,
                    reasons_for="all" if none else args.reasons_for, previous_path=args.previous,
                    overwrite=True)  # fmt: skip
        return {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rss_mb": rss_mb(),
                "explained": s["rows_explained"],
                "rows": s["rows_read"]}  # fmt: skip
    if args.child == "stages":
        return stages(bundle, Path(args.input))
    if args.child == "engine":
        from credit_grading.engine.model import CompiledModel
        from credit_grading.registry import load_registry
        from credit_grading.service import bundle_schema

        data = load_registry(args.input, bundle_schema(bundle)).data
        engine = CompiledModel(model)
        engine.score(data.iloc[:2000], reasons=3)  # compile kernels and tables first
        t0 = time.perf_counter()
        c0 = time.process_time()
        step = 250_000
        for s in range(0, len(data), step):
            engine.score(data.iloc[s : s + step], reasons=3)
        return {
            "seconds": time.perf_counter() - t0,
            "cpu": time.process_time() - c0,
            "rss_mb": rss_mb(),
            "rows": len(data),
        }
    # naive paths
    t0 = time.perf_counter()
    c0 = time.process_time()
    frame = pd.read_parquet(args.input)
    frame["firm_age_years"] = (
        pd.to_datetime(frame["as_of"]) - pd.to_datetime(frame["established_on"])
    ).dt.days / 365.25
    if args.child == "naive-gbm":
        import lightgbm as lgb

        spec = model.gbm
        cols = []
        for f in spec.features:
            if f.kind == "categorical":
                codes = pd.Categorical(frame[f.name].astype(object), categories=list(f.levels)).codes.astype(float)
                cols.append(np.where(codes < 0, np.nan, codes))
            else:
                cols.append(frame[f.name].to_numpy(dtype=float))
        x = np.column_stack(cols)
        booster = lgb.Booster(model_str=spec.model_text)
        margin = booster.predict(x, raw_score=True)
        contrib = booster.predict(x, pred_contrib=True)[:, :-1]
        top3 = np.argsort(-contrib, axis=1)[:, :3]
        pd_ = model.calibration["gbm"].apply(margin)
    else:
        from credit_grading.binning.fit import training_frame

        ob, items = fit_reference(args, model)
        t0 = time.perf_counter()  # the fit is not the user's scoring path
        c0 = time.process_time()
        frame = pd.read_parquet(args.input)
        frame["firm_age_years"] = (
            pd.to_datetime(frame["as_of"]) - pd.to_datetime(frame["established_on"])
        ).dt.days / 365.25
        score = ob.score(training_frame(frame, items))
        pd_ = model.calibration["scorecard"].apply(score)
        top3 = None
    cuts = [0.0, *model.scale.cutoffs, 1.0]
    grades = pd.cut(pd_, bins=cuts, labels=list(model.scale.grades), right=True, include_lowest=True)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    np.save(args.output, np.asarray(grades.codes))
    del top3
    return {"seconds": seconds, "cpu": cpu, "rss_mb": rss_mb(), "rows": len(frame)}


def stages(bundle, path: Path, repeats: int = 3) -> dict:
    """Seconds per 1M rows of each stage of ``rescore``, run one after the other (best of
    ``repeats``; wall and CPU of all threads): read, validate (with the keep_first duplicate check),
    engine (score and top-3 reasons), decide (grades, tiers, overrides, the result table) and write
    (Parquet encoded in place, fsync'ed)."""
    import shutil

    from credit_grading.batch.chunks import ChunkGrader
    from credit_grading.batch.keys import SeenKeys
    from credit_grading.batch.options import RescoreOptions
    from credit_grading.batch.reader import ChunkReader
    from credit_grading.batch.writer import OutputWriter
    from credit_grading.registry.validate import validate_table

    opts = RescoreOptions()
    grader = ChunkGrader(bundle, opts, None, str(path))
    reader = ChunkReader(path, grader.schema, opts.chunk_rows)
    best: dict[str, list[float]] = {}

    @contextlib.contextmanager
    def timed(name):
        c, t = time.process_time(), time.perf_counter()
        yield
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        old = best.get(name)
        best[name] = [wall, cpu] if old is None or wall < old[0] else old

    n = reader.total_rows
    grader.grade(0, next(reader.chunks(0))[1].slice(0, 2000), np.zeros(0, np.int64))  # compile first
    work = path.with_name("stages.work")
    empty = pd.DataFrame({"row_number": pd.Series(dtype="int64")})
    for _ in range(repeats):
        with timed("read"):
            chunks = list(reader.chunks(0))
        seen = SeenKeys(n)
        with timed("validate"):
            valid = [validate_table(t, grader.schema, row_offset=o, source="x", chunk=True, seen_keys=seen,
                                    keep_columns=grader.needed) for o, t in chunks]  # fmt: skip
        with timed("engine"):
            for r in valid:
                grader.grader.compiled.score(r.data, reasons=3, challenger=False)
        seen = SeenKeys(n)
        with timed("all of grade()"):
            outs = [grader.grade(o, t, seen)[0] for o, t in chunks]
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        writer = OutputWriter(work, work / "o.parquet", None, "lz4")
        writer.resume(0, 0)
        with timed("write"):
            for i, out in enumerate(outs):
                writer.add(i, out, empty)
            writer.seal()
        del chunks, valid, outs
    shutil.rmtree(work, ignore_errors=True)
    g = best.pop("all of grade()")
    best["decide"] = [max(g[i] - best["validate"][i] - best["engine"][i], 0.0) for i in range(2)]
    return {k: [round(x * 1e6 / n, 3) for x in v] for k, v in best.items()}


def fit_reference(args, model):
    from credit_grading.config import load_config
    from credit_grading.registry import load_registry
    from credit_grading.scorecard import reference_scorecard
    from credit_grading.splits import split_frame

    cfg = load_config()
    data = load_registry(args.train_file, cfg).data
    train = split_frame(data, cfg).train
    names = [f.name for f in model.scorecard.features]
    return reference_scorecard(cfg, names, train, train["bad_12m"].to_numpy())


def run_child(mode: str, **kw) -> dict:
    cmd = [sys.executable, str(HERE), "--child", mode]
    for k, v in kw.items():
        if v is not None:
            cmd += [f"--{k.replace('_', '-')}", str(v)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--train-rows", type=int, default=100_000)
    ap.add_argument("--memory-rows", type=int, default=10_000_000)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--child", default=None)
    for opt in ("bundle", "input", "output", "previous", "train-file"):
        ap.add_argument(f"--{opt}", default=None)
    ap.add_argument("--reasons-for", default="all")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved runs of each path; the best is shown")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    warnings.simplefilter("ignore")
    from credit_grading.bundle import load_bundle, write_bundle
    from credit_grading.config import load_config
    from credit_grading.pipeline import train_pipeline
    from credit_grading.synth import generate_registry, write_registry

    tmp = args.workdir or Path(tempfile.mkdtemp(prefix="bench_rescore_"))
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"work files in {tmp}")
    train_file = tmp / "train.parquet"
    snaps = [
        generate_registry(args.train_rows, seed=1, as_of=d, drift=x)
        for d, x in (("2024-12-31", 0.0), ("2025-12-31", 0.3))
    ]
    pq.write_table(pa.concat_tables([s.table for s in snaps]), train_file)
    res = train_pipeline(load_config(), train_file, tmp / "gbm_bundle", track=False, overwrite=True)
    b = res.bundle
    write_bundle(tmp / "card_bundle", replace(b.model, champion="scorecard"), policy=b.policy, catalogue=b.catalogue,
                 config=b.config, training_data=b.manifest["training_data"], overwrite=True)  # fmt: skip
    n_card = len(b.model.scorecard.features)
    print(f"model: GBM {b.model.gbm.best_iteration + 1} trees × depth ≤ 2; scorecard {n_card} features")

    t0 = time.perf_counter()
    reg, prev = tmp / f"registry_{args.rows}.parquet", tmp / f"registry_prev_{args.rows}.parquet"
    write_registry(generate_registry(args.rows, seed=2, as_of="2026-06-30"), reg)
    write_registry(generate_registry(args.rows, seed=2, as_of="2025-12-31", drift=0.0), prev)
    print(f"{args.rows:,}-row registries written in {time.perf_counter() - t0:.0f} s "
          f"({reg.stat().st_size / 1e6:.0f} MB)")  # fmt: skip
    n = args.rows

    def line(name, r):
        print(
            f"  {name:<34} {r['seconds']:7.2f} s  {n / r['seconds'] / 1e6:6.3f} M rows/s  peak RSS {r['rss_mb']:7.0f} MB"
            + (f"  (CPU {r['cpu']:.2f} s)" if "cpu" in r else "")
        )

    for which in ("scorecard", "gbm"):
        bundle_dir = tmp / ("gbm_bundle" if which == "gbm" else "card_bundle")
        print(f"\n== {which} decides ==")
        naive_mode = f"naive-{'gbm' if which == 'gbm' else 'card'}"
        runs: dict[str, list[dict]] = {"ours": [], "engine": [], "naive": []}
        for _ in range(args.repeats):  # interleaved, so that a busy moment of the machine hits all three
            runs["ours"].append(run_child("ours", bundle=bundle_dir, input=reg, output=tmp / f"out_{which}.parquet"))
            runs["engine"].append(run_child("engine", bundle=bundle_dir, input=reg))
            runs["naive"].append(run_child(naive_mode, bundle=bundle_dir, input=reg, output=tmp / f"naive_{which}.npy",
                                           train_file=train_file))  # fmt: skip
        ours, eng, naive = (min(runs[k], key=lambda r: r["seconds"]) for k in ("ours", "engine", "naive"))
        line("ours: rescore (all reasons)", ours)
        line("engine alone (score+reasons)", eng)
        line(f"naive ({'LightGBM + pred_contrib' if which == 'gbm' else 'optbinning'}) ", naive)
        st = run_child("stages", bundle=bundle_dir, input=reg)
        print("  stages, run one after the other (s per 1M rows, wall / CPU of all threads): " + ", ".join(
            f"{k} {v[0]:.3f}/{v[1]:.3f}" for k, v in st.items()))  # fmt: skip
        print(f"  sum of the stages {sum(v[0] for v in st.values()):.3f} s per 1M rows; ours end to end "
              f"{ours['seconds'] * 1e6 / n:.3f} (the stages overlap: reader, two graders, writer)")  # fmt: skip
        ours_grades = pq.read_table(tmp / f"out_{which}.parquet", columns=["model_grade"]).column(0)
        labels = list(load_bundle(bundle_dir).model.scale.grades)
        ours_codes = np.asarray(pd.Categorical(ours_grades.to_pandas().astype(str), categories=labels).codes)
        naive_codes = np.load(tmp / f"naive_{which}.npy")
        same = int((ours_codes == naive_codes).sum())
        print(f"  ours vs naive: x{naive['seconds'] / ours['seconds']:.1f} faster (CPU time: "
              f"x{naive['cpu'] / ours['cpu']:.1f}); model grades identical on {same:,} of {n:,} rows")  # fmt: skip
        print(f"  beyond the engine (read, validate, grade, write): +{100 * (ours['seconds'] / eng['seconds'] - 1):.0f}% "
              f"of the engine's own time (CPU time: +{100 * (ours['cpu'] / eng['cpu'] - 1):.0f}%)")  # fmt: skip
        if which == "gbm":
            prev_out = tmp / "prev_out.parquet"
            run_child("ours", bundle=bundle_dir, input=prev, output=prev_out)
            for rf in ("none", "tiers:C,D", "changed"):
                r = run_child("ours", bundle=bundle_dir, input=reg, output=tmp / "variant.parquet", reasons_for=rf,
                              previous=prev_out if rf == "changed" else None)  # fmt: skip
                line(f"ours --reasons-for {rf} ({r['explained']:,} explained)", r)

    if args.memory_rows:
        big = tmp / f"registry_{args.memory_rows}.parquet"
        write_registry(generate_registry(args.memory_rows, seed=3, as_of="2026-06-30"), big)
        r = run_child("ours", bundle=tmp / "gbm_bundle", input=big, output=tmp / "big_out.parquet")
        print(f"\n{args.memory_rows:,} rows, default chunk size: {r['seconds']:.1f} s, peak RSS {r['rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
