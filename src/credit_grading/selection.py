"""Feature selection on the binned features; everything dropped is listed with its reason.

Order of the steps: forced exclusions, information value (too low, or suspiciously high),
correlation of WoE (of two features correlated beyond the limit the one with the lower IV
goes), variance inflation (the feature with the highest VIF goes until all are within the
limit), optional stepwise search (forward or backward on AIC or validation AUC), and a cap
on the number of features (highest IV kept). Features named in ``include`` are never
dropped (and the scorecard flags, rather than drops, a forced feature with a wrong sign);
naming a feature that was not binned in ``include`` or ``exclude`` is an error.

:meth:`SelectionResult.table` is the whole decision as one table: per candidate its IV, its
strongest WoE correlation with a selected feature, its VIF among the selected ones, whether it
was selected (``selected``, ``forced in``) or dropped, and the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from credit_grading.config import SelectionConfig, StepwiseMethod
from credit_grading.exceptions import ConfigError
from credit_grading.specs.binning import BinningSpec


@dataclass(frozen=True)
class Dropped:
    feature: str
    reason: str  # excluded | low_iv | high_iv | correlated | high_vif | stepwise | max_features | wrong_sign
    detail: str


@dataclass
class SelectionResult:
    selected: list[str]
    dropped: list[Dropped] = field(default_factory=list)
    iv: dict[str, float] = field(default_factory=dict)
    forced: list[str] = field(default_factory=list)  # named in selection.include
    # Per candidate: {"correlation": max |r| with a selected feature, "correlated_with": that
    # feature, "vif": VIF among the selected features (selected ones only)}.
    stats: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"selected": self.selected, "dropped": [asdict(d) for d in self.dropped], "iv": self.iv,
                "forced": self.forced, "stats": self.stats}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> SelectionResult:
        return cls(list(d["selected"]), [Dropped(**x) for x in d["dropped"]], dict(d["iv"]),
                   list(d.get("forced", [])), dict(d.get("stats", {})))  # fmt: skip

    def table(self) -> pd.DataFrame:
        """One row per candidate feature, in candidate order: ``feature``, ``iv``,
        ``correlation`` (the largest |r| of its WoE with a selected feature's, NaN when none),
        ``correlated_with``, ``vif`` (among the selected features; NaN for dropped ones),
        ``status`` (``selected``, ``forced in`` or ``dropped``), ``reason`` and ``detail``
        (empty for selected features)."""
        dropped = {d.feature: d for d in self.dropped}
        kept = set(self.selected)
        rows = []
        for name, iv in self.iv.items():
            st = self.stats.get(name, {})
            d = dropped.get(name)
            status = "dropped" if name not in kept else "forced in" if name in self.forced else "selected"
            rows.append({
                "feature": name, "iv": float(iv),
                "correlation": st.get("correlation", np.nan), "correlated_with": st.get("correlated_with") or "",
                "vif": st.get("vif", np.nan) if name in kept else np.nan, "status": status,
                "reason": d.reason if d is not None and name not in kept else "",
                "detail": d.detail if d is not None and name not in kept else "",
            })  # fmt: skip
        columns = ["feature", "iv", "correlation", "correlated_with", "vif", "status", "reason", "detail"]
        return pd.DataFrame(rows, columns=columns)

    def describe(self, woe: np.ndarray, names: Sequence[str]) -> None:
        """Fill :attr:`stats` from the WoE matrix (columns in the order of ``names``) and the
        current selection; called again when the selection changes after fitting."""
        col = {n: i for i, n in enumerate(names)}
        kept = [n for n in self.selected if n in col]
        stats: dict[str, dict] = {}
        if kept:
            sel = woe[:, [col[n] for n in kept]]
            with np.errstate(invalid="ignore", divide="ignore"):
                centred = woe - woe.mean(axis=0)
                sc = sel - sel.mean(axis=0)
                norm = np.sqrt((centred**2).sum(axis=0))[:, None] * np.sqrt((sc**2).sum(axis=0))[None, :]
                r = np.abs(centred.T @ sc) / norm
            r = np.nan_to_num(r, nan=0.0)
            v = vif(sel)
        for name in names:
            i = col[name]
            row = r[i].copy() if kept else np.zeros(0)
            if name in kept:
                row[kept.index(name)] = -1.0  # not with itself
            entry: dict = {"correlation": float("nan"), "correlated_with": None}
            if row.size and row.max() >= 0:
                j = int(np.argmax(row))
                entry = {"correlation": float(row[j]), "correlated_with": kept[j]}
            if name in kept:
                entry["vif"] = float(v[kept.index(name)])
            stats[name] = entry
        self.stats = stats


def vif(x: np.ndarray) -> np.ndarray:
    """Variance inflation factors of the columns of ``x`` (diagonal of the inverse correlation)."""
    if x.shape[1] < 2:
        return np.ones(x.shape[1])
    corr = np.corrcoef(x, rowvar=False)
    corr = np.nan_to_num(corr, nan=0.0)
    np.fill_diagonal(corr, 1.0)
    try:
        inv = np.linalg.inv(corr)
    except np.linalg.LinAlgError:
        inv = np.linalg.pinv(corr)
    return np.maximum(np.diag(inv), 1.0)


def _logit_fit(x: np.ndarray, y: np.ndarray, c: float = 1e6):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=1000)
    model.fit(x, y)
    return model


def _criterion(xtr, ytr, xva, yva, cols: list[int], kind: str) -> float:
    """Lower is better: AIC on the training rows, or minus the validation AUC."""
    from sklearn.metrics import roc_auc_score

    if not cols:
        p = np.clip(ytr.mean(), 1e-12, 1 - 1e-12)
        if kind == "aic":
            return float(-2 * np.sum(ytr * np.log(p) + (1 - ytr) * np.log(1 - p)) + 2)
        return -0.5
    model = _logit_fit(xtr[:, cols], ytr)
    if kind == "aic":
        p = np.clip(model.predict_proba(xtr[:, cols])[:, 1], 1e-12, 1 - 1e-12)
        ll = np.sum(ytr * np.log(p) + (1 - ytr) * np.log(1 - p))
        return float(2 * (len(cols) + 1) - 2 * ll)
    return -float(roc_auc_score(yva, model.predict_proba(xva[:, cols])[:, 1]))


def _stepwise(woe, y, names, forced, cfg: SelectionConfig, rng) -> tuple[list[str], list[Dropped]]:
    n = len(y)
    order = rng.permutation(n)
    cut = int(n * 0.75)
    tr, va = order[:cut], order[cut:]
    xtr, ytr, xva, yva = woe[tr], y[tr], woe[va], y[va]
    idx = {nm: i for i, nm in enumerate(names)}
    kind = cfg.stepwise_criterion
    if cfg.stepwise == StepwiseMethod.FORWARD:
        chosen = [idx[f] for f in forced]
        best = _criterion(xtr, ytr, xva, yva, chosen, kind)
        pool = [i for i in range(len(names)) if i not in chosen]
        while pool:
            scores = [(_criterion(xtr, ytr, xva, yva, [*chosen, j], kind), j) for j in pool]
            score, j = min(scores)
            if score >= best - 1e-9:
                break
            best = score
            chosen.append(j)
            pool.remove(j)
        kept = [names[i] for i in sorted(chosen)]
        detail = f"forward selection on {kind}: adding it did not improve the criterion"
    else:
        chosen = list(range(len(names)))
        best = _criterion(xtr, ytr, xva, yva, chosen, kind)
        while len(chosen) > 1:
            candidates = [j for j in chosen if names[j] not in forced]
            if not candidates:
                break
            scores = [(_criterion(xtr, ytr, xva, yva, [c for c in chosen if c != j], kind), j) for j in candidates]
            score, j = min(scores)
            if score > best + 1e-9:
                break
            best = score
            chosen.remove(j)
        kept = [names[i] for i in sorted(chosen)]
        detail = f"backward elimination on {kind}: removing it did not worsen the criterion"
    dropped = [Dropped(nm, "stepwise", detail) for nm in names if nm not in kept]
    return kept, dropped


def select_features(
    spec: BinningSpec,
    woe: np.ndarray,
    y: np.ndarray,
    config: SelectionConfig | None = None,
    names: Sequence[str] | None = None,
) -> SelectionResult:
    """Select features given their WoE matrix (columns in the order of ``names``)."""
    cfg = config or SelectionConfig()
    names = list(names or spec.names)
    ivs = {n: spec[n].iv for n in names}
    for key in ("include", "exclude"):
        unknown = [n for n in getattr(cfg, key) if n not in ivs]
        if unknown:
            raise ConfigError(
                f"selection.{key} names feature(s) {unknown} that were not binned; the candidates are {names}"
            )
    clash = sorted(set(cfg.include) & set(cfg.exclude))
    if clash:
        raise ConfigError(f"selection.include and selection.exclude both name {clash}: force each feature in or out")
    forced = [n for n in cfg.include if n in ivs]
    dropped: list[Dropped] = []
    keep = []
    for n in names:
        if n in cfg.exclude and n not in forced:
            dropped.append(Dropped(n, "excluded", "excluded in selection.exclude"))
        elif n not in forced and ivs[n] < cfg.min_iv:
            dropped.append(Dropped(n, "low_iv", f"IV {ivs[n]:.4f} below {cfg.min_iv}"))
        elif n not in forced and cfg.max_iv is not None and ivs[n] > cfg.max_iv:
            dropped.append(Dropped(n, "high_iv", f"IV {ivs[n]:.4f} above {cfg.max_iv}: check for leakage"))
        else:
            keep.append(n)
    col = {n: i for i, n in enumerate(names)}

    # Correlation: strongest IV first; a later feature too close to a kept one goes.
    by_iv = sorted(keep, key=lambda n: (n not in forced, -ivs[n], names.index(n)))
    corr = np.corrcoef(woe[:, [col[n] for n in by_iv]], rowvar=False) if len(by_iv) > 1 else np.ones((1, 1))
    corr = np.nan_to_num(np.atleast_2d(corr), nan=0.0)
    kept_idx: list[int] = []
    for i, n in enumerate(by_iv):
        clash = [(abs(corr[i, k]), k) for k in kept_idx if abs(corr[i, k]) > cfg.max_correlation]
        if clash and n not in forced:
            r, k = max(clash)
            dropped.append(Dropped(n, "correlated", f"|r| = {r:.3f} with {by_iv[k]} (higher IV)"))
        else:
            kept_idx.append(i)
    keep = [by_iv[i] for i in kept_idx]

    # Variance inflation.
    while len(keep) > 1:
        v = vif(woe[:, [col[n] for n in keep]])
        order = sorted(range(len(keep)), key=lambda i: (keep[i] not in forced, v[i], -ivs[keep[i]]), reverse=True)
        worst = order[0]
        if v[worst] <= cfg.max_vif or keep[worst] in forced:
            break
        dropped.append(Dropped(keep[worst], "high_vif", f"VIF {v[worst]:.2f} above {cfg.max_vif}"))
        keep.pop(worst)

    if cfg.stepwise != StepwiseMethod.NONE and len(keep) > 1:
        rng = np.random.default_rng(0)
        sub = np.asarray([col[n] for n in keep])
        kept, more = _stepwise(woe[:, sub], np.asarray(y), keep, forced, cfg, rng)
        dropped.extend(more)
        keep = kept

    if cfg.max_features is not None and len(keep) > cfg.max_features:
        ranked = sorted(keep, key=lambda n: (n not in forced, -ivs[n]))
        for n in ranked[cfg.max_features :]:
            dropped.append(Dropped(n, "max_features", f"beyond the {cfg.max_features} features with the highest IV"))
        keep = ranked[: cfg.max_features]

    keep = [n for n in names if n in set(keep)]  # catalogue order
    out = SelectionResult(keep, dropped, ivs, forced)
    out.describe(woe, names)
    return out
