"""The architecture's layering (docs/architecture.md §1) and light start-up, checked on the source."""

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "credit_grading"

# Lower layers first. A module may import only modules of its own or an earlier layer.
LAYERS = [
    {"exceptions", "_resources", "_yaml", "_numba_cache", "columns", "stats", "storage", "csvsafe", "progress"},
    {"runlog"},  # the hash-chained run log: exceptions and storage only
    {"catalogue"},
    {"config"},
    {"registry", "lists"},  # lists: dated list memberships, joined by key
    {"synth", "infer"},  # infer: a catalogue drafted from raw data
    {"specs"},  # fitted results as plain data
    {"engine"},  # the one scoring core, compiled from specs
    {"binning", "splits", "evaluation", "calibration", "grading", "bundle", "signing"},
    {"selection"},
    {"scorecard", "gbm"},
    {"training", "service", "estimators", "segments"},  # estimators: the scikit-learn face of training
    {"tracking", "mlflow_model", "batch", "spark", "explain", "export", "exchange"},
    {"reports"},
    {"pipeline", "objections", "demo"},
    {"cli"},
]


def _layer(module: str) -> int:
    top = module.split(".")[0]
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"module {module} is not placed in a layer; add it to LAYERS")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("credit_grading."):
            found.add(node.module.removeprefix("credit_grading."))
        elif isinstance(node, ast.Import):
            found |= {
                a.name.removeprefix("credit_grading.") for a in node.names if a.name.startswith("credit_grading.")
            }
    return found


def test_no_module_imports_a_layer_above_it():
    problems = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).with_suffix("")
        if rel.name == "__init__" and len(rel.parts) == 1:
            continue
        me = ".".join(p for p in rel.parts if p != "__init__")
        for target in _imports(path):
            if _layer(target) > _layer(me):
                problems.append(f"{me} imports {target}")
    assert problems == []


def test_start_up_imports_nothing_heavy():
    code = (
        "import sys, credit_grading, credit_grading.cli, credit_grading.registry, credit_grading.synth\n"
        "heavy = {'mlflow', 'shap', 'lightgbm', 'matplotlib', 'pyspark', 'optbinning', 'sklearn', 'jinja2', 'numba'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_help_imports_nothing_heavy():
    code = (
        "import sys\n"
        "sys.argv = ['credit-grading', '--help']\n"
        "from credit_grading.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = {'mlflow', 'shap', 'lightgbm', 'matplotlib', 'pyspark'}\n"
        "print('HEAVY', sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "Usage" in out and "HEAVY []" in out
