"""The time-varying side of a synthetic registry: each department's records at a snapshot.

Every record is drawn from the entity's latent quality, its size, age and industry, plus
snapshot noise, so the items are correlated the way real registries are (a firm in
arrears with tax tends to be in arrears with social insurance and in court). Missingness
follows the catalogue's meaning of a missing value: firms under a year old have no tax
history and no annual report due, small firms are rarely rated by customs, firms without
social-insurance registration have no headcount or arrears, firms without loans have no
bank-overdue record.

``drift`` moves a later snapshot: the latent quality deteriorates, loan records become
sparser and the records' rates rise, so distributions (and the bad rate) shift.
"""

from __future__ import annotations

import numpy as np

from credit_grading.synth.population import Population

# Industry indices (into population.INDUSTRIES, GB/T 4754 section order A..T).
_B, _C, _D, _E, _F, _H, _I, _J, _K, _M, _O, _Q = 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 14, 16
TAX_LEVELS = ("A", "B", "M", "C", "D")
CUSTOMS_LEVELS = ("advanced_certified", "general", "untrustworthy")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _poisson(rng: np.random.Generator, log_rate: np.ndarray, cap: int) -> np.ndarray:
    return np.minimum(rng.poisson(np.exp(np.minimum(log_rate, 8.0))), cap).astype(np.float64)


