"""PMML export (placeholder until written)."""

from __future__ import annotations


def pmml_text(bundle, **kwargs) -> str:  # pragma: no cover - replaced below
    raise NotImplementedError


def export_pmml(bundle, out, **kwargs):  # pragma: no cover - replaced below
    raise NotImplementedError
