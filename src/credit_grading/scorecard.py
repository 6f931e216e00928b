"""Scorecards: logistic regression on WoE, scaled to points.

``Scorecard(config).fit(data)`` bins every catalogue feature (optbinning), selects
features, fits a logistic regression on the WoE of the selected ones, checks the
coefficients' signs and scales the result to points: ``pdo`` points double the odds and
``base_score`` points stand for odds of ``odds``:1 (good:bad). Points run in the risk
direction: the riskier a bin, the fewer its points. The fitted result is a
:class:`ScorecardSpec`, plain data that round-trips through JSON; scoring goes through the
compiled engine (:mod:`credit_grading.engine`).

The scaling is described in :mod:`credit_grading.specs.scorecard`.

For an analyst, the reviews are tables: :meth:`Scorecard.binning_table` (a feature's bins with
their points), :meth:`Scorecard.selection_table` (IV, correlation, VIF, status and drop reason
of every candidate) and :func:`compare_scorecards` (before and after a change, side by side).
:class:`Scorecard` is the building block that ``train`` uses; in Python, train through
:class:`credit_grading.estimators.ScorecardClassifier`, the scikit-learn estimator around it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from credit_grading.binning.fit import binning_table, fit_binning, woe_matrix
from credit_grading.catalogue import Catalogue
from credit_grading.columns import Columns, Tabular
from credit_grading.config import Config, load_config
from credit_grading.csvsafe import write_csv
from credit_grading.engine.scorecard import CompiledScorecard
from credit_grading.evaluation import auc
from credit_grading.exceptions import DataError, NotFittedError
from credit_grading.selection import Dropped, SelectionResult, select_features
from credit_grading.specs.binning import BinningSpec, FeatureBinning
from credit_grading.specs.scorecard import ScorecardFeature, ScorecardSpec, scale_points


def binary_target(data: Tabular, y=None, name: str | None = None, *, both_classes: bool = True) -> np.ndarray:
    """The 0/1 outcome a model learns from, as float64: ``y`` if given, else column ``name`` of ``data``.

    Every row must be 0 or 1 (a missing value is refused, not dropped) and, with
    ``both_classes``, both must occur; each failure is one message naming the column and the
    offending value.

    >>> binary_target({"bad": np.array([0, 1, 1])}, name="bad")
    array([0., 1., 1.])
    """
    if y is None:
        if name is None:
            raise DataError("no target given: pass y or set dataset.target_column")
        cols = Columns(data)
        cols.require([name])
        y = cols.numeric(name)
    what = f"the target column {name!r}" if name is not None else "the target y"
    y = np.asarray(y, dtype=np.float64)
    bad = ~np.isin(y, (0.0, 1.0))  # NaN included
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        value = "missing" if np.isnan(y[first]) else f"{y[first]:g}"
        raise DataError(
            f"the target must be 0 or 1 on every row: {what} is {value} on row {first + 1} of the training rows "
            f"({int(bad.sum())} such row(s)); fix or drop those rows"
        )
    if both_classes and len(np.unique(y)) < 2:
        only = f"{y[0]:g}" if len(y) else "nothing"
        raise DataError(f"{what} holds only {only} on all {len(y)} row(s): a model needs both 0 and 1 to learn from")
    return y


class Scorecard:
    """A scorecard estimator: binning → selection → logistic regression → points.

    Parameters
    ----------
    config : Config, optional
        The configuration (default: the built-in one). Its ``dataset`` section names the
        target column and the catalogue; ``binning``, ``selection`` and ``scorecard``
        sections set the method.
    features : sequence of str, optional
        Candidate features (default: every catalogue feature).

    Attributes
    ----------
    binning_spec_ : BinningSpec
        Binning of every candidate feature.
    selection_ : SelectionResult
        What was selected, and everything dropped with its reason.
    spec_ : ScorecardSpec
        The fitted scorecard.
    """

    def __init__(self, config: Config | None = None, features: Sequence[str] | None = None) -> None:
        self.config = config
        self.features = features

    def _catalogue(self, cfg: Config) -> Catalogue:
        return cfg.load_catalogue()

    def fit(
        self, data: Tabular, y: np.ndarray | None = None, *, progress: Callable[[str], None] | None = None
    ) -> Scorecard:
        """Fit on ``data`` (any table the engine reads); ``y`` defaults to the target column.

        ``progress`` is called with ``"binning"``, ``"selection"`` and ``"scorecard"`` as each
        step starts.
        """
        step = progress or (lambda _name: None)
        from sklearn.linear_model import LogisticRegression

        cfg = self.config or load_config()
        cat = self._catalogue(cfg)
        items = [cat.item(n) for n in self.features] if self.features else list(cat.features)
        y = binary_target(data, y, cfg.dataset.target_column).astype(np.int64)

        step("binning")
        self.binning_spec_ = fit_binning(data, y, items, cfg.binning)
        names = list(self.binning_spec_.names)
        woe = woe_matrix(self.binning_spec_, data, names)
        step("selection")
        self.selection_ = select_features(self.binning_spec_, woe, y, cfg.selection, names)
        selected = list(self.selection_.selected)
        if not selected:
            raise DataError("feature selection kept no feature; lower selection.min_iv or check the target")
        step("scorecard")
        sc = cfg.scorecard
        col = {n: i for i, n in enumerate(names)}
        forced = set(self.selection_.forced)
        flagged = []
        while True:
            model = LogisticRegression(C=sc.C, max_iter=sc.max_iter)
            model.fit(woe[:, [col[n] for n in selected]], y)
            coefs = model.coef_.ravel()
            # Higher WoE means safer, so every coefficient should be negative. A feature the
            # analyst forced in (selection.include) is flagged, never dropped.
            wrong = [(c, n) for c, n in zip(coefs, selected, strict=True) if c >= 0]
            droppable = [(c, n) for c, n in wrong if n not in forced]
            if not droppable or sc.wrong_sign == "flag" or len(selected) == 1:
                flagged = [n for _, n in wrong]
                break
            c, n = max(droppable)
            self.selection_.dropped.append(Dropped(n, "wrong_sign", f"coefficient {c:+.4f} on WoE should be negative"))
            selected.remove(n)
        self.selection_.selected = selected
        self.selection_.describe(woe, names)
        self.model_ = model
        intercept = float(model.intercept_[0])
        feats = []
        for c, n in zip(coefs, selected, strict=True):
            item = cat.item(n)
            points, unseen = scale_points(
                self.binning_spec_[n], float(c), intercept, len(selected), pdo=sc.pdo, odds=sc.odds,
                base_score=sc.base_score, rounding=sc.rounding, missing_woe=cfg.binning.missing_woe,
                unseen_level=str(cfg.binning.unseen_level),
            )  # fmt: skip
            feats.append(ScorecardFeature(self.binning_spec_[n], float(c), points, unseen, item.name_zh, item.name_en))
        self.spec_ = ScorecardSpec(
            features=tuple(feats),
            intercept=intercept,
            pdo=sc.pdo,
            odds=sc.odds,
            base_score=sc.base_score,
            rounding=sc.rounding,
            missing_woe=cfg.binning.missing_woe,
            unseen_level=str(cfg.binning.unseen_level),
            meta={"rows": len(y), "events": int(y.sum()), "wrong_sign_flagged": flagged},
        )
        return self

    def _check(self) -> ScorecardSpec:
        spec = getattr(self, "spec_", None)
        if spec is None:
            raise NotFittedError("this Scorecard is not fitted yet: call fit first")
        return spec

    def compiled(self) -> CompiledScorecard:
        if getattr(self, "_compiled", None) is None or self._compiled.spec is not self._check():
            self._compiled = CompiledScorecard(self._check())
        return self._compiled

    def score(self, data: Tabular) -> np.ndarray:
        """Total points of every row."""
        return self.compiled().score(data).score

    def predict_pd(self, data: Tabular) -> np.ndarray:
        """The logistic regression's PD of every row (before calibration)."""
        return self._check().pd_from_score(self.score(data))

    def points_table(self) -> pd.DataFrame:
        return self._check().points_table()

    def binning_table(self, name: str | None = None) -> pd.DataFrame:
        """The bins of feature ``name`` (default: every binned feature) as a table: ``feature``,
        ``bin``, ``kind``, ``label``, ``count``, ``count_event``, ``event_rate``, ``woe``, ``iv``,
        ``points`` (NaN for a feature the scorecard does not use) and ``user_set`` (the
        analyst's bins)."""
        self._check()
        names = [name] if name is not None else list(self.binning_spec_.names)
        spec = self.binning_spec_
        for n in names:
            spec[n]  # one clear error naming the binned features
        table = binning_table(spec, names)
        points = {(f.name, i): p for f in self.spec_.features for i, p in enumerate(f.points)}
        table["points"] = [points.get((f, b), np.nan) for f, b in zip(table["feature"], table["bin"], strict=True)]
        table["user_set"] = [spec[f].user_set for f in table["feature"]]
        return table

    def selection_table(self) -> pd.DataFrame:
        """Every candidate feature with its IV, correlation, VIF, status and drop reason
        (see :meth:`credit_grading.selection.SelectionResult.table`)."""
        self._check()
        return self.selection_.table()

    def save_points_table(self, path: Path | str) -> Path:
        """Write the points table as CSV (UTF-8 with BOM, opens in spreadsheets) or JSON."""
        path = Path(path)
        table = self.points_table()
        if path.suffix.lower() == ".json":
            path.write_text(table.to_json(orient="records", force_ascii=False, indent=1), encoding="utf-8")
        elif path.suffix.lower() == ".csv":
            write_csv(table, path, encoding="utf-8-sig")
        else:
            raise DataError(f"cannot tell the format of {path}: use .csv or .json")
        return path


