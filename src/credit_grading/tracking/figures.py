"""The figures a training run logs: ROC, calibration, grade distribution and IV (when matplotlib is installed)."""

from __future__ import annotations

import json

from credit_grading.bundle import Bundle


def _log_figures(mlflow, bundle: Bundle, evaluation: dict, iv: dict[str, float], selected) -> None:
    """ROC, calibration, grade distribution and IV charts (skipped without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        mlflow.set_tag("figures", "not drawn: matplotlib is not installed")
        return
    report_path = bundle.path / "validation_report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    champion = str(evaluation.get("champion"))

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for model, d in report.get("discrimination", {}).items():
        roc = d.get("roc") or {}
        if roc.get("fpr"):
            ax.plot(roc["fpr"], roc["tpr"], label=f"{model} (AUC {d['auc']:.3f})")
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="chance")
    ax.set(xlabel="false positive rate (goods flagged)", ylabel="true positive rate (bads caught)",
           title="ROC, out-of-time test rows")  # fmt: skip
    ax.legend(loc="lower right")
    mlflow.log_figure(fig, "figures/roc.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for model, m in evaluation.get("test", {}).items():
        dec = m.get("deciles") or []
        if dec:
            ax.plot([r["mean_pd"] for r in dec], [r["observed_rate"] for r in dec], "o-", label=f"{model} (deciles)")
    top = max(
        [0.01, *(r["observed_rate"] for m in evaluation.get("test", {}).values() for r in m.get("deciles") or [])]
    )
    ax.plot([0, top], [0, top], ls=":", color="grey", label="perfect calibration")
    ax.set(xlabel="mean predicted 12-month PD", ylabel="observed bad rate", title="Calibration, out-of-time test rows")
    ax.legend(loc="upper left")
    mlflow.log_figure(fig, "figures/calibration.png")
    plt.close(fig)

    grades = evaluation.get("grades", {})
    dev, oot = grades.get("development", []), grades.get("test", [])
    if dev:
        import numpy as np

        names = [r["grade"] for r in dev]
        x = np.arange(len(names))
        fig, ax = plt.subplots(figsize=(7, 4.5))
        ax.bar(x - 0.2, [100 * r["share"] for r in dev], 0.4, label="development")
        ax.bar(x + 0.2, [100 * r.get("share", 0) for r in oot] if len(oot) == len(dev) else 0, 0.4, label="out-of-time")
        ax.set_xticks(x, names)
        ax.set(xlabel="grade", ylabel="share of entities (%)", title=f"Grade distribution ({champion} champion)")
        ax.legend()
        mlflow.log_figure(fig, "figures/grade_distribution.png")
        plt.close(fig)

    if iv:
        order = sorted(iv, key=lambda f: iv[f])
        kept = set(selected or [])
        fig, ax = plt.subplots(figsize=(7, max(3.0, 0.25 * len(order) + 1)))
        ax.barh(order, [iv[f] for f in order], color=["tab:blue" if f in kept else "tab:grey" for f in order])
        ax.set(xlabel="information value (IV)", title="IV per feature (blue: in the scorecard, grey: dropped)")
        mlflow.log_figure(fig, "figures/iv.png")
        plt.close(fig)
