"""Training both models and evaluating them: split → scorecard → GBM → calibration → test.

``train_models(data, config)`` returns a :class:`TrainingResult` with the
:class:`~credit_grading.specs.model.ModelSpec` (both models, their calibrations, the
champion), the splits and the champion/challenger evaluation on the test rows. On the
synthetic registry (which carries ``true_pd``) it also reports the oracle: the AUC and Gini
of the true PD on the same rows, the best any model can reach.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from credit_grading.calibration import fit_calibration
from credit_grading.config import Config, load_config
from credit_grading.config.grading import FitSample
from credit_grading.engine.model import CompiledModel
from credit_grading.evaluation import auc, metrics
from credit_grading.exceptions import ConfigError
from credit_grading.gbm import GbmModel
from credit_grading.grading.fit import fit_scale, grade_table, records
from credit_grading.scorecard import Scorecard
from credit_grading.specs.model import ModelSpec
from credit_grading.splits import Splits, split_frame
from credit_grading.stats import hhi


@dataclass
class TrainingResult:
    model: ModelSpec
    splits: Splits
    evaluation: dict
    scorecard: Scorecard
    gbm: GbmModel
    timings: dict = field(default_factory=dict)


def _check_rule_items(cfg: Config, data: pd.DataFrame) -> None:
    for rule in cfg.grading.overrides:
        absent = sorted(i for i in rule.when.items() if i not in data.columns)
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


STEPS = ("split", "binning", "selection", "scorecard", "gbm", "calibration", "grades", "evaluation")


def train_models(
    data: pd.DataFrame,
    config: Config | None = None,
    *,
    oracle_column: str = "true_pd",
    progress: Callable[[str], None] | None = None,
) -> TrainingResult:
    """Train, calibrate, grade and evaluate both models on a validated registry table.

    ``progress`` is called with each name of :data:`STEPS` as that step starts.
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
    model = ModelSpec(card.spec_, gbm.spec_, calib, champion=str(cfg.model.champion), name=cfg.model.name)

    t0 = time.perf_counter()
    step("grades")
    _check_rule_items(cfg, data)
    dev = splits.valid if cfg.grading.fit.sample == FitSample.VALID else pd.concat([splits.train, splits.valid])
    dev_pd = CompiledModel(model).score(dev).pd
    scale = fit_scale(dev_pd, dev[target].to_numpy(dtype=np.float64), cfg.grading)
    model = replace(model, scale=scale, overrides=cfg.grading.overrides,
                    hysteresis_margin=cfg.grading.hysteresis_margin)  # fmt: skip
    timings["grades"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    step("evaluation")
    evaluation = {"split": splits.summary(), "champion": model.champion}
    for name, part in (("train", splits.train), ("valid", splits.valid), ("test", splits.test)):
        evaluation[name] = _evaluate(model, part, target)
    if oracle_column in splits.test.columns:
        y = splits.test[target].to_numpy(dtype=np.float64)
        a = auc(y, splits.test[oracle_column].to_numpy(dtype=np.float64))
        evaluation["test"]["oracle"] = {"auc": a, "gini": 2 * a - 1}
        for name in ("scorecard", "gbm"):
            evaluation["test"][name]["gini_vs_oracle"] = evaluation["test"][name]["gini"] / (2 * a - 1)
    test_pd = CompiledModel(model).score(splits.test).pd
    test_table = grade_table(scale, test_pd, splits.test[target].to_numpy(dtype=np.float64))
    evaluation["grades"] = {
        "method": scale.method,
        "cutoffs": list(scale.cutoffs),
        "development": list(scale.table),
        "development_hhi": scale.meta.get("hhi"),
        "test": list(records(test_table)),
        "test_hhi": hhi(test_table["count"].to_numpy()),
    }
    timings["evaluation"] = time.perf_counter() - t0
    evaluation["timings"] = timings
    return TrainingResult(model, splits, evaluation, card, gbm, timings)


def champion_challenger_table(evaluation: dict) -> pd.DataFrame:
    """One row per model (and the oracle when known) with the headline test figures."""
    rows = []
    for name, m in evaluation["test"].items():
        rows.append({"model": name, **{k: v for k, v in m.items() if k != "deciles"}})
    return pd.DataFrame(rows)
