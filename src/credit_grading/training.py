"""Training both models and evaluating them: split → scorecard → GBM → calibration →
(cross-validation) → champion → grades → test.

``train_models(data, config)`` returns a :class:`TrainingResult` with the
:class:`~credit_grading.specs.model.ModelSpec` (both models, their calibrations, the
champion), the splits and the champion/challenger evaluation on the test rows, each AUC, Gini
and KS with its interval. On the synthetic registry (which carries ``true_pd``) it also
reports the oracle: the AUC and Gini of the true PD on the same rows, the best any model can reach.

Small data (fewer labelled rows than ``evaluation.cv.max_rows``) is also cross-validated
(:func:`cross_validate`: repeated stratified k-fold over the development rows, both models
refitted on every fold) and the spread of AUC, Gini and KS reported beside the held-out
figures. ``model.champion: auto`` picks the model with the better AUC — cross-validated mean
when cross-validation ran, else on the validation rows — a tie (to the 4 decimals shown) going
to the scorecard (:func:`choose_champion`). Grade cut-offs are fitted on out-of-sample PDs:
out-of-fold when cross-validation ran, else the validation rows (``grading.fit.sample``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from credit_grading.calibration import fit_calibration
from credit_grading.config import Config, CvMode, load_config
from credit_grading.config.grading import CutoffMethod, FitSample
from credit_grading.engine.model import CompiledModel
from credit_grading.evaluation import auc, average_ranks, intervals, ks, metrics, spread
from credit_grading.exceptions import ConfigError, DataError
from credit_grading.gbm import GbmModel
from credit_grading.grading.fit import fit_scale, grade_table, records
from credit_grading.scorecard import Scorecard
from credit_grading.specs.model import ModelSpec
from credit_grading.splits import Splits, split_frame, stratified_mask
from credit_grading.stats import hhi


@dataclass
class TrainingResult:
    model: ModelSpec
    splits: Splits
    evaluation: dict
    scorecard: Scorecard
    gbm: GbmModel
    timings: dict = field(default_factory=dict)
    cv: CvResult | None = None


@dataclass
class CvResult:
    """Repeated k-fold cross-validation of both models on the development rows.

    ``folds`` holds one record per (repeat, fold) with each model's AUC, Gini and KS on the held-out
    fold; ``oof`` the out-of-fold scorecard score, GBM margin and both PDs (``pd_scorecard``,
    ``pd_gbm``) of every development row from the first repeat (each row scored by the models
    fitted and calibrated without it), in the rows' order."""

    folds: list[dict]
    oof: dict[str, np.ndarray]
    y: np.ndarray
    settings: dict

    def summary(self) -> dict:
        """Mean ± sd and fold-level min/max of AUC, Gini and KS per model."""
        models = {}
        for m in ("scorecard", "gbm"):
            models[m] = {k: spread([f[m][k] for f in self.folds]) for k in ("auc", "gini", "ks")}
        return {"ran": True, **self.settings, "models": models, "per_fold": self.folds}


def _fold_ids(y: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """A stratified fold number per row: each class shuffled and dealt round the folds."""
    out = np.empty(len(y), dtype=np.int64)
    start = 0
    for cls in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == cls))
        out[rows] = (np.arange(rows.size) + start) % folds
        start += rows.size  # the next class continues where this one stopped: fold sizes stay even
    return out