def binned_gini(binning: FeatureBinning) -> float:
    """The Gini of one feature's bins as a score on its training rows (riskier bin, higher
    risk; ties within a bin count half), from the bins' counts alone."""
    bads = np.array([b.count_event for b in binning.bins], dtype=np.float64)
    goods = np.array([b.count - b.count_event for b in binning.bins], dtype=np.float64)
    keep = (bads + goods) > 0
    bads, goods = bads[keep], goods[keep]
    if bads.sum() == 0 or goods.sum() == 0:
        return float("nan")
    # Bins of equal event rate are one tie group, riskiest group first.
    _, group = np.unique(-bads / (bads + goods), return_inverse=True)
    bads, goods = np.bincount(group, weights=bads), np.bincount(group, weights=goods)
    safer_goods = goods.sum() - np.cumsum(goods)  # goods in strictly safer groups
    a = float(np.sum(bads * safer_goods) + 0.5 * np.sum(bads * goods)) / (bads.sum() * goods.sum())
    return 2 * a - 1


def _gini(y: np.ndarray, risk: np.ndarray) -> float:
    return 2 * auc(y, risk) - 1


def compare_scorecards(
    before: Scorecard, after: Scorecard, data: Tabular | None = None, y: np.ndarray | None = None
) -> pd.DataFrame:
    """Before and after an analyst's change, side by side: one row per feature binned by either
    (``iv``, ``bins``, ``gini`` of the feature's bins on its training rows, ``points_min`` and
    ``points_max``, ``status`` in the selection, each ``_before`` and ``_after``, and ``changed``
    when the binning or the status differs), after a first row ``(model)`` with the number of
    features and, given ``data`` and outcomes ``y``, the scorecard's Gini on them.
    """
    b_spec, a_spec = before._check(), after._check()
    rows = []
    model_row: dict = {"feature": "(model)", "bins_before": len(b_spec.features), "bins_after": len(a_spec.features)}
    if data is not None:
        yy = binary_target(data, y, None)
        model_row["gini_before"] = _gini(yy, -before.score(data))
        model_row["gini_after"] = _gini(yy, -after.score(data))
    rows.append(model_row)
    status = {}
    for tag, card in (("before", before), ("after", after)):
        t = card.selection_table()
        status[tag] = dict(zip(t["feature"], t["status"], strict=True))
    names = list(dict.fromkeys([*before.binning_spec_.names, *after.binning_spec_.names]))
    for n in names:
        row: dict = {"feature": n}
        for tag, card in (("before", before), ("after", after)):
            if n not in card.binning_spec_.by_name:
                continue
            f = card.binning_spec_[n]
            feat = card.spec_.by_name.get(n)
            row |= {f"iv_{tag}": f.iv, f"bins_{tag}": f.n_regular, f"gini_{tag}": binned_gini(f),
                    f"points_min_{tag}": min(feat.points) if feat else np.nan,
                    f"points_max_{tag}": max(feat.points) if feat else np.nan,
                    f"status_{tag}": status[tag].get(n, "")}  # fmt: skip
        fb, fa = before.binning_spec_.by_name.get(n), after.binning_spec_.by_name.get(n)
        row["changed"] = (
            fb is None or fa is None or fb.splits != fa.splits or fb.groups != fa.groups
            or row.get("status_before") != row.get("status_after")
        )  # fmt: skip
        rows.append(row)
    cols = ["feature"] + [f"{k}_{t}" for k in ("iv", "bins", "gini", "points_min", "points_max", "status")
                          for t in ("before", "after")] + ["changed"]  # fmt: skip
    return pd.DataFrame(rows).reindex(columns=cols)


