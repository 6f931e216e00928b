"""The gradient-boosted challenger: LightGBM with monotone constraints from the catalogue.

``GbmModel(config).fit(train, valid)`` trains a binary LightGBM model with early stopping on
the validation rows. Numeric and flag features get the monotone constraint of their
catalogue risk direction; categorical features are LightGBM categoricals whose codes are
their catalogue level order (a level never seen in training, and a missing value, is
NaN: LightGBM's missing). Training is deterministic (fixed seeds, ``deterministic=True``,
row-wise histograms). The fitted model is a :class:`~credit_grading.specs.gbm.GbmSpec`
holding LightGBM's text format.

Parameters the config leaves unset fit the size of the data (:func:`size_defaults`): from
4,000 training rows on, the defaults measured on the built-in registry (leaves of at least
200 rows, 4 leaves, learning rate 0.1, early stopping after 50 rounds); below, leaves of
rows/20 (at least 20) and at most rows/(2·leaf) leaves, and below 3,000 rows learning rate
0.05 and patience 100, so that a 1,000-row dataset is not fitted with trees that can barely split. The values used and
the reason are in the spec (``params`` and ``meta["defaults"]``).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence

import numpy as np

from credit_grading.catalogue import Direction, ItemType
from credit_grading.columns import Tabular
from credit_grading.config import Config, load_config
from credit_grading.engine.gbm import CompiledGbm, encode_matrix
from credit_grading.exceptions import NotFittedError
from credit_grading.progress import task
from credit_grading.scorecard import binary_target
from credit_grading.specs.gbm import GbmFeature, GbmSpec

_MONOTONE = {Direction.INCREASING: 1, Direction.DECREASING: -1, Direction.NONE: 0}


def _progress_callback(bar):
    """A LightGBM callback advancing ``bar`` by one boosting round, with the validation metric."""

    def callback(env) -> None:
        res = env.evaluation_result_list or []
        if res:
            _data, metric, value, *_ = res[0]
            bar.advance(**{metric: f"{value:.5f}"})
        else:
            bar.advance()

    callback.order = 40  # after early stopping's bookkeeping; it never stops training
    return callback


LARGE_ROWS = 3_000  # from here on, the learning rate and patience measured on the built-in registry


def size_defaults(rows: int) -> tuple[dict, str]:
    """The size-dependent LightGBM parameters for ``rows`` training rows, and why.

    Leaves hold at least rows/20 rows (20 to 200: the built-in registry's 200 from 4,000 rows
    on), a tree has at most rows/(2·leaf) leaves (2 to 4), and below 3,000 rows the model learns
    more slowly (0.05) with more patience (100 rounds) on its few validation rows.

    >>> size_defaults(600)[0]
    {'min_data_in_leaf': 30, 'num_leaves': 4, 'learning_rate': 0.05, 'early_stopping_rounds': 100}
    >>> size_defaults(40_000)[0]
    {'min_data_in_leaf': 200, 'num_leaves': 4, 'learning_rate': 0.1, 'early_stopping_rounds': 50}
    """
    rows = int(rows)
    leaf = int(min(200, max(20, rows // 20)))
    leaves = int(min(4, max(2, rows // (2 * leaf))))
    small = rows < LARGE_ROWS
    lr, patience = (0.05, 100) if small else (0.1, 50)
    why = (f"{rows:,} training rows: leaves of at least rows/20 = {leaf} rows (20 to 200), at most rows/(2·leaf) = "
           f"{leaves} leaves (2 to 4)")  # fmt: skip
    if leaf == 200 and leaves == 4 and not small:
        why = f"{rows:,} training rows (at least 4,000): the large-data defaults"
    else:
        why += (", and below 3,000 rows a slower learning rate 0.05 with early stopping after 100 rounds on the few "
                "validation rows" if small else ", learning rate 0.1, early stopping after 50 rounds")  # fmt: skip
    return {"min_data_in_leaf": leaf, "num_leaves": leaves, "learning_rate": lr, "early_stopping_rounds": patience}, why


def resolved_params(config: Config, rows: int) -> tuple[dict, dict]:
    """The four size-dependent parameters (config value, or :func:`size_defaults` when unset) and
    the record of which were chosen automatically and why (empty when the config set them all)."""
    g = config.gbm
    auto, reason = size_defaults(rows)
    given = {k: getattr(g, k) for k in auto}
    used = {k: (v if v is not None else auto[k]) for k, v in given.items()}
    chosen = {k: used[k] for k, v in given.items() if v is None}
    record = {"rows_train": int(rows), "chosen": chosen, "reason": reason} if chosen else {}
    return used, record


class GbmModel:
    """LightGBM challenger estimator (see the module docstring)."""

    def __init__(self, config: Config | None = None, features: Sequence[str] | None = None) -> None:
        self.config = config
        self.features = features

    def lgb_params(self, features: Sequence[GbmFeature], rows: int | None = None) -> dict:
        """LightGBM's parameters; the size-dependent ones fit ``rows`` training rows (unset:
        the large-data defaults) unless the config sets them."""
        cfg = self.config or load_config()
        g = cfg.gbm
        used, _ = resolved_params(cfg, 10**9 if rows is None else rows)
        params = {
            "objective": "binary",
            "learning_rate": used["learning_rate"],
            "num_leaves": used["num_leaves"],
            "max_depth": g.max_depth,
            "min_data_in_leaf": used["min_data_in_leaf"],
            "feature_fraction": g.feature_fraction,
            "bagging_fraction": g.bagging_fraction,
            "bagging_freq": g.bagging_freq,
            "lambda_l2": g.lambda_l2,
            # Small data: one thread (a few hundred rows per round cost less than waking threads).
            "num_threads": g.num_threads or (1 if rows is not None and rows < LARGE_ROWS else (os.cpu_count() or 1)),
            "seed": g.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }
        if g.monotone and any(f.monotone for f in features):
            params["monotone_constraints"] = [f.monotone for f in features]
            params["monotone_constraints_method"] = g.monotone_method
        params.update(g.extra_params)
        return params

    def fit(self, train: Tabular, valid: Tabular | None = None, y=None, y_valid=None) -> GbmModel:
        import lightgbm as lgb

        cfg = self.config or load_config()
        cat = cfg.load_catalogue()
        items = [cat.item(n) for n in self.features] if self.features else list(cat.features)
        feats = tuple(
            GbmFeature(
                name=it.id,
                kind="categorical" if it.type is ItemType.CATEGORICAL else "numerical",
                levels=it.level_codes,
                monotone=_MONOTONE[it.direction] if cfg.gbm.monotone and it.type is not ItemType.CATEGORICAL else 0,
                name_zh=it.name_zh,
                name_en=it.name_en,
            )
            for it in items
        )
        target = cfg.dataset.target_column
        y_tr = binary_target(train, y, target)
        x_tr, _ = encode_matrix(feats, train)
        if valid is None:
            rng = np.random.default_rng(cfg.gbm.seed)
            hold = rng.random(len(y_tr)) < 0.2
            x_va, y_va = x_tr[hold], y_tr[hold]
            x_tr, y_tr = x_tr[~hold], y_tr[~hold]
        else:
            y_va = binary_target(valid, y_valid, target, both_classes=False)
            x_va, _ = encode_matrix(feats, valid)
        used, defaults = resolved_params(cfg, len(y_tr))
        patience = used["early_stopping_rounds"]
        params = self.lgb_params(feats, rows=len(y_tr))
        names = [f.name for f in feats]
        cats = [j for j, f in enumerate(feats) if f.kind == "categorical"]
        logging.getLogger("lightgbm").setLevel(logging.ERROR)
        with task("boosting rounds", total=cfg.gbm.n_estimators) as bar, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d_tr = lgb.Dataset(x_tr, y_tr, feature_name=names, categorical_feature=cats, free_raw_data=True)
            d_va = lgb.Dataset(x_va, y_va, reference=d_tr, free_raw_data=True)
            booster = lgb.train(
                params,
                d_tr,
                num_boost_round=cfg.gbm.n_estimators,
                valid_sets=[d_va],
                valid_names=["valid"],
                callbacks=[
                    *([lgb.early_stopping(patience, verbose=False)] if patience else []),
                    _progress_callback(bar),
                ],
            )
        best = int(booster.best_iteration or booster.current_iteration()) if patience else (booster.current_iteration())
        self.spec_ = GbmSpec(
            features=feats,
            model_text=booster.model_to_string(num_iteration=best),
            best_iteration=best,
            params={k: v for k, v in params.items() if k != "num_threads"} | {"early_stopping_rounds": patience},
            meta={"rows_train": len(y_tr), "rows_valid": len(y_va), "events_train": int(y_tr.sum())}
            | ({"defaults": defaults} if defaults else {}),
        )
        self._compiled = None
        return self

    def compiled(self) -> CompiledGbm:
        spec = getattr(self, "spec_", None)
        if spec is None:
            raise NotFittedError("this GbmModel is not fitted yet: call fit first")
        if getattr(self, "_compiled", None) is None:
            self._compiled = CompiledGbm(spec)
        return self._compiled

    def margin(self, data: Tabular) -> np.ndarray:
        return self.compiled().margin(data)
