"""Publication lists: the masked path by which grading results may leave the regulator.

:func:`publication_list` keeps only

* the entities the supervision policy marks publishable (in a listed tier, or matched by a
  listed override rule such as the serious-untrustworthiness list);
* the entity key, the as-of date, why the entity is listed (Chinese and English), and the
  catalogue items whose disclosure level is ``public`` — nothing else: no PD, score, grade,
  reasons or any column the catalogue does not describe;
* personal data masked: a personal-data text item keeps its first character only
  (张三 → 张*), a personal-data item of any other type is dropped.

The list comes back masked but not neutralised; written as CSV it goes through
:mod:`credit_grading.csvsafe`, after the masking, which only prefixes an apostrophe to a cell
starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (``=cmd|…`` → ``=*****`` →
``'=*****``) and so never brings a masked character back.

:func:`honour_list` is the rewards side (守信激励对象名单): the entities eligible for every incentive
the policy's ``honour`` names (tier, clean record, no active list membership), through the same
masking — key, as-of, why listed, public catalogue items, personal data masked — and never an
entity that a punishment list would publish.

>>> mask_text(pd.Series(["张三丰", "Li", None])).tolist()
['张**', 'L*', None]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_grading.catalogue import Catalogue, Disclosure, ItemType
from credit_grading.config.policy import SupervisionPolicy
from credit_grading.exceptions import ConfigError, DataError
from credit_grading.grading.rules import incentive_codes, incentive_eligibility
from credit_grading.lists import Memberships


def mask_text(values: pd.Series) -> pd.Series:
    """Keep the first character of each text and replace the rest with ``*`` (vectorised)."""
    s = values.astype("string")
    stars = (s.str.len().fillna(1).astype(np.int64).clip(lower=2) - 1).tolist()
    masked = s.str.slice(0, 1) + pd.Series("*", index=s.index, dtype="string").str.repeat(stars)
    return masked.astype(object).where(s.notna(), None)


def publishable_mask(grades: pd.DataFrame, policy: SupervisionPolicy) -> np.ndarray:
    """Rows the policy allows on a published list."""
    pub = policy.publication
    keep = np.zeros(len(grades), dtype=bool)
    if "tier" in grades.columns:
        keep |= grades["tier"].astype(str).isin(pub.tiers).to_numpy()
    if pub.rules and "rules_matched" in grades.columns:
        matched = grades["rules_matched"].astype("category")
        cats = matched.cat.categories
        hit = np.array([bool(set(str(c).split(";")) & set(pub.rules)) for c in cats] + [False])
        keep |= hit[matched.cat.codes.to_numpy()]  # code -1 (missing) → the trailing False
    return keep


def _listed_for(grades: pd.DataFrame, policy: SupervisionPolicy, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    zh = np.full(len(grades), "", dtype=object)
    en = np.full(len(grades), "", dtype=object)
    if "tier" in grades.columns:
        tier = grades["tier"].astype(str).to_numpy()
        for t in policy.publication.tiers:
            tp = policy.tier(t)
            zh = np.where(tier == t, tp.label_zh, zh)
            en = np.where(tier == t, tp.label_en, en)
    return zh[keep], en[keep]


def publication_list(
    grades: pd.DataFrame,
    policy: SupervisionPolicy,
    catalogue: Catalogue,
    *,
    rule_labels: dict[str, tuple[str, str]] | None = None,
    id_column: str = "uscc",
    as_of_column: str = "as_of",
) -> pd.DataFrame:
    """The publishable rows of ``grades`` with only public items, personal data masked."""
    if id_column not in grades.columns:
        raise DataError(f"the grades table has no id column {id_column!r}")
    keep = publishable_mask(grades, policy)
    out = pd.DataFrame({id_column: grades[id_column].astype(str).to_numpy()[keep]})
    if as_of_column in grades.columns:
        out[as_of_column] = grades[as_of_column].to_numpy()[keep]
    zh, en = _listed_for(grades, policy, keep)
    if policy.publication.rules and "rules_matched" in grades.columns:
        labels = rule_labels or {}
        matched = grades["rules_matched"].astype(str).to_numpy()[keep]
        for rule in reversed(policy.publication.rules):  # the first listed rule names the listing
            hit = np.char.find(np.char.add(";", np.char.add(matched.astype(str), ";")), f";{rule};") >= 0
            r_zh, r_en = labels.get(rule, (rule, rule))
            zh = np.where(hit, r_zh, zh)
            en = np.where(hit, r_en, en)
    out["listed_for_zh"] = zh
    out["listed_for_en"] = en
    return _with_public_items(out, grades, keep, catalogue, id_column, as_of_column)


def _with_public_items(out: pd.DataFrame, grades: pd.DataFrame, keep: np.ndarray, catalogue: Catalogue,
                       id_column: str, as_of_column: str) -> pd.DataFrame:  # fmt: skip
    """``out`` with the catalogue's public items of the kept rows, personal data masked (text) or dropped."""
    for item in catalogue.items:
        if item.id not in grades.columns or item.id in (id_column, as_of_column):
            continue
        if item.disclosure is not Disclosure.PUBLIC:
            continue
        col = grades[item.id][keep].reset_index(drop=True)
        if item.personal_data:
            if item.type is not ItemType.TEXT:
                continue
            col = mask_text(col)
        out[item.id] = col.to_numpy()
    return out


def honour_list(
    grades: pd.DataFrame,
    policy: SupervisionPolicy,
    catalogue: Catalogue,
    *,
    items: pd.DataFrame | None = None,
    memberships: Memberships | None = None,
    id_column: str = "uscc",
    as_of_column: str = "as_of",
) -> pd.DataFrame:
    """The honour list: rows eligible for every incentive of ``policy.honour``, public items only,
    personal data masked; the incentives each is eligible for in ``incentives``."""
    if id_column not in grades.columns:
        raise DataError(f"the grades table has no id column {id_column!r}")
    wanted = list(policy.honour.incentives)
    if not wanted:
        raise ConfigError("the supervision policy names no incentive under honour.incentives, so no entity can be "
                          "on the honour list; name the incentives its entities must all be eligible for")  # fmt: skip
    eligible = incentive_eligibility(policy, grades, items=items, memberships=memberships, id_column=id_column,
                                     as_of_column=as_of_column)  # fmt: skip
    keep = eligible[wanted].all(axis=1).to_numpy(dtype=bool) & ~publishable_mask(grades, policy)
    out = pd.DataFrame({id_column: grades[id_column].astype(str).to_numpy()[keep]})
    if as_of_column in grades.columns:
        out[as_of_column] = grades[as_of_column].to_numpy()[keep]
    out["listed_for_zh"] = policy.honour.label_zh
    out["listed_for_en"] = policy.honour.label_en
    out["incentives"] = incentive_codes(eligible)[keep]
    return _with_public_items(out, grades, keep, catalogue, id_column, as_of_column)
