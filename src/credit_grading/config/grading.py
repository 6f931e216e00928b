"""Configuration of grading: the master scale, how its cut-offs are set, and the override rules.

The ``grading`` section of a config::

    grading:
      grades:                    # best first; each grade belongs to a supervision tier
        - {name: AAA, tier: A, pd_max: 0.0025}
        ...
        - {name: C, tier: D}     # the worst grade has no upper bound
      cutoffs: fitted            # fitted on the development sample | fixed (the pd_max above)
      fit: {min_count: 50, max_share: 0.35, alpha: 0.05, grades: auto, sample: auto}
      hysteresis_margin: 0.0     # log-odds; > 0 keeps an entity's grade near a boundary
      overrides:                 # applied in order after the model; the last change decides
        - id: serious_untrustworthy
          when: {item: serious_untrustworthy_flag, eq: 1}
          then: {tier: D}

A condition is one test of an item (``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge``, ``in``,
``missing``), ``missing_at_least: N`` (at least N of the model features missing), or an
``all``/``any`` list of conditions. An action is ``tier``/``grade`` (put the entity there),
``no_better_than_tier``/``no_better_than_grade`` (a cap on how good the grade may be) or
``status: M`` (not graded: too new or too thin a file).
"""

from __future__ import annotations

import itertools
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

TIERS = ("A", "B", "C", "D")
STATUS_M = "M"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GradeDef(_Section):
    """One grade of the master scale."""

    name: str = Field(min_length=1, max_length=8)
    tier: str = Field(pattern="^[ABCD]$")
    pd_max: float | None = Field(default=None, gt=0.0, lt=1.0)


class CutoffMethod(StrEnum):
    """``fixed``: the PD bounds of the config; ``fitted``: fitted on the development sample."""

    FIXED = "fixed"
    FITTED = "fitted"


class FitSample(StrEnum):
    """Rows (and PDs) the cut-offs are fitted on. Always out of sample unless asked otherwise:

    ``valid``: the validation rows (the model never trained on them); ``oof``: out-of-fold PDs of
    the development rows from cross-validation (every row scored by a model that did not see
    it); ``auto``: ``oof`` when cross-validation runs, else ``valid``; ``development``: training
    + validation rows scored by the final model — in sample, so grades hold more of new data
    than they were fitted to hold (kept for old configs only).
    """

    AUTO = "auto"
    VALID = "valid"
    OOF = "oof"
    DEVELOPMENT = "development"


class GradeCount(StrEnum):
    """``auto``: the largest number of grades (up to the configured scale) the data supports
    under the constraints, a grade of every tier kept; ``all``: every configured grade or an error."""

    AUTO = "auto"
    ALL = "all"


class GradeFitConfig(_Section):
    """Constraints of fitted cut-offs (each grade's size, concentration, separation)."""

    sample: FitSample = FitSample.AUTO
    grades: GradeCount = GradeCount.AUTO
    min_count: int = Field(default=50, ge=1)
    max_share: float = Field(default=0.35, gt=0.0, le=1.0)
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)  # adjacent grades differ at this level
    prebins: int = Field(default=100, ge=10, le=400)