def reference_scorecard(config: Config, names: Sequence[str], data: Tabular, y: np.ndarray):
    """optbinning's own ``Scorecard`` fitted on the same features, data and settings as ours —
    the reference our scores are checked against (tests, benchmarks)."""
    from optbinning import BinningProcess
    from optbinning import Scorecard as OptbinningScorecard
    from sklearn.linear_model import LogisticRegression

    from credit_grading.binning.fit import _fit_params, training_frame
    from credit_grading.catalogue import ItemType

    cat = config.load_catalogue()
    items = [cat.item(n) for n in names]
    cfg = config.binning
    process = BinningProcess(
        list(names),
        categorical_variables=[i.id for i in items if i.type is ItemType.CATEGORICAL],
        max_n_prebins=cfg.max_n_prebins,
        max_n_bins=cfg.max_n_bins,
        min_bin_size=cfg.min_bin_size,
        binning_fit_params={i.id: _fit_params(i, cfg) for i in items},
    )
    sc = config.scorecard
    ref = OptbinningScorecard(
        process,
        LogisticRegression(C=sc.C, max_iter=sc.max_iter),
        scaling_method="pdo_odds",
        scaling_method_params={"pdo": sc.pdo, "odds": sc.odds, "scorecard_points": sc.base_score},
    )
    ref.fit(training_frame(data, items), np.asarray(y).astype(int), metric_special="empirical",
            metric_missing="empirical")  # fmt: skip
    return ref, items


__all__ = [
    "BinningSpec",
    "Scorecard",
    "ScorecardFeature",
    "ScorecardSpec",
    "SelectionResult",
    "binned_gini",
    "compare_scorecards",
    "scale_points",
]
