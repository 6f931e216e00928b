"""The supervision policy (``configs/supervision.yaml``): what each tier means in practice.

Per tier (A–D, and M for entities not graded): the share of entities drawn for random
inspection (双随机), the most inspections an entity may have in a year, and coded
measures (green channel, education and guidance, joint punishment, …) with Chinese and
English labels. ``incentives`` are the rewards for trustworthy entities (守信激励: priority
handling 绿色通道, simplified procedures 容缺受理, fewer inspections), each with its eligibility:
the tiers it is for, no negative record (a list membership active at any day) for ``clean_years``
before the as-of date, no list membership active at the as-of date, and optionally a condition
on registry items (the override rules' syntax, e.g. ``{item: severe_penalties_24m, eq: 0}``).
``honour`` is the honour list (守信激励对象名单): entities eligible for every incentive it names,
published under the same masking rules as the punishment lists. ``publication`` says which entities may appear on a published list: those
in the listed tiers or changed by the listed override rules. ``decision`` says who issues a
decision letter, how long a decision stands, and how the enterprise objects (deadline in days,
contact, the reference format to quote, e.g. ``XY-{year}{month:02d}-{id}``).

>>> policy = load_policy()
>>> policy.tier("D").inspection_ratio
0.6
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from credit_grading._resources import builtin_config
from credit_grading._yaml import load_model
from credit_grading.config.grading import Condition
from credit_grading.exceptions import ConfigError

POLICY_TIERS = ("A", "B", "C", "D", "M")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Measure(_Section):
    """An incentive or measure, with its labels."""

    zh: str
    en: str


class TierPolicy(_Section):
    label_zh: str = ""
    label_en: str = ""
    inspection_ratio: float = Field(ge=0.0, le=1.0)
    max_inspections_per_year: int = Field(ge=0, le=52)
    measures: tuple[str, ...] = ()


class Eligibility(_Section):
    """Who an incentive is for: tiers, a clean record for ``clean_years``, no active list, a condition."""

    tiers: tuple[str, ...] = ("A",)
    clean_years: float = Field(default=0.0, ge=0.0, le=20.0)
    no_active_list: bool = True
    when: Condition | None = None


class Incentive(_Section):
    """A reward for trustworthy entities (守信激励), with its labels and eligibility."""

    zh: str
    en: str
    eligibility: Eligibility = Field(default_factory=Eligibility)


class Honour(_Section):
    """The honour list: entities eligible for every incentive named here."""

    label_zh: str = "守信激励对象名单"
    label_en: str = "honour list of trustworthy entities"
    incentives: tuple[str, ...] = ()


class Publication(_Section):
    tiers: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()


# {id} is the entity's key ({uscc}, the same value, is kept for formats written before ids were configurable).
REFERENCE_FIELDS = {"id": "91110000MA01ABCD3X", "uscc": "91110000MA01ABCD3X", "as_of": "2025-12-31", "year": 2025,
                    "month": 12, "day": 31, "decided": "2026-01-15"}  # fmt: skip


class Objection(_Section):
    """The enterprise's right to object (异议): how long it has, whom to contact, the reference to quote."""

    days: int = Field(default=15, ge=1, le=365)
    contact_zh: str = "作出决定的机关的信用管理部门"
    contact_en: str = "the credit management office of the issuing authority"
    reference_format: str = "XY-{year}{month:02d}-{id}"

    @model_validator(mode="after")
    def _reference(self) -> Objection:
        try:
            self.reference_format.format(**REFERENCE_FIELDS)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"objection.reference_format {self.reference_format!r} cannot be filled ({exc}); "
                             f"it may use the fields {sorted(REFERENCE_FIELDS)}") from None  # fmt: skip
        return self

    def reference(self, **fields) -> str:
        return self.reference_format.format(**(REFERENCE_FIELDS | fields))


class DecisionPolicy(_Section):
    """Who issues a rating decision, how long it stands, and how to object to it."""

    authority_zh: str = "（未配置作出决定的机关）"
    authority_en: str = "(issuing authority not configured)"
    validity_months: int = Field(default=12, ge=1, le=60)
    objection: Objection = Field(default_factory=Objection)


class SupervisionPolicy(_Section):
    version: str = "1"
    name_zh: str = ""
    name_en: str = ""
    measures: dict[str, Measure]
    tiers: dict[str, TierPolicy]
    incentives: dict[str, Incentive] = Field(default_factory=dict)
    honour: Honour = Field(default_factory=Honour)
    publication: Publication = Field(default_factory=Publication)
    decision: DecisionPolicy = Field(default_factory=DecisionPolicy)

    @model_validator(mode="after")
    def _consistent(self) -> SupervisionPolicy:
        missing = [t for t in POLICY_TIERS if t not in self.tiers]
        extra = [t for t in self.tiers if t not in POLICY_TIERS]
        if missing or extra:
            raise ValueError(f"tiers must be exactly {list(POLICY_TIERS)}; missing {missing}, unexpected {extra}")
        for t, tp in self.tiers.items():
            unknown = [m for m in tp.measures if m not in self.measures]
            if unknown:
                raise ValueError(f"tier {t} names measure(s) {unknown}; known measures: {sorted(self.measures)}")
        ratios = [self.tiers[t].inspection_ratio for t in "ABCD"]
        if ratios != sorted(ratios):
            raise ValueError(f"inspection ratios must not fall from tier A to tier D; got {ratios}")
        bad = [t for t in self.publication.tiers if t not in POLICY_TIERS]
        if bad:
            raise ValueError(f"publication.tiers names unknown tier(s) {bad}")
        both = sorted(set(self.incentives) & set(self.measures))
        if both:
            raise ValueError(f"code(s) {both} are both a measure and an incentive; give each its own code")
        for code, inc in self.incentives.items():
            bad = [t for t in inc.eligibility.tiers if t not in POLICY_TIERS]
            if bad or not inc.eligibility.tiers:
                raise ValueError(f"incentive {code!r}: eligibility.tiers must name tiers of {list(POLICY_TIERS)}; "
                                 f"got {list(inc.eligibility.tiers)}")  # fmt: skip
        unknown = [c for c in self.honour.incentives if c not in self.incentives]
        if unknown:
            raise ValueError(
                f"honour.incentives names unknown incentive(s) {unknown}; incentives: {sorted(self.incentives)}"
            )
        return self

    def tier(self, code: str) -> TierPolicy:
        try:
            return self.tiers[code]
        except KeyError:
            raise ConfigError(f"unknown tier {code!r}; tiers are {list(POLICY_TIERS)}") from None

    def measures_of(self, code: str) -> list[dict[str, str]]:
        """The measures of a tier as ``{code, zh, en}`` records."""
        return [{"code": m, "zh": self.measures[m].zh, "en": self.measures[m].en} for m in self.tier(code).measures]


def incentive_records(policy: SupervisionPolicy, codes) -> list[dict[str, str]]:
    """Incentives as ``{code, zh, en, kind: "incentive"}`` records, in policy order."""
    wanted = set(codes)
    return [
        {"code": c, "zh": i.zh, "en": i.en, "kind": "incentive"} for c, i in policy.incentives.items() if c in wanted
    ]


def load_policy(path: Path | str | None = None) -> SupervisionPolicy:
    """Load a policy from YAML; ``None`` loads the built-in ``configs/supervision.yaml``."""
    return load_model(SupervisionPolicy, builtin_config("supervision.yaml") if path is None else path)
