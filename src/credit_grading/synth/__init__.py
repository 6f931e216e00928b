"""Synthetic enterprise registries with a documented ground-truth risk process.

See :func:`generate_registry`; the risk process is described in
:mod:`credit_grading.synth.risk`, the records in :mod:`credit_grading.synth.records`.
"""

from credit_grading.synth.generate import SyntheticRegistry, generate_inspectors, generate_registry, write_registry

__all__ = ["SyntheticRegistry", "generate_inspectors", "generate_registry", "write_registry"]