def cross_validate(
    dev: pd.DataFrame,
    config: Config,
    *,
    folds: int | None = None,
    repeats: int | None = None,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> CvResult:
    """Repeated stratified k-fold cross-validation of the scorecard and the GBM on ``dev``.

    Every fold repeats the training on its rows as :func:`train_models` does on the whole: a
    stratified validation share (``split.valid_fraction`` of the development rows) is set aside,
    both models are fitted on the rest (binning, selection, logistic regression; the GBM with
    early stopping on the validation share), calibrated on the validation share, and score the
    held-out fold. Seeded: the same data, config and seed give the same folds and figures.
    """
    cv = config.evaluation.cv
    folds, repeats = folds or cv.folds, repeats or cv.repeats
    seed = cv.seed if seed is None else seed
    target = config.dataset.target_column
    y = dev[target].to_numpy(dtype=np.float64)
    if min(int(y.sum()), int((1 - y).sum())) < 2 * folds:
        raise DataError(f"cross-validation with {folds} folds needs at least {2 * folds} rows of each outcome; the "
                        f"development rows have {int(y.sum())} bad(s) of {len(y)}; lower evaluation.cv.folds")  # fmt: skip
    share = min(0.5, config.split.valid_fraction / (1 - config.split.test_fraction))
    rng = np.random.default_rng(seed)
    method, floor = str(config.calibration.method), config.calibration.min_pd
    records_ = []
    oof = {k: np.full(len(y), np.nan) for k in ("scorecard", "gbm", "pd_scorecard", "pd_gbm")}
    for r in range(repeats):
        ids = _fold_ids(y, folds, rng)
        for f in range(folds):
            if progress is not None:
                progress(f"repeat {r + 1}/{repeats}, fold {f + 1}/{folds}")
            rest = np.flatnonzero(ids != f)
            cal = stratified_mask(y[rest], share, rng)
            fit_rows, cal_rows = dev.iloc[rest[~cal]], dev.iloc[rest[cal]]
            held = dev.iloc[np.flatnonzero(ids == f)]
            card = Scorecard(config).fit(fit_rows)
            gbm = GbmModel(config).fit(fit_rows, cal_rows)
            yc, yh = y[rest[cal]], y[ids == f]
            score, margin = card.score(held), gbm.margin(held)
            rec = {"repeat": r + 1, "fold": f + 1, "rows": int(yh.size), "bads": int(yh.sum())}
            for name, risk in (("scorecard", -score), ("gbm", margin)):
                a = auc(yh, risk)
                rec[name] = {"auc": a, "gini": 2 * a - 1, "ks": ks(yh, risk)}
            records_.append(rec)
            if r == 0:
                pd_card = fit_calibration(card.score(cal_rows), yc, method=method, input="score", direction=-1.0,
                                          min_pd=floor).apply(score)  # fmt: skip
                pd_gbm = fit_calibration(gbm.margin(cal_rows), yc, method=method, input="margin", direction=1.0,
                                         min_pd=floor).apply(margin)  # fmt: skip
                for k, v in (("scorecard", score), ("gbm", margin), ("pd_scorecard", pd_card), ("pd_gbm", pd_gbm)):
                    oof[k][ids == f] = v
    settings = {"folds": folds, "repeats": repeats, "seed": seed, "rows": len(y), "bads": int(y.sum()),
                "sample": "development rows (train + validation); the test rows are left out"}  # fmt: skip
    return CvResult(records_, oof, y, settings)


def cv_wanted(config: Config, rows: int) -> tuple[bool, str]:
    """Whether cross-validation runs on ``rows`` labelled rows, and why."""
    cv = config.evaluation.cv
    if cv.mode == CvMode.ON:
        return True, "evaluation.cv.mode: on"
    if cv.mode == CvMode.OFF:
        return False, "evaluation.cv.mode: off"
    if rows < cv.max_rows:
        return True, f"{rows:,} labelled rows, fewer than evaluation.cv.max_rows ({cv.max_rows:,})"
    return (
        False,
        f"{rows:,} labelled rows, at least evaluation.cv.max_rows ({cv.max_rows:,}): the held-out figures suffice",
    )


def choose_champion(config: Config, valid: dict, cv: dict | None = None) -> dict:
    """The deciding model and the evidence: ``model.champion`` when set, else the better AUC
    (cross-validated mean when ``cv`` is given, else on the validation rows); a tie to 4 decimals
    goes to the scorecard, the simpler model."""
    setting = str(config.model.champion)
    if cv is not None:
        basis = "cross-validated mean AUC"
        values = {m: cv["models"][m]["auc"]["mean"] for m in ("scorecard", "gbm")}
    else:
        basis = "validation AUC"
        values = {m: valid[m]["auc"] for m in ("scorecard", "gbm")}
    shown = {m: round(v, 4) for m, v in values.items()}
    better = "gbm" if shown["gbm"] > shown["scorecard"] else "scorecard"
    chosen = better if setting == "auto" else setting
    diff = values["gbm"] - values["scorecard"]
    figures = f"scorecard {values['scorecard']:.4f}, gbm {values['gbm']:.4f}"
    if setting != "auto":
        reason = f"{chosen}, set by model.champion ({basis}: {figures})"
    elif shown["gbm"] == shown["scorecard"]:
        reason = f"scorecard: a tie on the {basis} goes to the scorecard, the simpler model ({figures})"
    else:
        reason = f"{chosen}, the better {basis} ({figures}; difference {abs(diff):.4f}) under model.champion: auto"
    return {"setting": setting, "chosen": chosen, "basis": basis, "auc": values, "difference_gbm_minus_scorecard": diff,
            "validation_auc": {m: valid[m]["auc"] for m in ("scorecard", "gbm")}, "reason": reason}  # fmt: skip


def _check_rule_items(cfg: Config, data: pd.DataFrame) -> None:
    for rule in cfg.grading.overrides:
        # A list is not in the training data: it comes from a memberships file when grading.
        absent = sorted(i for i in rule.when.items() if i not in data.columns and not i.startswith("list:"))
        if absent:
            raise ConfigError(
                f"override rule {rule.id!r} tests item(s) {absent}, which the training data does not have; "
                "adapt grading.overrides to this dataset (grading: {overrides: []} turns the rules off)"
            )


def _evaluate(model: ModelSpec, part: pd.DataFrame, target: str) -> dict:
    res = CompiledModel(model).score(part)
    y = part[target].to_numpy(dtype=np.float64)
    out = {}
    if res.pd_scorecard is not None:
        out["scorecard"] = metrics(y, res.pd_scorecard, risk=-res.score)
    if res.pd_gbm is not None:
        out["gbm"] = metrics(y, res.pd_gbm, risk=res.margin)
    return out


STEPS = ("split", "binning", "selection", "scorecard", "gbm", "calibration", "cross-validation", "grades",
         "evaluation")  # fmt: skip


def _with_intervals(ev: dict, part: pd.DataFrame, model: ModelSpec, target: str, cfg: Config, seed: int) -> dict:
    """``ev`` (one split's figures per model) with the AUC, Gini and KS intervals added."""
    res = CompiledModel(model).score(part)
    y = part[target].to_numpy(dtype=np.float64)
    e = cfg.evaluation
    risks = {"scorecard": None if res.score is None else -res.score, "gbm": res.margin}
    for name, risk in risks.items():
        if risk is not None and name in ev:
            ev[name] |= intervals(y, risk, n_boot=e.bootstrap, seed=seed, level=e.level)
    return ev


def _grade_sample(
    cfg: Config, splits: Splits, model: ModelSpec, cv: CvResult | None
) -> tuple[np.ndarray, np.ndarray, str]:
    """PDs and outcomes the cut-offs are fitted on, and a description of them."""
    target = cfg.dataset.target_column
    sample = cfg.grading.fit.sample
    if sample == FitSample.AUTO:
        sample = FitSample.OOF if cv is not None else FitSample.VALID
    if sample == FitSample.OOF:
        if cv is None:
            raise ConfigError("grading.fit.sample: oof needs cross-validation; set evaluation.cv.mode: on")
        # The champion's out-of-fold PDs: each row scored by a fold's model, fitted and calibrated as
        # the final one is but without the row. The grades are fitted on them (counts, bad rates and
        # their significance all out of sample); to hold on the final model, each row's PD is carried
        # onto the final model's PD scale by its rank: the final model's PD at the same quantile of
        # the development rows (only the order of those PDs is used, never their outcomes).
        dev = pd.concat([splits.train, splits.valid])
        final = np.sort(CompiledModel(model).score(dev).pd)
        oof = cv.oof[f"pd_{model.champion}"]
        u = (average_ranks(oof) - 0.5) / len(oof)
        carried = np.interp(u, (np.arange(len(final)) + 0.5) / len(final), final)
        return (carried, cv.y, f"out-of-fold PDs of the {len(cv.y):,} development rows (first repeat of the "
                "cross-validation), carried onto the final model's PD scale by rank")  # fmt: skip
    dev = splits.valid if sample == FitSample.VALID else pd.concat([splits.train, splits.valid])
    what = ("the validation rows" if sample == FitSample.VALID
            else "the development rows (train + validation, in sample)")  # fmt: skip
    return CompiledModel(model).score(dev).pd, dev[target].to_numpy(dtype=np.float64), f"{what}: {len(dev):,} rows"


def _fit_grades(cfg: Config, splits: Splits, model: ModelSpec, cv_result: CvResult | None, cv_summary: dict,
                allow_cv: bool = True) -> tuple:  # fmt: skip
    """The master scale and the sample it was fitted on; with ``grading.fit.sample: auto`` and no
    cross-validation yet (and ``evaluation.cv.mode`` not ``off``), validation rows too few for the
    whole scale bring in out-of-fold PDs of all the development rows (one repeat of the
    cross-validation, reported as such) when they support more grades."""
    pd_fit, y_fit, sample = _grade_sample(cfg, splits, model, cv_result)
    try:
        scale, error = fit_scale(pd_fit, y_fit, cfg.grading), None
    except DataError as exc:
        scale, error = None, exc
    full = len(cfg.grading.grades)
    auto = (cfg.grading.fit.sample == FitSample.AUTO and cfg.grading.cutoffs == CutoffMethod.FITTED
            and cfg.evaluation.cv.mode != CvMode.OFF and allow_cv)  # fmt: skip
    if auto and cv_result is None and (scale is None or scale.n_grades < full):
        fitted = "none" if scale is None else f"only {scale.n_grades}"
        why = (f"the {len(splits.valid):,} validation rows support {fitted} of the {full} grades: out-of-fold PDs of "
               f"the {len(splits.train) + len(splits.valid):,} development rows are fitted instead")  # fmt: skip
        try:  # part of the grades step: no step of its own
            oof = cross_validate(pd.concat([splits.train, splits.valid]), cfg, repeats=1)
            pd_oof, y_oof, sample_oof = _grade_sample(cfg, splits, model, oof)
            other = fit_scale(pd_oof, y_oof, cfg.grading)
        except DataError:
            other = None
        if other is not None and (scale is None or other.n_grades > scale.n_grades):
            scale, sample, error = other, sample_oof, None
            cv_result, cv_summary = oof, oof.summary() | {"reason": why}
    if error is not None:
        raise error
    return replace(scale, meta={**scale.meta, "sample": sample}), sample, cv_result, cv_summary


def grades_evaluation(scale, sample: str, test_table: pd.DataFrame) -> dict:
    """The grade scale as an evaluation reports it: method, sample, cut-offs, the development table
    and the test rows' grade table with their concentrations."""
    return {
        "method": scale.method,
        "sample": sample,
        "count": scale.meta.get("grades"),
        "cutoffs": list(scale.cutoffs),
        "development": list(scale.table),
        "development_hhi": scale.meta.get("hhi"),
        "test": list(records(test_table)),
        "test_hhi": hhi(test_table["count"].to_numpy()),
    }


def train_models(
    data: pd.DataFrame,
    config: Config | None = None,
    *,
    oracle_column: str = "true_pd",
    progress: Callable[[str], None] | None = None,
    cv: bool | None = None,
) -> TrainingResult:
    """Train, calibrate, grade and evaluate both models on a validated registry table.

    ``progress`` is called with each name of :data:`STEPS` as that step starts. ``cv`` forces
    cross-validation on (True) or off (False, also for grade fitting); None follows ``evaluation.cv``.
    """
    step = progress or (lambda _name: None)
    cfg = config or load_config()
    target = cfg.dataset.target_column
    timings = {}
    t0 = time.perf_counter()
    step("split")
    splits = split_frame(data, cfg)
    timings["split"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    card = Scorecard(cfg).fit(splits.train, progress=step)
    timings["scorecard"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    step("gbm")
    gbm = GbmModel(cfg).fit(splits.train, splits.valid)
    timings["gbm"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    step("calibration")
    y_valid = splits.valid[target].to_numpy(dtype=np.float64)
    method = str(cfg.calibration.method)
    calib = {
        "scorecard": fit_calibration(card.score(splits.valid), y_valid, method=method, input="score",
                                     direction=-1.0, min_pd=cfg.calibration.min_pd),
        "gbm": fit_calibration(gbm.margin(splits.valid), y_valid, method=method, input="margin",
                               direction=1.0, min_pd=cfg.calibration.min_pd),
    }  # fmt: skip
    timings["calibration"] = time.perf_counter() - t0
    both = ModelSpec(card.spec_, gbm.spec_, calib, champion="scorecard", name=cfg.model_name)
    valid_ev = _evaluate(both, splits.valid, target)

    run_cv, cv_reason = cv_wanted(cfg, len(data)) if cv is None else (cv, f"cv={cv} given")
    cv_result = None
    if run_cv:
        t0 = time.perf_counter()
        step("cross-validation")
        cv_result = cross_validate(pd.concat([splits.train, splits.valid]), cfg)
    cv_summary = cv_result.summary() | {"reason": cv_reason} if cv_result else {"ran": False, "reason": cv_reason}
    if cv_result is not None:
        timings["cross_validation"] = time.perf_counter() - t0
    choice = choose_champion(cfg, valid_ev, cv_summary if cv_result else None)
    model = replace(both, champion=choice["chosen"])

    t0 = time.perf_counter()
    step("grades")
    _check_rule_items(cfg, data)
    scale, sample, cv_result, cv_summary = _fit_grades(
        cfg, splits, model, cv_result, cv_summary, allow_cv=cv is not False
    )
    model = replace(model, scale=scale, overrides=cfg.grading.overrides,
                    hysteresis_margin=cfg.grading.hysteresis_margin)  # fmt: skip
    timings["grades"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    step("evaluation")
    evaluation = {"split": splits.summary(), "champion": model.champion, "champion_choice": choice, "cv": cv_summary}
    for name, part in (("train", splits.train), ("valid", splits.valid), ("test", splits.test)):
        evaluation[name] = _evaluate(model, part, target)
    for name, part in (("valid", splits.valid), ("test", splits.test)):
        _with_intervals(evaluation[name], part, model, target, cfg, seed=cfg.split.seed)
    if oracle_column in splits.test.columns:
        y = splits.test[target].to_numpy(dtype=np.float64)
        a = auc(y, splits.test[oracle_column].to_numpy(dtype=np.float64))
        evaluation["test"]["oracle"] = {"auc": a, "gini": 2 * a - 1}
        for name in ("scorecard", "gbm"):
            evaluation["test"][name]["gini_vs_oracle"] = evaluation["test"][name]["gini"] / (2 * a - 1)
    test_pd = CompiledModel(model).score(splits.test).pd
    test_table = grade_table(scale, test_pd, splits.test[target].to_numpy(dtype=np.float64))
    evaluation["grades"] = grades_evaluation(scale, sample, test_table)
    timings["evaluation"] = time.perf_counter() - t0
    evaluation["timings"] = timings
    return TrainingResult(model, splits, evaluation, card, gbm, timings, cv_result)


def champion_challenger_table(evaluation: dict) -> pd.DataFrame:
    """One row per model (and the oracle when known) with the headline test figures."""
    rows = []
    for name, m in evaluation["test"].items():
        rows.append({"model": name, **{k: v for k, v in m.items() if k != "deciles"}})
    return pd.DataFrame(rows)


def cv_table(evaluation: dict) -> pd.DataFrame:
    """One row per model with the cross-validated AUC, Gini and KS (mean, sd, min, max); empty
    when cross-validation did not run."""
    cv = evaluation.get("cv") or {}
    if not cv.get("ran"):
        return pd.DataFrame()
    rows = []
    for name, figs in cv["models"].items():
        row = {"model": name}
        for k, v in figs.items():
            row |= {f"{k}_{s}": v[s] for s in ("mean", "sd", "min", "max")}
        rows.append(row)
    return pd.DataFrame(rows)
