"""What a training run records as values: its params, its metrics (key ones first) and the selection table."""

from __future__ import annotations

import json

import pandas as pd

from credit_grading.bundle import Bundle


def flatten_params(d: dict, prefix: str = "") -> dict[str, str]:
    """A nested config as ``a.b.c → value`` strings (lists as JSON, at most 500 characters)."""
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten_params(v, f"{key}."))
        else:
            text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
            out[key] = text if len(text) <= 500 else text[:497] + "..."
    return out


def training_metrics(evaluation: dict, iv: dict[str, float], selected: list[str] | None = None) -> dict[str, float]:
    """Metrics of a training run, the key ones first in name order: ``oot.*`` (the out-of-time
    test rows: champion, each model, the oracle on synthetic data), ``scale.*`` (grade tables),
    ``selection.*`` (IV per feature), then ``train.*`` and ``valid.*``."""
    out: dict[str, float] = {}
    keys = ("auc", "gini", "ks", "brier", "log_loss", "gini_vs_oracle")
    for split, prefix in (("test", "oot"), ("train", "train"), ("valid", "valid")):
        for model, m in evaluation.get(split, {}).items():
            for k in keys:
                if isinstance(m.get(k), int | float) and m[k] == m[k]:
                    out[f"{prefix}.{model}.{k}"] = float(m[k])
    champion = evaluation.get("champion")
    lead = {f"oot.champion.{k}": out[f"oot.{champion}.{k}"] for k in keys if f"oot.{champion}.{k}" in out}
    out = lead | out  # logged first too: the run page lists metrics in logging order
    for name, value in iv.items():
        out[f"selection.iv.{name}"] = float(value)
    if selected is not None:
        out["selection.n_selected"] = float(len(selected))
    grades = evaluation.get("grades", {})
    for part, label in (("development", "development"), ("test", "oot")):
        for row in grades.get(part, []):
            for k in ("count", "share", "bad_rate", "mean_pd", "jeffreys_p"):
                v = row.get(k)
                if isinstance(v, int | float) and v == v:
                    out[f"scale.{label}.{row['grade']}.{k}"] = float(v)
        hhi = grades.get(f"{part}_hhi")
        if isinstance(hhi, int | float):
            out[f"scale.{label}.hhi"] = float(hhi)
    return out


def run_params(bundle: Bundle, evaluation: dict, selected: list[str] | None = None) -> dict[str, str]:
    """Params of a training run: the config sections that apply and what training chose."""
    config = json.loads(json.dumps(bundle.config, default=str))
    synthetic = "oracle" in evaluation.get("test", {})
    if not synthetic:
        config.pop("synth", None)  # the generator's settings say nothing about real data
    grading = config.get("grading", {})
    grading.pop("overrides", None)  # in overrides.json
    scale = bundle.model.scale
    if scale is not None and scale.method != "fixed":
        grading.pop("grades", None)  # the configured starting points, not the cut-offs the model uses
    params = {k: v for k, v in flatten_params(config).items() if len(v) <= 500}
    params["champion"] = str(evaluation.get("champion"))
    params["data.synthetic"] = str(synthetic).lower()
    if scale is not None:
        params["grades.method"] = scale.method
        params["grades.names"] = ",".join(scale.grades)
        for name, tier, cut in zip(scale.grades, scale.tiers, (*scale.cutoffs, None), strict=True):
            params[f"grades.cutoff.{name}"] = "none (last grade)" if cut is None else repr(float(cut))
            params[f"grades.tier.{name}"] = tier
    if selected is not None:
        text = ",".join(selected)
        params["selection.selected"] = text if len(text) <= 500 else f"{len(selected)} features: see selection.csv"
    return params


def selection_table(iv: dict[str, float], selection) -> pd.DataFrame:
    """Every binned feature: IV, whether the scorecard kept it, and why not."""
    dropped = {d.feature: d for d in getattr(selection, "dropped", [])}
    kept = set(getattr(selection, "selected", []))
    rows = [{"feature": f, "iv": float(v), "selected": f in kept,
             "reason": dropped[f].reason if f in dropped else "", "detail": dropped[f].detail if f in dropped else ""}
            for f, v in iv.items()]  # fmt: skip
    return pd.DataFrame(rows, columns=["feature", "iv", "selected", "reason", "detail"]).sort_values(
        "iv", ascending=False, kind="mergesort"
    )
