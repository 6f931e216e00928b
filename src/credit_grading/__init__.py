"""credit_grading: credit scoring and credit-classification supervision of enterprises.

What a notebook needs is one import away; each name is loaded on first use, so
``import credit_grading`` itself stays light (no numpy, pandas or numba)::

    import credit_grading as cg

    config = cg.load_config()                        # or cg.load_config("my.yaml"): a cg.Config
    reg = cg.generate_registry(50_000, seed=1)       # a synthetic registry (reg.table: Arrow)
    checked = cg.validate_table(reg.table, cg.RegistrySchema.from_config(config))
    card = cg.ScorecardClassifier().fit(X, y)        # scikit-learn estimators on an analyst's DataFrame
    card.to_bundle("bundle/", X_valid, y_valid, challenger=cg.GbmClassifier().fit(X, y))
    cg.train(config, "registry.parquet", "bundle/")  # or: from a registry file, as the CLI trains
    bundle = cg.load_bundle("bundle/")
    cg.rescore(bundle, "registry.parquet", "graded.parquet", cg.RescoreOptions(reasons=3))
    docs = cg.decision_documents(cg.explain_table(bundle, reg.table, tier="C"))

``ScorecardClassifier`` and ``GbmClassifier`` (:mod:`credit_grading.estimators`) are the way to
train in Python: scikit-learn classifiers on a DataFrame (catalogue drafted from it unless given),
with cross-validation, grid search and pipelines, the analyst's own bins (``binning=``), tables
for review (``binning_table``, ``selection_table``) and ``to_bundle`` writing the bundle every
command reads. ``train`` is :func:`credit_grading.pipeline.train_pipeline`, what
``credit-grading train`` runs: from a registry file to a written (and, with ``track=True``,
tracked) bundle.
``explain_table`` grades a table and explains the entities asked for;
``decision_documents`` turns that into one decision document per entity
(:func:`credit_grading.explain.write_reports` writes them as JSON and HTML).
``credit_grading.explain`` itself is the subpackage.

>>> import credit_grading as cg
>>> reg = cg.generate_registry(300, seed=1)
>>> checked = cg.validate_table(reg.table, cg.RegistrySchema.from_config(cg.load_config()))
>>> checked.rows_read == checked.rows_valid + checked.rows_rejected == 300
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from credit_grading.exceptions import CreditGradingError

__version__ = "0.1.0"

# name → (module, attribute): imported when the name is first used (PEP 562).
_LAZY = {
    "Config": ("credit_grading.config", "Config"),
    "load_config": ("credit_grading.config", "load_config"),
    "generate_registry": ("credit_grading.synth", "generate_registry"),
    "RegistrySchema": ("credit_grading.registry", "RegistrySchema"),
    "load_registry": ("credit_grading.registry", "load_registry"),
    "validate_table": ("credit_grading.registry", "validate_table"),
    "train": ("credit_grading.pipeline", "train_pipeline"),
    "ScorecardClassifier": ("credit_grading.estimators", "ScorecardClassifier"),
    "GbmClassifier": ("credit_grading.estimators", "GbmClassifier"),
    "load_bundle": ("credit_grading.bundle", "load_bundle"),
    "rescore": ("credit_grading.batch", "rescore"),
    "RescoreOptions": ("credit_grading.batch", "RescoreOptions"),
    "explain_table": ("credit_grading.explain", "explain_table"),
    "decision_documents": ("credit_grading.explain", "decision_documents"),
}

__all__ = [
    "Config",
    "CreditGradingError",
    "GbmClassifier",
    "RegistrySchema",
    "RescoreOptions",
    "ScorecardClassifier",
    "__version__",
    "decision_documents",
    "explain_table",
    "generate_registry",
    "load_bundle",
    "load_config",
    "load_registry",
    "rescore",
    "train",
    "validate_table",
]

if TYPE_CHECKING:  # for type checkers and editors; at run time the names are loaded lazily
    from credit_grading.batch import RescoreOptions, rescore
    from credit_grading.bundle import load_bundle
    from credit_grading.config import Config, load_config
    from credit_grading.estimators import GbmClassifier, ScorecardClassifier
    from credit_grading.explain import decision_documents, explain_table
    from credit_grading.pipeline import train_pipeline as train
    from credit_grading.registry import RegistrySchema, load_registry, validate_table
    from credit_grading.synth import generate_registry


def __getattr__(name: str) -> object:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'credit_grading' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
