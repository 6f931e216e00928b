"""The documented ground-truth risk process of the synthetic registry.

``true_pd`` is a logistic function of the observable items only (so the best achievable
model is known: the oracle), with non-linear effects and three interactions:

* young firms (under two years) with tax arrears are riskier than either alone suggests;
* construction firms (industry E) with more than two months of social-insurance arrears;
* micro and small firms with enforcement cases.

Each item enters in its catalogue direction: more arrears, penalties, court cases and
adverse flags raise the PD; age, capital, headcount, an annual report filed on time and
commendations lower it. Effects saturate or bend (a scorecard's bins approximate them, a
GBM fits them more closely). The intercept is solved so the mean PD hits the target bad
rate; ``bad_12m`` is drawn from ``true_pd``.
"""

from __future__ import annotations

import numpy as np

from credit_grading.synth.population import Population

# Level effects (log-odds) in catalogue level order.
TAX_EFFECT = np.array([-0.8, -0.25, 0.2, 0.8, 1.5])  # A, B, M, C, D
TAX_MISSING_EFFECT = 0.35
CUSTOMS_EFFECT = np.array([-0.6, 0.0, 1.0])  # advanced_certified, general, untrustworthy
INDUSTRY_EFFECT = np.array(
    [0.1, 0.2, 0.05, -0.2, 0.3, 0.15, 0.1, 0.2, -0.1, -0.1, 0.35, 0.1, -0.15, 0.0, 0.15, 0.0, -0.1, 0.1, -0.3, -0.3]
)
TYPE_EFFECT = np.array([0.0, -0.3, 0.25, 0.2, -0.5, -0.1, -0.2, 0.1])  # ENTERPRISE_TYPES order
OUTER_DISTRICTS = np.array([6, 7, 12, 13, 14, 15])  # mentougou, fangshan, huairou, pinggu, miyun, yanqing


def _nz(x: np.ndarray, fill: float = 0.0) -> np.ndarray:
    return np.where(np.isnan(x), fill, x)


def risk_logit(pop: Population, rec: dict[str, np.ndarray]) -> np.ndarray:
    """Log-odds of a serious untrustworthiness event within 12 months, without intercept."""
    age = pop.age_years
    cap = rec["registered_capital"]
    emp = rec["employees_insured"]
    tax_arrears = rec["tax_arrears_amount"]
    si = rec["social_insurance_arrears_months"]
    enf = rec["enforcement_cases_36m"]
    eta = 1.3 * np.exp(-age / 2.5) - 0.04 * np.minimum(age, 30)
    eta += np.where(np.isnan(cap), 0.3, -0.16 * np.log1p(_nz(cap)))
    eta += np.where(np.isnan(emp), 0.25, np.where(emp < 0, 0.2, -0.14 * np.log1p(np.maximum(_nz(emp), 0))))
    eta += 0.35 * np.log1p(_nz(rec["overdue_tax_filings_24m"]))
    eta += 0.6 * np.minimum(np.log1p(_nz(tax_arrears)), 3.0)
    rating = rec["tax_credit_rating"]
    eta += np.where(rating >= 0, TAX_EFFECT[np.maximum(rating, 0)], TAX_MISSING_EFFECT)
    eta += 0.9 * (1.0 - np.exp(-_nz(si) / 4.0))
    eta += 0.3 * np.log1p(rec["admin_penalties_24m"]) + 0.5 * np.log1p(rec["severe_penalties_24m"])
    eta += 0.25 * np.log1p(rec["legal_rep_changes_36m"]) + 0.15 * np.log1p(rec["address_changes_36m"])
    eta += 0.2 * np.log1p(rec["equity_pledges_active"])
    eta += 0.2 * np.log1p(rec["product_quality_failures_24m"]) + 0.08 * np.log1p(rec["consumer_complaints_12m"])
    eta += 0.35 * np.log1p(rec["court_judgments_defendant_36m"]) + 0.5 * np.log1p(enf)
    eta += 0.05 * np.log1p(rec["enforcement_amount"])
    eta += 1.6 * rec["dishonest_debtor_flag"] + 0.9 * rec["abnormal_operations_flag"]
    eta += 2.0 * rec["serious_untrustworthy_flag"]
    eta += -0.5 * _nz(rec["annual_report_on_time"])
    eta += 0.25 * np.log1p(rec["env_penalties_24m"])
    customs = rec["customs_credit_rating"]
    eta += np.where(customs >= 0, CUSTOMS_EFFECT[np.maximum(customs, 0)], 0.1)
    eta += 0.3 * np.log1p(rec["construction_violations_36m"]) + 0.3 * np.log1p(rec["food_drug_violations_24m"])
    eta += np.where(np.isnan(rec["bank_loan_overdue_12m"]), 0.1, 0.45 * np.log1p(_nz(rec["bank_loan_overdue_12m"])))
    eta += 0.3 * np.log1p(rec["procurement_violations_36m"]) - 0.3 * np.log1p(rec["commendations_36m"])
    eta += 0.5 * np.log1p(rec["credit_commitments_breached"])
    eta += INDUSTRY_EFFECT[pop.industry] + TYPE_EFFECT[pop.enterprise_type]
    eta += 0.1 * np.isin(pop.district, OUTER_DISTRICTS)
    # Interactions.
    eta += 0.9 * ((age < 2.0) & (_nz(tax_arrears) > 0))
    eta += 0.7 * ((pop.industry == 4) & (_nz(si) > 2))
    eta += 0.6 * ((pop.size_class <= 1) & (enf > 0))
    return eta


def solve_intercept(eta: np.ndarray, bad_rate: float) -> float:
    """The intercept b with mean(sigmoid(eta + b)) == bad_rate (bisection, 60 steps)."""
    lo, hi = -30.0, 30.0
    sample = eta if eta.size <= 200_000 else eta[:: max(1, eta.size // 200_000)]
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if np.mean(1.0 / (1.0 + np.exp(-(sample + mid)))) < bad_rate:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def true_pd(eta: np.ndarray, intercept: float) -> np.ndarray:
    """PDs strictly inside (0, 1)."""
    return np.clip(1.0 / (1.0 + np.exp(-(eta + intercept))), 1e-6, 1 - 1e-6)
