"""From PDs to final decisions: master scale, tier stability, override rules, manual overrides.

The steps, each vectorised over all rows:

1. **Model grade** — the PD's grade on the master scale. With a hysteresis margin ``h`` > 0
   and a previous grade, an entity keeps its previous grade while its PD's log-odds stay
   within ``h`` of that grade's band, so an entity near a boundary does not flap.
2. **Rules** — the override rules in config order. Each rule moves the rows it matches:
   ``tier``/``grade`` puts the entity there (a tier: its grade nearest the current one; for an
   entity of status M, nearest its model grade), ``no_better_than_*`` worsens a better grade to the best one
   allowed (status M stays M), ``status: M`` marks the entity not graded. The rule that
   changed a row last is its ``override``.
3. **Manual overrides** — applied last; expired ones are ignored and reported.

The result keeps the model grade beside the final grade, names the rule (or ``manual``) that
changed the final decision and lists every rule that matched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from credit_grading.config.grading import STATUS_M, OverrideRule
from credit_grading.exceptions import DataError
from credit_grading.grading.manual import ManualOverrides
from credit_grading.grading.result_schema import (
    MANUAL,
    TIER_CODES,
    grade_labels,
    matched_rules,
    override_labels,
    tier_of_grade,
)
from credit_grading.grading.rules import condition_mask
from credit_grading.specs.grading import TIER_ORDER, GradeScaleSpec

__all__ = ["MANUAL", "TIER_CODES", "Grader", "GradingResult"]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


@dataclass
class GradingResult:
    """Grades of every row: model grade, final grade (index ``n_grades`` = M) and why."""

    scale: GradeScaleSpec
    rules: tuple[OverrideRule, ...]
    model_grade: np.ndarray  # int16 grade index
    final_grade: np.ndarray  # int16 grade index, n_grades for status M
    decided_by: np.ndarray  # int16: -1 model, r: rule r, len(rules): manual
    matched: np.ndarray  # uint32 bit r set when rule r matched
    held: np.ndarray | None = None  # rows whose grade hysteresis kept (None: hysteresis off)
    manual_reason: np.ndarray | None = None
    manual_approver: np.ndarray | None = None
    manual_report: dict = field(default_factory=dict)

    def _grade_cat(self, codes: np.ndarray) -> pd.Categorical:
        return pd.Categorical.from_codes(codes.astype(np.int16), categories=grade_labels(self.scale.grades))

    def _tier_codes(self, codes: np.ndarray) -> np.ndarray:
        return tier_of_grade(self.scale.tiers)[codes]

    def tiers(self) -> np.ndarray:
        """The final tier of each row as text (A–D or M)."""
        return np.asarray(TIER_CODES, dtype=object)[self._tier_codes(self.final_grade)]

    def frame(self) -> pd.DataFrame:
        """The decision columns: model and final grade and tier, override, matched rules (in the
        order of :func:`~credit_grading.grading.result_schema.result_schema`)."""
        labels, reasons = override_labels(self.rules)
        decided = self.decided_by.astype(np.int32)
        override = pd.Categorical.from_codes(decided, categories=labels)
        reason = np.asarray([*reasons, None], dtype=object)[decided]  # -1 → None
        if self.manual_reason is not None:
            is_manual = decided == len(self.rules)
            reason = np.where(is_manual, self.manual_reason, reason)
        out = {
            "model_grade": self._grade_cat(self.model_grade),
            "model_tier": pd.Categorical.from_codes(self._tier_codes(self.model_grade), categories=TIER_CODES),
            "grade": self._grade_cat(self.final_grade),
            "tier": pd.Categorical.from_codes(self._tier_codes(self.final_grade), categories=TIER_CODES),
            "override": override,
            "override_reason": reason,
            "override_approver": self.manual_approver
            if self.manual_approver is not None
            else np.full(len(decided), None, dtype=object),
            "rules_matched": pd.Categorical.from_codes(*matched_rules(self.matched, self.rules)),
        }
        if self.held is not None:
            out["grade_held"] = self.held
        return pd.DataFrame(out)

    def override_report(self) -> pd.DataFrame:
        """Per rule (and manual): rows matched, rows whose decision it changed, and the rates."""
        n = max(len(self.final_grade), 1)
        rows = []
        for i, r in enumerate(self.rules):
            hit = int(((self.matched >> i) & 1).sum())
            changed = int((self.decided_by == i).sum())
            rows.append({"rule": r.id, "label": r.label_en, "matched": hit, "changed": changed})
        manual_changed = int((self.decided_by == len(self.rules)).sum())
        rows.append({"rule": MANUAL, "label": "manual override", "matched": int(self.manual_report.get("applied", 0)),
                     "changed": manual_changed})  # fmt: skip
        out = pd.DataFrame(rows)
        out["matched_rate"] = out["matched"] / n
        out["changed_rate"] = out["changed"] / n
        return out

    def summary(self) -> dict:
        tiers = pd.Series(self.tiers()).value_counts()
        changed = int((self.decided_by >= 0).sum())
        return {
            "rows": len(self.final_grade),
            "tier_counts": {t: int(tiers.get(t, 0)) for t in TIER_CODES},
            "overridden": changed,
            "override_rate": changed / max(len(self.final_grade), 1),
            "held_by_hysteresis": None if self.held is None else int(self.held.sum()),
            "manual": self.manual_report,
        }


class Grader:
    """Turns PDs and registry rows into final grades and tiers.

    >>> grader = Grader(scale, rules, features=cat.feature_names)     # doctest: +SKIP
    >>> result = grader.grade(table, pd_values)                         # doctest: +SKIP
    >>> result.frame()[["model_grade", "grade", "tier", "override"]]  # doctest: +SKIP
    """

    def __init__(
        self,
        scale: GradeScaleSpec,
        rules: tuple[OverrideRule, ...] = (),
        *,
        features: tuple[str, ...] = (),
        hysteresis_margin: float = 0.0,
    ) -> None:
        if len(rules) > 31:
            raise DataError("at most 31 override rules are supported")
        self.scale = scale
        self.rules = tuple(rules)
        self.features = tuple(features)
        self.hysteresis_margin = float(hysteresis_margin)
        k = scale.n_grades
        # Per tier (A–D, M): its best and worst grade index (M: the status index k).
        self._first = np.array([scale.first_grade_of_tier(t) for t in TIER_ORDER] + [k])
        self._last = np.array([self._last_of_tier(t) for t in TIER_ORDER] + [k])
        self._actions = [self._action(r) for r in self.rules]
        edges = _logit(np.array([1e-12, *scale.cutoffs, 1 - 1e-12]))
        self._lo, self._hi = edges[:-1].copy(), edges[1:].copy()
        self._lo[0], self._hi[k - 1] = -np.inf, np.inf

    def _last_of_tier(self, tier: str) -> int:
        worse = [i for i, t in enumerate(self.scale.tiers) if TIER_ORDER.index(t) <= TIER_ORDER.index(tier)]
        return max(worse) if worse else 0

    def _action(self, rule: OverrideRule) -> tuple[str, int, int]:
        a, s = rule.then, self.scale
        if a.status is not None:
            return "status", s.n_grades, s.n_grades
        if a.grade is not None:
            g = s.grades.index(a.grade)
            return "into", g, g
        if a.tier is not None:
            t = TIER_ORDER.index(a.tier)
            return "into", int(self._first[t]), int(self._last[t])
        if a.no_better_than_grade is not None:
            g = s.grades.index(a.no_better_than_grade)
            return "cap", g, g
        g = s.first_grade_of_tier(a.no_better_than_tier)
        return "cap", g, g

    def _into(self, state: np.ndarray, first, last, model: np.ndarray | None = None) -> np.ndarray:
        """The grade within [first, last] nearest to ``state``. An entity of status M goes to the
        grade within [first, last] nearest to its ``model`` grade (``first`` when not given), so a
        rule into a worse tier never gives a status-M entity a better grade than its model's."""
        k = self.scale.n_grades
        from_m = first if model is None else np.clip(model, first, last)
        return np.where(state == k, from_m, np.clip(state, first, last)).astype(np.int16)

    def _previous_codes(self, previous_grade, n: int) -> np.ndarray:
        prev = np.asarray(previous_grade, dtype=object)
        if len(prev) != n:
            raise DataError(f"previous grades have {len(prev)} rows; the table has {n}")
        return pd.Index(list(self.scale.grades)).get_indexer(prev).astype(np.int16)  # -1: none, M or unknown

    def grade(
        self,
        data: pd.DataFrame,
        pd_values: np.ndarray,
        *,
        ids: np.ndarray | None = None,
        previous_grade=None,
        manual: ManualOverrides | None = None,
        as_of: dt.date | None = None,
    ) -> GradingResult:
        """Grade every row. ``previous_grade`` (aligned to the rows; missing where none) turns
        hysteresis on when the margin is positive; ``manual`` needs ``ids`` and ``as_of``."""
        pdv = np.asarray(pd_values, dtype=np.float64)
        n = len(pdv)
        if len(data) != n:
            raise DataError(f"{len(data)} registry rows but {n} PDs")
        if np.isnan(pdv).any():
            raise DataError(f"PD is missing for {int(np.isnan(pdv).sum())} row(s); every graded row needs a PD")
        k = self.scale.n_grades
        model = self.scale.grade_index(pdv)
        held = None
        if self.hysteresis_margin > 0 and previous_grade is not None:
            prev = self._previous_codes(previous_grade, n)
            has = prev >= 0
            p = np.where(has, prev, 0)
            lg = _logit(pdv)
            inside = (lg >= self._lo[p] - self.hysteresis_margin) & (lg <= self._hi[p] + self.hysteresis_margin)
            held = has & inside & (model != prev)
            model = np.where(held, prev, model).astype(np.int16)

        state = model.copy()
        decided = np.full(n, -1, dtype=np.int16)
        matched = np.zeros(n, dtype=np.uint32)
        for i, (rule, (kind, lo, hi)) in enumerate(zip(self.rules, self._actions, strict=True)):
            mask = condition_mask(rule.when, data, rule=rule.id, features=self.features)
            matched |= mask.astype(np.uint32) << np.uint32(i)
            if kind == "status":
                new = np.full(n, k, dtype=np.int16)
            elif kind == "into":
                new = self._into(state, lo, hi, model)
            else:  # cap: never better than lo; status M stays M
                new = np.where(state == k, k, np.maximum(state, lo)).astype(np.int16)
            change = mask & (new != state)
            state = np.where(mask, new, state).astype(np.int16)
            decided[change] = i

        result = GradingResult(self.scale, self.rules, model, state, decided, matched, held)
        if manual is not None:
            self._apply_manual(result, manual, ids, as_of)
        return result

    def _apply_manual(self, result: GradingResult, manual: ManualOverrides, ids, as_of) -> None:
        if ids is None or as_of is None:
            raise DataError("manual overrides need the entity ids and the grading date")
        active, expired = manual.active(as_of)
        ids = pd.Index(np.asarray(ids, dtype=object))
        pos = ids.get_indexer(active["uscc"])
        unknown = active["uscc"][pos < 0]
        act = active[pos >= 0]
        pos = pos[pos >= 0]
        k = self.scale.n_grades
        grade_codes = pd.Categorical(act["grade"], categories=grade_labels(self.scale.grades)).codes
        current = result.final_grade[pos]
        # A tier: the grade of that tier nearest to the current decision.
        tcode = pd.Index(list(TIER_CODES)).get_indexer(act["tier"].to_numpy(dtype=object))
        t_safe = np.where(tcode >= 0, tcode, 0)
        from_tier = np.where(tcode == TIER_CODES.index(STATUS_M), k, self._into(current, self._first[t_safe],
                                                                                 self._last[t_safe],
                                                                                 result.model_grade[pos]))  # fmt: skip
        target = np.where(grade_codes >= 0, grade_codes, from_tier).astype(np.int16)
        changed = target != current
        result.final_grade[pos] = target
        result.decided_by[pos[changed]] = len(self.rules)
        n = len(result.final_grade)
        reason = np.full(n, None, dtype=object)
        approver = np.full(n, None, dtype=object)
        reason[pos] = act["reason"].to_numpy(dtype=object)
        approver[pos] = act["approver"].to_numpy(dtype=object)
        result.manual_reason, result.manual_approver = reason, approver
        result.manual_report = {
            "source": manual.source,
            "in_file": len(manual.table),
            "applied": len(act),
            "changed": int(changed.sum()),
            "expired": len(expired),
            "expired_uscc": expired["uscc"].tolist()[:100],
            "not_in_registry": len(unknown),
            "not_in_registry_uscc": unknown.tolist()[:100],
        }