class Condition(_Section):
    """A test on the registry row; exactly one form is given."""

    item: str | None = None
    eq: float | str | None = None
    ne: float | str | None = None
    lt: float | None = None
    le: float | None = None
    gt: float | None = None
    ge: float | None = None
    in_: tuple[float | str, ...] | None = Field(default=None, alias="in")
    missing: bool | None = None
    missing_at_least: int | None = Field(default=None, ge=1)
    # {list: name}: true while the entity has an active membership of that list (credit_grading.lists)
    list_: str | None = Field(default=None, alias="list", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    all: tuple[Condition, ...] | None = None
    any: tuple[Condition, ...] | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @property
    def ops(self) -> list[str]:
        return [op for op in ("eq", "ne", "lt", "le", "gt", "ge", "in_", "missing") if getattr(self, op) is not None]

    @model_validator(mode="after")
    def _one_form(self) -> Condition:
        forms = sum(x is not None for x in (self.item, self.missing_at_least, self.list_, self.all, self.any))
        if forms != 1:
            raise ValueError("a condition is exactly one of: an item test, missing_at_least, list, all, any")
        if self.item is not None and len(self.ops) != 1:
            raise ValueError(
                f"a test of item {self.item!r} needs exactly one of eq, ne, lt, le, gt, ge, in, missing; "
                f"got {[o.rstrip('_') for o in self.ops] or 'none'}"
            )
        if self.item is None and self.ops:
            raise ValueError(f"{[o.rstrip('_') for o in self.ops]} need an 'item' to test")
        for group in (self.all, self.any):
            if group is not None and not group:
                raise ValueError("all/any need at least one condition")
        return self

    def items(self) -> set[str]:
        """Every item this condition reads."""
        if self.item is not None:
            return {self.item}
        if self.list_ is not None:
            return {f"list:{self.list_}"}
        out: set[str] = set()
        for c in (self.all or ()) + (self.any or ()):
            out |= c.items()
        return out


ACTIONS = ("tier", "grade", "no_better_than_tier", "no_better_than_grade", "status")


class Action(_Section):
    """What an override does.

    ``tier``/``grade``: put the entity in that tier (its grade nearest the current one) or
    grade, (status M: the tier's grade nearest the model grade); ``no_better_than_tier``/``no_better_than_grade``: worsen
    a better grade to the best grade allowed (status M stays M); ``status: M``: not graded.
    """

    tier: str | None = Field(default=None, pattern="^[ABCD]$")
    grade: str | None = None
    no_better_than_tier: str | None = Field(default=None, pattern="^[ABCD]$")
    no_better_than_grade: str | None = None
    status: str | None = Field(default=None, pattern="^M$")

    @model_validator(mode="after")
    def _one(self) -> Action:
        given = [k for k in ACTIONS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"an action is exactly one of {', '.join(ACTIONS)}; got {given or 'none'}")
        return self


class OverrideRule(_Section):
    """A hard rule applied after the model."""

    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    label_zh: str = ""
    label_en: str = ""
    when: Condition
    then: Action


def default_grades() -> tuple[GradeDef, ...]:
    names = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C")
    tiers = ("A", "A", "A", "B", "B", "C", "C", "D", "D")
    bounds = (0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, None)
    return tuple(GradeDef(name=n, tier=t, pd_max=b) for n, t, b in zip(names, tiers, bounds, strict=True))


def default_overrides() -> tuple[OverrideRule, ...]:
    return (
        OverrideRule(
            id="new_entity_no_tax_history",
            label_zh="成立不满一年且无纳税记录",
            label_en="established under one year with no tax history",
            when=Condition(
                all=(Condition(item="firm_age_years", lt=1), Condition(item="tax_credit_rating", missing=True))
            ),
            then=Action(status="M"),
        ),
        OverrideRule(
            id="abnormal_operations",
            label_zh="列入经营异常名录",
            label_en="on the abnormal operations list",
            when=Condition(item="abnormal_operations_flag", eq=1),
            then=Action(no_better_than_tier="B"),
        ),
        OverrideRule(
            id="dishonest_debtor",
            label_zh="失信被执行人",
            label_en="dishonest judgment debtor",
            when=Condition(item="dishonest_debtor_flag", eq=1),
            then=Action(tier="D"),
        ),
        OverrideRule(
            id="serious_untrustworthy",
            label_zh="列入严重失信主体名单",
            label_en="on the serious untrustworthiness list",
            when=Condition(item="serious_untrustworthy_flag", eq=1),
            then=Action(tier="D"),
        ),
    )


class GradingConfig(_Section):
    """The master scale, its cut-offs, override rules and tier stability."""

    grades: tuple[GradeDef, ...] = Field(default_factory=default_grades)
    cutoffs: CutoffMethod = CutoffMethod.FITTED
    fit: GradeFitConfig = Field(default_factory=GradeFitConfig)
    overrides: tuple[OverrideRule, ...] = Field(default_factory=default_overrides)
    hysteresis_margin: float = Field(default=0.0, ge=0.0, le=5.0)

    @model_validator(mode="after")
    def _scale(self) -> GradingConfig:
        g = self.grades
        if len(g) < 2:
            raise ValueError("a master scale needs at least two grades")
        names = [x.name for x in g]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup or STATUS_M in names:
            raise ValueError(f"grade names must be unique and not 'M' (reserved for not graded); got {names}")
        order = [TIERS.index(x.tier) for x in g]
        if order != sorted(order):
            raise ValueError(f"grades must run from tier A to tier D in order; got tiers {[x.tier for x in g]}")
        if self.cutoffs == CutoffMethod.FIXED:
            bounds = [x.pd_max for x in g[:-1]]
            if any(b is None for b in bounds):
                raise ValueError("fixed cut-offs need pd_max on every grade but the last")
            if any(a >= b for a, b in itertools.pairwise(bounds)):
                raise ValueError(f"pd_max must increase from the best grade to the worst; got {bounds}")
        ids = [r.id for r in self.overrides]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"override rule id(s) {dup} appear more than once")
        for r in self.overrides:
            grade = r.then.grade or r.then.no_better_than_grade
            if grade is not None and grade not in names:
                raise ValueError(f"rule {r.id!r} names grade {grade!r}; grades are {names}")
            tier = r.then.tier or r.then.no_better_than_tier
            if tier is not None and tier not in self.grade_tiers:
                raise ValueError(f"rule {r.id!r} names tier {tier!r}, which no grade belongs to")
        return self

    @property
    def grade_names(self) -> tuple[str, ...]:
        return tuple(x.name for x in self.grades)

    @property
    def grade_tiers(self) -> tuple[str, ...]:
        return tuple(x.tier for x in self.grades)
