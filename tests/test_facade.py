"""The top-level façade: what a notebook needs, one import away, loaded only when first used."""

import subprocess
import sys

import pytest

import credit_grading

# Each name of the façade and the object it stands for.
FACADE = {
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


@pytest.mark.parametrize("name", sorted(FACADE))
def test_each_name_is_the_object_it_stands_for(name):
    import importlib

    module, attr = FACADE[name]
    assert getattr(credit_grading, name) is getattr(importlib.import_module(module), attr)
    assert name in credit_grading.__all__ and name in dir(credit_grading)


def test_from_import_works_and_unknown_names_are_attribute_errors():
    from credit_grading import RescoreOptions, train
    from credit_grading.batch.options import RescoreOptions as real
    from credit_grading.pipeline import train_pipeline

    assert RescoreOptions is real and train is train_pipeline
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        credit_grading.nope  # noqa: B018
    assert set(credit_grading.__all__) == set(FACADE) | {"CreditGradingError", "__version__"}


def test_the_explain_subpackage_stays_a_module():
    # credit_grading.explain is the subpackage (Python binds it on import); the function is explain_table.
    import credit_grading.explain

    assert credit_grading.explain.explain_table is credit_grading.explain_table


def test_importing_the_package_and_listing_it_loads_nothing_more():
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import credit_grading\n"
        "names = dir(credit_grading), credit_grading.__all__\n"
        "ours = sorted(m for m in set(sys.modules) - before if m.startswith('credit_grading'))\n"
        "heavy = {'numpy', 'pandas', 'pyarrow', 'scipy', 'numba', 'lightgbm', 'pydantic', 'yaml'}\n"
        "print(ours, sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
        "credit_grading.load_config\n"
        "print('credit_grading.config' in sys.modules, 'credit_grading.pipeline' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["['credit_grading', 'credit_grading.exceptions'] []", "True False"]
