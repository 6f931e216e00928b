"""scikit-learn estimators: the Python way to train a scorecard or a GBM on an analyst's data.

:class:`ScorecardClassifier` (binning → selection → logistic regression → points) and
:class:`GbmClassifier` (LightGBM with monotone constraints) are scikit-learn classifiers:
hyper-parameters are constructor keywords (``None`` keeps the configuration's value), ``fit(X,
y)`` takes a DataFrame (or an array, whose columns are then called ``x0``, ``x1``, …) and any
two-valued target (0/1, ``good``/``bad``, …; ``bad_class`` names the bad one, else 1, a word
such as ``bad``, or the rarer value is). Without a ``catalogue``, one is drafted from ``X`` as
``credit-grading catalogue infer`` does (:mod:`credit_grading.infer`; the draft is kept in
``catalogue_draft_`` for review). They clone, take ``set_params``, and work in
``cross_val_score``, ``GridSearchCV`` and ``Pipeline``. Every prediction goes through the
compiled engine (:mod:`credit_grading.engine`), column by column.

``predict_proba`` gives the model's own probabilities (columns in ``classes_`` order; the bad
class's column is the PD before calibration); ``decision_function`` is the log-odds of
``classes_[1]``, as scikit-learn expects (so ``roc_auc`` scoring is right whichever class is
bad); :meth:`ScorecardClassifier.points` and :meth:`GbmClassifier.margin` give the points and
the raw margin. :meth:`~_CreditClassifier.to_bundle` writes the same bundle ``train`` writes
(calibration and grade cut-offs fitted on held-out rows, or on out-of-fold predictions), which
``rescore``, ``explain``, ``report`` and ``monitor`` use.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"debt": rng.normal(size=800), "sector": rng.choice(["a", "b", "c"], 800)})
>>> y = np.where(rng.random(800) < 1 / (1 + np.exp(1.5 - 1.2 * X["debt"])), "bad", "good")
>>> card = ScorecardClassifier().fit(X, y)
>>> card.classes_.tolist(), card.bad_class_, card.selection_table()["status"].tolist()
(['bad', 'good'], 'bad', ['selected', 'dropped'])
>>> bool(card.points(X.head(3)).shape == (3,))
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d, validate_data

from credit_grading.catalogue import Catalogue, load_catalogue
from credit_grading.config import Config, config_from_dict, load_config
from credit_grading.exceptions import ConfigError, DataError
from credit_grading.gbm import GbmModel
from credit_grading.scorecard import Scorecard, compare_scorecards

_TARGET = "_credit_grading_target"  # the target's column while a catalogue is drafted


def _sigmoid_pair(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(σ(z), σ(−z)) without overflow."""
    return np.exp(-np.logaddexp(0.0, -z)), np.exp(-np.logaddexp(0.0, z))


