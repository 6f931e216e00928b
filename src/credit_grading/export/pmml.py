"""The scorecard as a PMML 4.4 ``Scorecard``, with its calibration and grades where PMML can say them.

One ``Characteristic`` per feature, its ``Attribute``\\s in the engine's order of precedence, each
with the points of its bin (``partialScore``): missing (``isMissing``), then the special codes
(``isIn``), then the regular bins as ``x < upper`` in increasing order (a value reaching a split
goes up, ±inf to the outer bins), the last bin ``True``; a categorical feature lists its level
groups (``isIn``) and ends with the points of a level never seen in training (``True``). The first
attribute that holds scores the row, as PMML defines it. Reason codes are the feature names, with
the feature's best points seen in training as ``baselineScore`` and ``pointsBelow``: the engine's
adverse-action reasons.

The ``Output`` adds ``pd_scorecard`` (Platt as an ``Apply`` of ``exp``; isotonic as the
``NormContinuous`` of its knots, constant beyond them; both clipped to ``[min_pd, 1 − min_pd]``)
and, when the scorecard is the champion, ``model_grade`` and ``model_tier`` (``Discretize`` on the
master scale's ``(lower, upper]`` bands). What PMML cannot hold is left out and said in the
header: the GBM (it can, as a ``MiningModel``, but not with the engine's TreeSHAP reasons), the
override rules, hysteresis and manual overrides; an item derived from a date (the firm's age) is
read as the number the registry's validation derives.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from credit_grading import __version__
from credit_grading.bundle import Bundle
from credit_grading.exceptions import BundleError
from credit_grading.export._common import identity_lines, refuse_segments, write_output
from credit_grading.grading.result_schema import TIER_CODES, tier_of_grade
from credit_grading.specs.binning import MISSING, SPECIAL, UNSEEN

NS = "http://www.dmg.org/PMML-4_4"


def _num(v: float) -> str:
    return repr(float(v))


def _el(parent: ET.Element, tag: str, **attrs) -> ET.Element:
    return ET.SubElement(parent, tag, {k.rstrip("_"): str(v) for k, v in attrs.items() if v is not None})


def _string_array(parent: ET.Element, values) -> None:
    quoted = " ".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    arr = _el(parent, "Array", type="string", n=len(values))
    arr.text = quoted


def _characteristic(parent: ET.Element, feature) -> None:
    b = feature.binning
    lut = feature.slot_points()
    r = b.n_regular
    ch = _el(parent, "Characteristic", name=f"{feature.name}_points", reasonCode=feature.name,
             baselineScore=_num(feature.max_points))  # fmt: skip

    def attribute(points: float) -> ET.Element:
        return _el(ch, "Attribute", partialScore=_num(points))

    _el(attribute(lut[r + MISSING]), "SimplePredicate", field=feature.name, operator="isMissing")
    if b.kind == "categorical":
        for i, group in enumerate(b.groups):
            if group:
                pred = _el(attribute(lut[i]), "SimpleSetPredicate", field=feature.name, booleanOperator="isIn")
                _string_array(pred, list(group))
        _el(attribute(lut[r + UNSEEN]), "True")
        return
    if b.special_codes:
        pred = _el(attribute(lut[r + SPECIAL]), "SimpleSetPredicate", field=feature.name, booleanOperator="isIn")
        arr = _el(pred, "Array", type="real", n=len(b.special_codes))
        arr.text = " ".join(_num(c) for c in b.special_codes)
    for i, s in enumerate(b.splits):
        _el(attribute(lut[i]), "SimplePredicate", field=feature.name, operator="lessThan", value=_num(s))
    _el(attribute(lut[len(b.splits)]), "True")


def _apply(parent: ET.Element, function: str) -> ET.Element:
    return _el(parent, "Apply", function=function)


def _constant(parent: ET.Element, v: float) -> None:
    c = _el(parent, "Constant", dataType="double")
    c.text = _num(v)


def _calibration(output: ET.Element, cal) -> None:
    """``pd_scorecard`` from ``score``: the calibration, then the clip to [min_pd, 1 − min_pd]."""
    _el(output, "OutputField", name="x_scorecard", optype="continuous", dataType="double", feature="transformedValue")
    x = output[-1]
    times = _apply(x, "*")
    _constant(times, cal.direction)
    _el(times, "FieldRef", field="score")
    raw = _el(output, "OutputField", name="pd_scorecard_raw", optype="continuous", dataType="double",
              feature="transformedValue")  # fmt: skip
    if cal.method == "platt":
        div = _apply(raw, "/")
        _constant(div, 1.0)
        plus = _apply(div, "+")
        _constant(plus, 1.0)
        exp = _apply(plus, "exp")
        neg = _apply(exp, "*")
        _constant(neg, -1.0)
        lin = _apply(neg, "+")
        ax = _apply(lin, "*")
        _constant(ax, cal.a)
        _el(ax, "FieldRef", field="x_scorecard")
        _constant(lin, cal.b)
    elif cal.method == "isotonic":
        norm = _el(raw, "NormContinuous", field="x_scorecard", outliers="asExtremeValues")
        last = None
        for kx, ky in zip(cal.knots_x, cal.knots_y, strict=True):
            if last is not None and kx <= last:
                continue  # PMML needs increasing knots; np.interp never reaches a repeated one's left value
            _el(norm, "LinearNorm", orig=_num(kx), norm=_num(ky))
            last = kx
        if len(norm) < 2:
            raise BundleError("the isotonic calibration has fewer than two distinct knots; PMML cannot hold it")
    else:
        raise BundleError(f"calibration method {cal.method!r} cannot be exported to PMML")
    pd_ = _el(output, "OutputField", name="pd_scorecard", optype="continuous", dataType="double",
              feature="transformedValue")  # fmt: skip
    hi = _apply(pd_, "min")
    _constant(hi, 1.0 - cal.min_pd)
    lo = _apply(hi, "max")
    _constant(lo, cal.min_pd)
    _el(lo, "FieldRef", field="pd_scorecard_raw")


def _grades(output: ET.Element, scale) -> None:
    tiers = [TIER_CODES[t] for t in tier_of_grade(scale.tiers)]
    for name, labels in (("model_grade", list(scale.grades)), ("model_tier", tiers[: scale.n_grades])):
        field = _el(output, "OutputField", name=name, optype="categorical", dataType="string",
                    feature="transformedValue")  # fmt: skip
        disc = _el(field, "Discretize", field="pd_scorecard", dataType="string")
        edges = [None, *scale.cutoffs, None]
        for i, label in enumerate(labels):
            lo, hi = edges[i], edges[i + 1]
            closure = "openClosed" if hi is not None else "openOpen"
            bin_ = _el(disc, "DiscretizeBin", binValue=label)
            _el(bin_, "Interval", closure=closure, leftMargin=None if lo is None else _num(lo),
                rightMargin=None if hi is None else _num(hi))  # fmt: skip


def pmml_text(bundle: Bundle, *, reasons: int = 3) -> str:
    """The PMML 4.4 document of ``bundle``'s scorecard (UTF-8 XML text)."""
    refuse_segments(bundle, "PMML")
    model = bundle.model
    card = model.scorecard
    if card is None:
        raise BundleError(f"model {model.name!r} has no scorecard; PMML export writes the scorecard")
    ET.register_namespace("", NS)
    root = ET.Element("PMML", {"xmlns": NS, "version": "4.4"})
    header = _el(root, "Header", description=f"credit_grading scorecard {model.name} version {model.version}")
    _el(header, "Application", name="credit_grading", version=__version__)
    notes = identity_lines(bundle, "PMML 4.4 scorecard")
    left_out = ["override rules", "hysteresis", "manual overrides"]
    if model.champion != "scorecard":
        left_out.insert(0, f"the champion {model.champion} (grades here are the scorecard's, so none are given)")
    notes.append("Not in this file: " + "; ".join(left_out) + ".")
    for line in notes:
        _el(header, "Annotation").text = line
    fields = _el(root, "DataDictionary", numberOfFields=len(card.features))
    for f in card.features:
        if f.binning.kind == "categorical":
            _el(fields, "DataField", name=f.name, optype="categorical", dataType="string")
        else:
            _el(fields, "DataField", name=f.name, optype="continuous", dataType="double")
    sc = _el(root, "Scorecard", modelName=f"{model.name}-{model.version}", functionName="regression",
             algorithmName="credit_grading scorecard (pdo/odds scaling)", initialScore="0", useReasonCodes="true",
             reasonCodeAlgorithm="pointsBelow", baselineMethod="max")  # fmt: skip
    schema = _el(sc, "MiningSchema")
    for f in card.features:
        _el(schema, "MiningField", name=f.name, usageType="active", invalidValueTreatment="asIs")
    output = _el(sc, "Output")
    _el(output, "OutputField", name="score", optype="continuous", dataType="double", feature="predictedValue")
    for j in range(min(reasons, len(card.features))):
        _el(output, "OutputField", name=f"reason_{j + 1}", optype="categorical", dataType="string",
            feature="reasonCode", rank=j + 1)  # fmt: skip
    cal = model.calibration.get("scorecard")
    if cal is not None:
        _calibration(output, cal)
        if model.champion == "scorecard" and model.scale is not None:
            _grades(output, model.scale)
    chars = _el(sc, "Characteristics")
    for f in card.features:
        _characteristic(chars, f)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    comment = "\n".join(f"  {line}" for line in identity_lines(bundle, "PMML 4.4 scorecard"))
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<!--\n{comment}\n-->\n{body}\n'


def export_pmml(bundle: Bundle, out: Path | str, *, reasons: int = 3, overwrite: bool = False) -> Path:
    """Write the PMML of ``bundle`` to ``out`` (atomically; an existing file only with ``overwrite``)."""
    return write_output(out, pmml_text(bundle, reasons=reasons), overwrite=overwrite)