def draw_records(pop: Population, rng: np.random.Generator, drift: float) -> dict[str, np.ndarray]:
    """Draw every time-varying item for one snapshot.

    Returns float arrays (NaN for missing) for numeric and flag items and int32 level
    indices (-1 for missing) for categorical items, keyed by catalogue item id.
    """
    n = pop.n
    z = pop.quality + 0.35 * drift + rng.normal(0.0, 0.35, n)  # this snapshot's condition
    ind = pop.industry
    young = pop.age_years < 1.0
    micro = pop.size_class == 0
    log_staff = np.log1p(pop.staff)
    rec: dict[str, np.ndarray] = {}
    d = 0.15 * drift  # general rise of adverse-record rates

    rec["registered_capital"] = np.where(pop.capital_declared, pop.capital, np.nan)
    size = pop.size_class.astype(np.int32).copy()
    size[~pop.size_known] = -1
    rec["size_class"] = size

    # Social insurance: some firms are not registered (more often micro firms).
    si_registered = rng.random(n) > np.where(micro, 0.16, 0.03)
    employees = np.maximum(pop.staff + rng.integers(-2, 3, n), 0).astype(np.float64)
    employees = np.where(si_registered, np.minimum(employees, 500000), np.nan)
    withheld = si_registered & (rng.random(n) < 0.015)  # special code -1: headcount withheld
    employees[withheld] = -1.0
    rec["employees_insured"] = employees
    has_si_arrears = rng.random(n) < _sigmoid(-3.0 + 1.0 * z + 0.6 * (ind == _E) + d)
    si_months = np.where(has_si_arrears, 1 + rng.geometric(0.22, n), 0).astype(np.float64)
    rec["social_insurance_arrears_months"] = np.where(si_registered, np.minimum(si_months, 120), np.nan)

    # Tax: no history under one year; M for young or thin files; a deduction score otherwise.
    overdue = _poisson(rng, -1.7 + 0.85 * z + 0.3 * micro + d, 200)
    has_arrears = rng.random(n) < _sigmoid(-3.2 + 1.1 * z + d)
    arrears = np.where(has_arrears, np.round(np.exp(rng.normal(1.0 + 0.4 * log_staff, 1.2)), 2), 0.0)
    rec["overdue_tax_filings_24m"] = np.where(young, np.nan, overdue)
    rec["tax_arrears_amount"] = np.where(young, np.nan, np.minimum(arrears, 1.0e6))
    tax_score = 88.0 - 9.0 * z - 3.0 * np.minimum(overdue, 5) - 8.0 * has_arrears + rng.normal(0, 6.0, n)
    rating = np.select([tax_score >= 90, tax_score >= 70, tax_score >= 40], [0, 1, 3], default=4).astype(np.int32)
    thin = (pop.age_years < 3.0) & (rng.random(n) < 0.6)
    rating[thin] = 2
    rating[young] = -1
    rec["tax_credit_rating"] = rating

    # Market regulation.
    report_due = ~young
    late_report = rng.random(n) < _sigmoid(-2.6 + 0.9 * z + 0.4 * micro + d)
    rec["annual_report_on_time"] = np.where(report_due, (~late_report).astype(np.float64), np.nan)
    abnormal = rng.random(n) < _sigmoid(-3.9 + 1.0 * z + 1.6 * (late_report & report_due) + d)
    rec["abnormal_operations_flag"] = abnormal.astype(np.float64)
    rec["serious_untrustworthy_flag"] = (rng.random(n) < _sigmoid(-7.0 + 1.5 * z + d)).astype(np.float64)
    ind_pen = np.select([ind == _H, ind == _F, ind == _C, ind == _Q], [0.7, 0.4, 0.5, 0.4], default=0.0)
    admin = _poisson(rng, -2.4 + 0.75 * z + ind_pen + 0.15 * log_staff + d, 500)
    rec["admin_penalties_24m"] = admin
    rec["severe_penalties_24m"] = rng.binomial(admin.astype(np.int64), 0.08 + 0.25 * _sigmoid(z - 1.5)).astype(
        np.float64
    )
    rec["legal_rep_changes_36m"] = _poisson(rng, -2.1 + 0.55 * z + d, 50)
    rec["address_changes_36m"] = _poisson(rng, -1.8 + 0.45 * z + d, 50)
    rec["equity_pledges_active"] = _poisson(rng, -3.4 + 0.5 * z + 0.45 * log_staff / 2 + d, 1000)
    ind_pq = np.select([ind == _C, ind == _F], [1.8, 0.6], default=-1.0)
    rec["product_quality_failures_24m"] = _poisson(rng, -3.6 + 0.6 * z + ind_pq + d, 200)
    ind_cc = np.select([ind == _H, ind == _F, ind == _O, ind == _K], [1.1, 0.7, 0.8, 0.6], default=0.0)
    rec["consumer_complaints_12m"] = _poisson(rng, -1.9 + 0.5 * z + ind_cc + 0.3 * log_staff + d, 100000)

    # Courts.
    rec["court_judgments_defendant_36m"] = _poisson(rng, -2.3 + 0.9 * z + 0.2 * log_staff + d, 10000)
    enf = _poisson(rng, -3.0 + 1.1 * z + d, 10000)
    rec["enforcement_cases_36m"] = enf
    amount = np.round(np.exp(rng.normal(2.5 + 0.3 * log_staff, 1.3)) * np.sqrt(enf), 2)
    rec["enforcement_amount"] = np.where(enf > 0, np.minimum(amount, 1.0e7), 0.0)
    dishonest = rng.random(n) < _sigmoid(-6.0 + 1.3 * z + 1.5 * (enf > 0) + d)
    rec["dishonest_debtor_flag"] = dishonest.astype(np.float64)

    # Environment, customs, construction, food and drug.
    ind_env = np.select([ind == _B, ind == _C, ind == _D, ind == _E], [2.5, 2.0, 1.5, 1.0], default=-0.5)
    rec["env_penalties_24m"] = _poisson(rng, -5.0 + 0.6 * z + ind_env + d, 200)
    trader = rng.random(n) < _sigmoid(
        -4.2 + 1.6 * (pop.size_class >= 1) + 1.2 * (pop.size_class >= 2) + 2.2 * (pop.enterprise_type == 6)
        + 1.0 * np.isin(ind, [_C, _F])
    )  # fmt: skip
    customs_score = -z + rng.normal(0, 0.7, n)
    customs = np.select([customs_score > 1.2, customs_score > -1.8], [0, 1], default=2).astype(np.int32)
    rec["customs_credit_rating"] = np.where(trader, customs, -1).astype(np.int32)
    rec["construction_violations_36m"] = _poisson(rng, -6.5 + 4.0 * (ind == _E) + 0.7 * z + d, 500)
    rec["food_drug_violations_24m"] = _poisson(rng, -6.5 + 3.5 * np.isin(ind, [_H, _F, _Q]) + 0.6 * z + d, 500)

    # Finance: no record for firms without loans (more of them as drift grows).
    has_loans = rng.random(n) < np.clip(0.55 + 0.1 * (pop.size_class >= 1) - 0.1 * drift, 0.05, 0.95)
    rec["bank_loan_overdue_12m"] = np.where(has_loans, _poisson(rng, -2.6 + 1.0 * z + d, 365), np.nan)

    # Procurement, commendations, credit commitments.
    rec["procurement_violations_36m"] = _poisson(rng, -6.0 + 0.6 * z + d, 100)
    rec["commendations_36m"] = _poisson(rng, -3.0 - 0.6 * z + 0.8 * (pop.size_class >= 2), 100)
    rec["credit_commitments_breached"] = _poisson(rng, -4.2 + 0.8 * z + d, 100)
    return rec