class _CreditClassifier(ClassifierMixin, BaseEstimator):
    """What both estimators share: input checks, the target's classes, the catalogue, the
    effective configuration, probabilities from log-odds, and bundles."""

    _kind = ""  # "scorecard" | "gbm"
    _section: ClassVar[dict[str, tuple[str, str]]] = {}  # parameter → (config section, key)

    # -- input ---------------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # a missing value has a bin (scorecard) or a branch (GBM)
        tags.classifier_tags.multi_class = False  # a credit model tells bad from good
        return tags

    def _frame(self, X, *, reset: bool) -> pd.DataFrame:
        """``X`` as a DataFrame with the column names the model knows."""
        named = isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns)
        if named and (reset or hasattr(self, "feature_names_in_")):
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[0] == 0:
                raise DataError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required.")
            if X.shape[1] == 0:
                raise DataError(f"0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
            return X
        arr = check_array(X, dtype="numeric", ensure_all_finite="allow-nan")
        # Predicting, the input as given: scikit-learn's warnings when names were, or were not, fitted.
        validate_data(self, arr if reset else X, reset=reset, skip_check_array=True)
        if not reset and hasattr(self, "feature_names_in_"):
            return pd.DataFrame(arr, columns=list(self.feature_names_in_))
        return pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])])

    def _target(self, y) -> np.ndarray:
        """``y`` as 1 (bad) / 0 (good), setting ``classes_`` and ``bad_class_``."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) > 2:
            raise DataError(
                f"Only binary classification is supported: {type(self).__name__} tells bad from good, and y holds "
                f"{len(classes)} classes ({', '.join(map(str, classes[:6]))})"
            )
        if len(classes) < 2:
            raise DataError(
                f"y holds one class only ({', '.join(map(str, classes))}): {type(self).__name__} needs bad and good rows"
            )
        self.classes_ = classes
        if self.bad_class is not None:
            hits = [c for c in classes if c == self.bad_class or str(c) == str(self.bad_class)]
            if not hits:
                raise DataError(f"bad_class {self.bad_class!r} is not a class of y; its classes are {classes.tolist()}")
            bad = hits[0]
        elif {str(c) for c in classes} <= {"0", "1", "0.0", "1.0"} or set(classes.tolist()) <= {0, 1}:
            bad = classes[1]
        else:
            from credit_grading.infer import target_events

            _, named = target_events(pd.Series(y.astype(str), name="y"))
            bad = next(c for c in classes if str(c) == named[0])
        self.bad_class_ = bad.item() if isinstance(bad, np.generic) else bad
        self._bad_index = int(np.flatnonzero(classes == bad)[0])
        return (y == bad).astype(np.int64)

    def _catalogue_for(self, frame: pd.DataFrame, y01: np.ndarray) -> Catalogue:
        if self.catalogue is None:
            from credit_grading.infer import infer_catalogue

            if _TARGET in frame.columns:
                raise DataError(f"X has a column named {_TARGET!r}, which is reserved")
            self.catalogue_draft_ = infer_catalogue(frame.assign(**{_TARGET: y01}), target=_TARGET)
            return self.catalogue_draft_.catalogue
        self.catalogue_draft_ = None
        if isinstance(self.catalogue, Catalogue):
            return self.catalogue
        return load_catalogue(self.catalogue)

    def _config_for(self, catalogue: Catalogue) -> Config:
        """The configuration the fit uses: ``config`` (default: every section's defaults) with
        the catalogue inline and each hyper-parameter that is not ``None`` set in its section."""
        base = self.config
        if isinstance(base, str | Path):
            base = load_config(base)
        if isinstance(base, Config):
            data: dict[str, Any] = base.model_dump(mode="json", exclude={"base_dir"})
        elif base is None or isinstance(base, Mapping):
            import copy

            data = copy.deepcopy(dict(base or {}))  # sections as in a YAML file; the parameter is not changed
            data.setdefault("dataset", {}).setdefault("name", "model")
            data.setdefault("model", {}).setdefault("name", data["dataset"]["name"])
            # The built-in override rules test the built-in registry's items: none apply here.
            data.setdefault("grading", {}).setdefault("overrides", [])
        else:
            raise ConfigError(
                f"config must be a Config, a mapping of sections or the path of a YAML file, not {type(base).__name__}"
            )
        ds = {k: v for k, v in data.get("dataset", {}).items() if k not in ("catalogue", "include", "features")}
        data["dataset"] = {**ds, "features": [it.model_dump(mode="json") for it in catalogue.items]}
        for param, (section, key) in self._section.items():
            value = getattr(self, param)
            if value is not None:
                data.setdefault(section, {})[key] = list(value) if isinstance(value, tuple) else value
        self._more_config(data)
        return config_from_dict(data, base_dir=base.base_dir if isinstance(base, Config) else None,
                                source=f"{type(self).__name__} parameters")  # fmt: skip

    def _more_config(self, data: dict) -> None:
        """Settings of a subclass that are not one key of one section."""

    # -- fitting and predicting ------------------------------------------------------------
    def fit(self, X, y) -> _CreditClassifier:
        """Fit on ``X`` (a DataFrame; an array's columns are called ``x0``, ``x1``, …) and ``y``."""
        frame = self._frame(X, reset=True)
        y01 = self._target(y)
        if len(y01) != len(frame):
            raise DataError(f"X has {len(frame)} rows but y has {len(y01)}")
        self.catalogue_ = self._catalogue_for(frame, y01)
        self.config_ = self._config_for(self.catalogue_)
        missing = [n for n in self.catalogue_.feature_names if n not in frame.columns]
        if missing:
            raise DataError(f"X lacks the catalogue's feature column(s) {missing}")
        self._fit(frame, y01)
        from credit_grading.bundle import data_fingerprint

        self.training_data_ = data_fingerprint(frame, target=None, as_of=None) | {
            "bad_rate": float(y01.mean()),
            "bad_class": str(self.bad_class_),
        }
        self.model_spec_ = None
        return self

    def _fit(self, frame: pd.DataFrame, y01: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _log_odds(self, frame: pd.DataFrame) -> np.ndarray:  # pragma: no cover - abstract
        """The model's log-odds of the bad class."""
        raise NotImplementedError

    def _native(self, frame: pd.DataFrame) -> np.ndarray:  # pragma: no cover - abstract
        """What the calibration maps to a PD: points (scorecard) or margin (GBM)."""
        raise NotImplementedError

    def decision_function(self, X) -> np.ndarray:
        """Log-odds of ``classes_[1]`` (positive: ``predict`` says ``classes_[1]``)."""
        check_is_fitted(self, "spec_")
        z = self._log_odds(self._frame(X, reset=False))
        return z if self._bad_index == 1 else -z

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities of ``classes_`` (the bad class's column is the model's PD)."""
        check_is_fitted(self, "spec_")
        p_bad, p_good = _sigmoid_pair(self._log_odds(self._frame(X, reset=False)))
        out = np.empty((len(p_bad), 2))
        out[:, self._bad_index] = p_bad
        out[:, 1 - self._bad_index] = p_good
        return out

    def predict(self, X) -> np.ndarray:
        """The more likely class of every row."""
        positive = self.decision_function(X) > 0
        return self.classes_[positive.astype(np.int64)]

    # -- specs, grades and bundles -----------------------------------------------------------
    def _part(self, X, y, cv: int | None):
        """(calibration input values, outcomes) on held-out rows, or out-of-fold on ``X``."""
        frame = self._frame(X, reset=False)
        y = column_or_1d(y)
        y01 = (y == self.bad_class_).astype(np.int64)
        if cv is None:
            return self._native(frame), y01
        from sklearn.base import clone
        from sklearn.model_selection import StratifiedKFold

        out = np.empty(len(y01))
        seed = self.config_.split.seed
        for tr, te in StratifiedKFold(int(cv), shuffle=True, random_state=seed).split(frame, y01):
            part = clone(self).fit(frame.iloc[tr], y[tr])
            out[te] = part._native(frame.iloc[te])
        return out, y01

    def model_spec(self, X, y, *, cv: int | None = None, challenger: _CreditClassifier | None = None):
        """The :class:`~credit_grading.specs.model.ModelSpec` ``train`` would make: this model as
        champion (``challenger``, another fitted estimator, beside it), calibrated to a PD and with
        the configuration's grade cut-offs, both fitted on ``X, y``: rows the models were not
        trained on (``cv=None``), or the training rows themselves with ``cv`` folds of
        out-of-fold predictions (each fold refitted), never in-sample scores. Kept as
        ``model_spec_`` (used by :meth:`grade`)."""
        from dataclasses import replace

        from credit_grading.calibration import fit_calibration
        from credit_grading.engine.model import CompiledModel
        from credit_grading.grading.fit import fit_scale
        from credit_grading.specs.model import ModelSpec

        check_is_fitted(self, "spec_")
        cfg = self.config_
        specs, calib = {"scorecard": None, "gbm": None}, {}
        for est in (self, challenger) if challenger is not None else (self,):
            check_is_fitted(est, "spec_")
            if est._kind in calib:
                raise ConfigError("the champion and the challenger are the same kind of model")
            values, y01 = est._part(X, y, cv)
            calib[est._kind] = fit_calibration(
                values, y01, method=str(cfg.calibration.method), input="score" if est._kind == "scorecard" else "margin",
                direction=-1.0 if est._kind == "scorecard" else 1.0, min_pd=cfg.calibration.min_pd,
            )  # fmt: skip
            specs[est._kind] = est.spec_
            if est is self:
                champion_values = values
        name = cfg.model.name or cfg.dataset.name
        model = ModelSpec(specs["scorecard"], specs["gbm"], calib, champion=self._kind, name=name)
        pd_values = calib[self._kind].apply(champion_values)
        scale = fit_scale(pd_values, y01, cfg.grading)
        model = replace(model, scale=scale, overrides=cfg.grading.overrides,
                        hysteresis_margin=cfg.grading.hysteresis_margin)  # fmt: skip
        CompiledModel(model)  # compiles: a spec the engine cannot score is refused here
        self.model_spec_ = model
        return model

    def grade(self, X, *, scale=None) -> pd.DataFrame:
        """The calibrated PD, grade and tier of every row (the model's grades: override rules
        apply when graded from the bundle); needs :meth:`model_spec` or :meth:`to_bundle` first.
        ``scale`` (a :class:`~credit_grading.specs.grading.GradeScaleSpec`, e.g. another model's
        ``model_spec_.scale``) grades on that master scale instead of this model's own, so that
        two models' grades compare on the same cut-offs."""
        from credit_grading.engine.model import CompiledModel

        model = getattr(self, "model_spec_", None)
        if model is None:
            raise DataError("no grade scale yet: call model_spec(X_valid, y_valid) or to_bundle(...) first")
        res = CompiledModel(model).score(self._frame(X, reset=False))
        scale = scale if scale is not None else model.scale
        idx = scale.grade_index(res.pd)
        names, tiers = np.asarray(scale.grades, dtype=object), np.asarray(scale.tiers, dtype=object)
        return pd.DataFrame({"pd": res.pd, "grade": names[idx], "tier": tiers[idx]})

    def to_bundle(
        self,
        path: Path | str,
        X,
        y,
        *,
        cv: int | None = None,
        challenger: _CreditClassifier | None = None,
        overwrite: bool = False,
        policy=None,
    ):
        """Write the bundle ``train`` writes (specs, catalogue, config, points and binning tables)
        for :meth:`model_spec` ``(X, y, cv=cv, challenger=challenger)``; returns the loaded
        :class:`~credit_grading.bundle.Bundle`, which ``rescore``, ``explain``, ``report`` and
        ``monitor`` take."""
        from credit_grading.bundle import write_bundle
        from credit_grading.config.policy import load_policy
        from credit_grading.csvsafe import to_csv_text

        model = self.model_spec(X, y, cv=cv, challenger=challenger)
        reports = {}
        card = self if self._kind == "scorecard" else challenger
        if card is not None:
            reports["points.csv"] = to_csv_text(card.scorecard_.points_table())
            reports["binning_tables.csv"] = to_csv_text(card.binning_table())
            reports["selection.csv"] = to_csv_text(card.selection_table())
        bundle = write_bundle(path, model, policy=policy or load_policy(), catalogue=self.catalogue_,
                              config=self.config_.model_dump(mode="json"), training_data=self.training_data_,
                              reports=reports, overwrite=overwrite)  # fmt: skip
        self.model_spec_ = bundle.model
        return bundle

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for k in ("scorecard_", "gbm_"):  # the compiled engine is rebuilt from the spec on first use
            if k in state:
                state[k] = _without_compiled(state[k])
        return state


def _without_compiled(model):
    import copy

    out = copy.copy(model)
    out._compiled = None
    return out


class ScorecardClassifier(_CreditClassifier):
    """A points scorecard as a scikit-learn classifier: optimal binning of every catalogue
    feature, selection (IV, correlation, VIF), a logistic regression on WoE, scaled to points.

    Parameters
    ----------
    config : Config, mapping or path, optional
        The configuration whose ``binning``, ``selection``, ``scorecard``, ``calibration`` and
        ``grading`` sections set the method: a :class:`~credit_grading.config.Config`, a YAML
        file, or a mapping of sections as in one (``{"grading": {"grades": [...]}}``; default:
        each section's defaults, no override rules). Its dataset's column roles go into the
        bundle; its features are replaced by the catalogue.
    catalogue : Catalogue or path, optional
        The features (default: drafted from ``X``, kept in ``catalogue_draft_``).
    bad_class : optional
        The value of ``y`` that is the bad outcome (default: 1, else a word such as ``bad``,
        else the rarer value).
    binning : dict, optional
        The analyst's hand per feature: ``{"duration": {"splits": [12, 24]}, "purpose":
        {"groups": [["car", "radio/tv"]]}, "age": {"monotonic_trend": "descending"}}`` — any key
        of ``binning.features.<id>`` (merged over the config's).
    include, exclude : sequence of str, optional
        Features forced into, or out of, the selection.
    min_iv, max_correlation, max_vif, max_features, max_n_bins, min_bin_size, pdo, odds, base_score, C
        The configuration keys of those names; ``None`` keeps the configuration's value.

    Attributes
    ----------
    classes_, bad_class_ : the two classes and the bad one.
    scorecard_ : the fitted :class:`~credit_grading.scorecard.Scorecard`.
    spec_, binning_spec_, selection_ : its scorecard spec, binning of every candidate, selection.
    catalogue_, catalogue_draft_, config_ : the catalogue and configuration used (and the draft).
    n_features_in_, feature_names_in_ : scikit-learn's.
    """

    _kind = "scorecard"
    _section: ClassVar[dict[str, tuple[str, str]]] = {
        "min_iv": ("selection", "min_iv"),
        "max_correlation": ("selection", "max_correlation"),
        "max_vif": ("selection", "max_vif"),
        "max_features": ("selection", "max_features"),
        "include": ("selection", "include"),
        "exclude": ("selection", "exclude"),
        "max_n_bins": ("binning", "max_n_bins"),
        "min_bin_size": ("binning", "min_bin_size"),
        "pdo": ("scorecard", "pdo"),
        "odds": ("scorecard", "odds"),
        "base_score": ("scorecard", "base_score"),
        "C": ("scorecard", "C"),
    }

    def __init__(
        self,
        config: Config | str | Path | None = None,
        catalogue: Catalogue | str | Path | None = None,
        *,
        bad_class: Any = None,
        binning: Mapping[str, Mapping[str, Any]] | None = None,
        include: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
        min_iv: float | None = None,
        max_correlation: float | None = None,
        max_vif: float | None = None,
        max_features: int | None = None,
        max_n_bins: int | None = None,
        min_bin_size: float | None = None,
        pdo: float | None = None,
        odds: float | None = None,
        base_score: float | None = None,
        C: float | None = None,
    ) -> None:
        self.config = config
        self.catalogue = catalogue
        self.bad_class = bad_class
        self.binning = binning
        self.include = include
        self.exclude = exclude
        self.min_iv = min_iv
        self.max_correlation = max_correlation
        self.max_vif = max_vif
        self.max_features = max_features
        self.max_n_bins = max_n_bins
        self.min_bin_size = min_bin_size
        self.pdo = pdo
        self.odds = odds
        self.base_score = base_score
        self.C = C

    def _more_config(self, data: dict) -> None:
        if self.binning:
            features = dict(data.setdefault("binning", {}).get("features", {}))
            for name, settings in self.binning.items():
                features[name] = {**features.get(name, {}), **dict(settings)}
            data["binning"]["features"] = features
        for key in ("include", "exclude"):
            value = getattr(self, key)
            if value is not None and isinstance(value, str):
                raise ConfigError(f"{key} is a list of feature names, not the string {value!r}")

    def _fit(self, frame: pd.DataFrame, y01: np.ndarray) -> None:
        unknown = sorted(set(self.binning or {}) - set(self.catalogue_.feature_names))
        if unknown:
            raise ConfigError(
                f"binning names feature(s) {unknown} that are not features of the catalogue; "
                f"the features are {list(self.catalogue_.feature_names)}"
            )
        self.scorecard_ = Scorecard(self.config_).fit(frame, y01)
        self.spec_ = self.scorecard_.spec_
        self.binning_spec_ = self.scorecard_.binning_spec_
        self.selection_ = self.scorecard_.selection_

    def points(self, X) -> np.ndarray:
        """The scorecard points of every row (more points, less risk)."""
        check_is_fitted(self, "spec_")
        return self.scorecard_.score(self._frame(X, reset=False))

    def _native(self, frame: pd.DataFrame) -> np.ndarray:
        return self.scorecard_.score(frame)

    def _log_odds(self, frame: pd.DataFrame) -> np.ndarray:
        return -(self._native(frame) - self.spec_.offset) / self.spec_.factor

    def binning_table(self, name: str | None = None) -> pd.DataFrame:
        """The bins of ``name`` (default: every binned feature) with their points."""
        check_is_fitted(self, "spec_")
        return self.scorecard_.binning_table(name)

    def selection_table(self) -> pd.DataFrame:
        """Every candidate feature: IV, correlation, VIF, status and drop reason."""
        check_is_fitted(self, "spec_")
        return self.scorecard_.selection_table()

    def points_table(self) -> pd.DataFrame:
        check_is_fitted(self, "spec_")
        return self.scorecard_.points_table()


class GbmClassifier(_CreditClassifier):
    """The LightGBM model as a scikit-learn classifier: monotone constraints from the
    catalogue's risk directions, categorical features as LightGBM categoricals, early stopping on
    a seeded 20% of the training rows.

    Parameters
    ----------
    config, catalogue, bad_class
        As for :class:`ScorecardClassifier`.
    n_estimators, learning_rate, num_leaves, max_depth, min_data_in_leaf, feature_fraction, bagging_fraction, lambda_l2, early_stopping_rounds, monotone
        The ``gbm`` configuration keys of those names; ``None`` keeps the configuration's value.
    random_state : int, optional
        ``gbm.seed``.
    n_jobs : int, optional
        LightGBM's threads (``gbm.num_threads``; 0: one per core). One thread is fastest on a few
        thousand rows, and right inside a parallel cross-validation.

    Attributes
    ----------
    classes_, bad_class_, catalogue_, catalogue_draft_, config_, n_features_in_, feature_names_in_
        As for :class:`ScorecardClassifier`.
    gbm_ : the fitted :class:`~credit_grading.gbm.GbmModel`; ``spec_`` its spec.
    """

    _kind = "gbm"
    _section: ClassVar[dict[str, tuple[str, str]]] = {
        k: ("gbm", k)
        for k in ("n_estimators", "learning_rate", "num_leaves", "max_depth", "min_data_in_leaf", "feature_fraction",
                  "bagging_fraction", "lambda_l2", "early_stopping_rounds", "monotone")
    } | {"random_state": ("gbm", "seed"), "n_jobs": ("gbm", "num_threads")}  # fmt: skip

    def __init__(
        self,
        config: Config | str | Path | None = None,
        catalogue: Catalogue | str | Path | None = None,
        *,
        bad_class: Any = None,
        n_estimators: int | None = None,
        learning_rate: float | None = None,
        num_leaves: int | None = None,
        max_depth: int | None = None,
        min_data_in_leaf: int | None = None,
        feature_fraction: float | None = None,
        bagging_fraction: float | None = None,
        lambda_l2: float | None = None,
        early_stopping_rounds: int | None = None,
        monotone: bool | None = None,
        random_state: int | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.config = config
        self.catalogue = catalogue
        self.bad_class = bad_class
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_data_in_leaf = min_data_in_leaf
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.lambda_l2 = lambda_l2
        self.early_stopping_rounds = early_stopping_rounds
        self.monotone = monotone
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _fit(self, frame: pd.DataFrame, y01: np.ndarray) -> None:
        self.gbm_ = GbmModel(self.config_).fit(frame, None, y=y01)
        self.spec_ = self.gbm_.spec_

    def margin(self, X) -> np.ndarray:
        """The raw margin (log-odds of the bad class) of every row."""
        check_is_fitted(self, "spec_")
        return self.gbm_.margin(self._frame(X, reset=False))

    def _native(self, frame: pd.DataFrame) -> np.ndarray:
        return self.gbm_.margin(frame)

    def _log_odds(self, frame: pd.DataFrame) -> np.ndarray:
        return self._native(frame)


def compare_binning(before: ScorecardClassifier, after: ScorecardClassifier, X=None, y=None) -> pd.DataFrame:
    """Two fitted scorecards side by side (IV, bins, Gini, points and selection status per
    feature, and the model's Gini on ``X, y`` when given): see
    :func:`credit_grading.scorecard.compare_scorecards`."""
    check_is_fitted(before, "spec_")
    check_is_fitted(after, "spec_")
    if X is None:
        return compare_scorecards(before.scorecard_, after.scorecard_)
    frame = after._frame(X, reset=False)
    y01 = (column_or_1d(y) == after.bad_class_).astype(np.float64)
    return compare_scorecards(before.scorecard_, after.scorecard_, frame, y01)


def migration_table(before, after, *, order: Sequence[str] | None = None) -> pd.DataFrame:
    """Counts of entities by grade (or tier) before (rows) and after (columns), best first:
    ``before`` and ``after`` are the grades of the same entities in the same order (arrays or
    Series). ``order`` gives the grades' order (default: sorted)."""
    b, a = pd.Series(np.asarray(before, dtype=object)), pd.Series(np.asarray(after, dtype=object))
    if len(b) != len(a):
        raise DataError(f"before has {len(b)} grades but after has {len(a)}: give the same entities in the same order")
    levels = list(order) if order is not None else sorted(set(b.dropna()) | set(a.dropna()), key=str)
    table = pd.crosstab(pd.Categorical(b, categories=levels), pd.Categorical(a, categories=levels), dropna=False)
    table.index.name, table.columns.name = "before", "after"
    return table


__all__ = ["GbmClassifier", "ScorecardClassifier", "compare_binning", "migration_table"]
