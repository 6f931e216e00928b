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

**Sector drivers** (opt-in: ``generate_registry(..., sector_drivers=True)``; off by default, so
the default registry is unchanged). Each of four sectors (:data:`SECTORS`, groups of GB/T 4754
sections) has items that weigh far more there than elsewhere, one item that counts less there,
and one interaction of two items found only there. A pooled model has one set of slopes for
every sector, and the default GBM's depth-2 trees cannot hold a sector × item × item effect;
a model per sector can fit both. The terms added to the log-odds (:func:`sector_logit`,
:data:`SECTOR_DRIVERS`, :data:`SECTOR_INTERACTIONS`):

* production (B, C, D, E: mining, manufacturing, utilities, construction): +1.5 log(1 +
  administrative penalties), +1.2 log(1 + legal-representative changes), −0.6 min(log(1 + tax
  arrears), 3); +2.0 when the firm is under three years old *and* declares under 50 (万元) of
  capital (or none);
* trade (F, G: wholesale and retail, transport): +1.5 min(log(1 + tax arrears), 3), +1.4 log(1 +
  overdue tax filings), −0.9 (1 − exp(−social-insurance arrears months / 4)); +2.0 when it has
  overdue tax filings *and* fewer than five insured employees (or none recorded);
* food_drug (H, Q, R: catering, health, culture and leisure): +1.4 log(1 + consumer complaints),
  +2.2 exp(−age / 2); +2.0 when it has consumer complaints *and* is under two years old;
* finance (J, K, L: finance, real estate, leasing and business services): +1.6 log(1 + overdue
  bank loans), +1.5 log(1 + active equity pledges), +1.2 log(1 + court judgments as defendant);
  +2.0 when it has active equity pledges *and* declares over 1,000 (万元) of capital.

Other sections (A, I, M, N, O, P, S, T) get no sector term.
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


# Sector name -> GB/T 4754 sections (the ``industry`` levels) whose entities carry its drivers.
SECTORS: dict[str, tuple[str, ...]] = {
    "production": ("B", "C", "D", "E"),
    "trade": ("F", "G"),
    "food_drug": ("H", "Q", "R"),
    "finance": ("J", "K", "L"),
}
# Sector name -> (item, weight, transform) terms, as described in the module docstring.
SECTOR_DRIVERS: dict[str, tuple[tuple[str, float, str], ...]] = {
    "production": (("admin_penalties_24m", 1.5, "log1p"), ("legal_rep_changes_36m", 1.2, "log1p"),
                   ("tax_arrears_amount", -0.6, "log1p_cap3")),
    "trade": (("tax_arrears_amount", 1.5, "log1p_cap3"), ("overdue_tax_filings_24m", 1.4, "log1p"),
              ("social_insurance_arrears_months", -0.9, "saturate4")),
    "food_drug": (("consumer_complaints_12m", 1.4, "log1p"), ("age_years", 2.2, "young2")),
    "finance": (("bank_loan_overdue_12m", 1.6, "log1p"), ("equity_pledges_active", 1.5, "log1p"),
                ("court_judgments_defendant_36m", 1.2, "log1p")),
}  # fmt: skip
# Sector name -> (weight, (item, test, threshold), (item, test, threshold)): weight when both hold.
# A missing value passes "lt" (none declared or recorded) and fails "gt".
SECTOR_INTERACTIONS: dict[str, tuple[float, tuple[str, str, float], tuple[str, str, float]]] = {
    "production": (2.0, ("age_years", "lt", 3.0), ("registered_capital", "lt", 50.0)),
    "trade": (2.0, ("overdue_tax_filings_24m", "gt", 0.0), ("employees_insured", "lt", 5.0)),
    "food_drug": (2.0, ("consumer_complaints_12m", "gt", 0.0), ("age_years", "lt", 2.0)),
    "finance": (2.0, ("equity_pledges_active", "gt", 0.0), ("registered_capital", "gt", 1000.0)),
}
_TRANSFORMS = {
    "log1p": lambda v: np.log1p(_nz(v)),
    "log1p_cap3": lambda v: np.minimum(np.log1p(_nz(v)), 3.0),
    "saturate3": lambda v: 1.0 - np.exp(-_nz(v) / 3.0),
    "saturate4": lambda v: 1.0 - np.exp(-_nz(v) / 4.0),
    "identity": lambda v: _nz(v),
    "young2": lambda v: np.exp(-v / 2.0),
}


def sector_of(industry: np.ndarray) -> np.ndarray:
    """The sector index (into :data:`SECTORS`) of each industry index; -1 for none."""
    from credit_grading.synth.population import INDUSTRIES

    codes = [c for c, _ in INDUSTRIES]
    lut = np.full(len(codes), -1, dtype=np.int64)
    for s, sections in enumerate(SECTORS.values()):
        for c in sections:
            lut[codes.index(c)] = s
    return lut[industry]


def sector_logit(pop: Population, rec: dict[str, np.ndarray]) -> np.ndarray:
    """The sector drivers' log-odds (0 outside the five sectors), added to :func:`risk_logit`."""
    sector = sector_of(pop.industry)
    out = np.zeros(pop.n)
    for s, name in enumerate(SECTORS):
        rows = sector == s
        for item, weight, how in SECTOR_DRIVERS[name]:
            v = pop.age_years if item == "age_years" else rec[item]
            out[rows] += weight * _TRANSFORMS[how](v[rows])
        weight, *tests = SECTOR_INTERACTIONS[name]
        both = rows.copy()
        for item, test, threshold in tests:
            v = pop.age_years if item == "age_years" else rec[item]
            both &= np.isnan(v) | (v < threshold) if test == "lt" else ~np.isnan(v) & (v > threshold)
        out[both] += weight
    return out


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
