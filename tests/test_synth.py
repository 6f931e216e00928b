import numpy as np
import pandas as pd
import pytest

from credit_grading.catalogue import Direction
from credit_grading.exceptions import ConfigError
from credit_grading.registry import load_registry, validate_table
from credit_grading.synth import generate_registry, write_registry
from credit_grading.synth.population import draw_population
from credit_grading.synth.records import draw_records
from credit_grading.synth.risk import risk_logit


def _frame(reg):
    df = reg.table.to_pandas()
    df["age"] = (pd.to_datetime(df["as_of"]) - pd.to_datetime(df["established_on"])).dt.days / 365.25
    return df


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_same_seed_gives_byte_identical_files(tmp_path, suffix):
    paths = []
    for i in range(2):
        reg = generate_registry(3000, seed=5, as_of="2025-06-30", invalid_fraction=0.02, drift=0.5)
        paths.append(tmp_path / f"r{i}{suffix}")
        write_registry(reg, paths[-1])
    assert paths[0].read_bytes() == paths[1].read_bytes()
    other = tmp_path / f"other{suffix}"
    write_registry(generate_registry(3000, seed=6, as_of="2025-06-30"), other)
    assert other.read_bytes() != paths[0].read_bytes()


def test_default_bad_rate_and_oracle(big_registry):
    df = big_registry.table.to_pandas()
    assert 0.05 <= df["bad_12m"].mean() <= 0.10
    assert df["true_pd"].between(0, 1, inclusive="neither").all()
    # bad_12m follows true_pd: the top decile of true_pd is far worse than the bottom half.
    q = df["true_pd"].rank(pct=True)
    assert df.loc[q > 0.9, "bad_12m"].mean() > 8 * df.loc[q < 0.5, "bad_12m"].mean()


def test_each_item_moves_risk_in_its_catalogue_direction(big_registry, catalogue):
    df = _frame(big_registry)
    df["firm_age_years"] = df["age"]
    checked = 0
    for item in catalogue.features:
        if item.direction is Direction.NONE:
            continue
        x = pd.to_numeric(df[item.id])
        m = x.notna()
        rho = x[m].rank().corr(df.loc[m, "true_pd"].rank())
        sign = 1 if item.direction is Direction.INCREASING else -1
        assert sign * rho > 0.02, (item.id, rho)
        checked += 1
    assert checked >= 25


def test_realistic_population_and_missingness(big_registry):
    df = _frame(big_registry)
    assert df["district"].nunique() == 16
    assert df["industry"].nunique() >= 18
    assert (df["age"] < 3).mean() > 0.25  # many young firms
    cap = df["registered_capital"].dropna()
    assert cap.quantile(0.99) > 20 * cap.median()  # heavy-tailed capital
    young = df["age"] < 1
    # Young firms have no tax history and no annual report due; older firms do.
    assert df.loc[young, "overdue_tax_filings_24m"].isna().all()
    assert df.loc[young, "tax_credit_rating"].isna().all()
    assert df.loc[young, "annual_report_on_time"].isna().all()
    assert df.loc[~young, "overdue_tax_filings_24m"].notna().all()
    # Thin files get M, and only young firms do (under three years).
    assert (df.loc[df["tax_credit_rating"] == "M", "age"] < 3).all()
    # Small firms are rarely rated by customs; large ones often.
    rated = df["customs_credit_rating"].notna()
    assert rated[df["size_class"] == "micro"].mean() < 0.05
    assert rated[df["size_class"].isin(["medium", "large"])].mean() > 0.3
    # Social-insurance headcount and arrears are missing together.
    assert (df["employees_insured"].isna() == df["social_insurance_arrears_months"].isna()).all()
    # Counts of records are never missing.
    assert df["court_judgments_defendant_36m"].notna().all()


def test_the_risk_process_has_interactions():
    pop = draw_population(4, seed=1)
    rec = draw_records(pop, np.random.default_rng(0), 0.0)
    for key, v in list(rec.items()):
        rec[key] = np.zeros_like(v)
    rec["tax_credit_rating"][:] = 1
    rec["customs_credit_rating"][:] = 1
    same = {k: np.repeat(getattr(pop, k)[:1], 4) for k in ("industry", "enterprise_type", "district", "size_class")}
    pop = pop.__class__(**{**pop.__dict__, **same, "age_years": np.array([0.5, 0.5, 10.0, 10.0])})
    rec["tax_arrears_amount"] = np.array([0.0, 5.0, 0.0, 5.0])
    eta = risk_logit(pop, rec)
    young_effect, old_effect = eta[1] - eta[0], eta[3] - eta[2]
    assert young_effect - old_effect == pytest.approx(0.9)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_injected_defects_are_all_rejected_and_no_clean_row(schema, tmp_path, suffix):
    reg = generate_registry(20_000, seed=3, invalid_fraction=0.02)
    path = tmp_path / f"r{suffix}"
    side = write_registry(reg, path)
    injected = pd.read_csv(side)
    assert len(injected) == 400
    assert injected["defect"].nunique() == 9 and injected["reason"].nunique() == 8
    res = load_registry(path, schema)
    assert res.rows_read == 20_000 == res.rows_valid + res.rows_rejected
    assert set(res.rejects["row_number"]) == set(injected["row_number"])
    got = set(zip(res.rejects["row_number"], res.rejects["reason"], strict=True))
    missing = [(r, c) for r, c in zip(injected["row_number"], injected["reason"], strict=True) if (r, c) not in got]
    assert missing == []


def test_drift_moves_distributions_and_bad_rate_on_the_same_entities():
    base = generate_registry(50_000, seed=4, as_of="2025-06-30")
    later = generate_registry(50_000, seed=4, as_of="2025-12-31", drift=1.0)
    a, b = base.table.to_pandas(), later.table.to_pandas()
    assert (a["uscc"] == b["uscc"]).all()
    assert (a["industry"] == b["industry"]).all()
    assert b["bad_12m"].mean() > 1.25 * a["bad_12m"].mean()
    assert (b["enforcement_cases_36m"] > 0).mean() > 1.3 * (a["enforcement_cases_36m"] > 0).mean()
    assert b["bank_loan_overdue_12m"].isna().mean() > a["bank_loan_overdue_12m"].isna().mean() + 0.05
    # Grades should be sticky: the same entities keep correlated risk across snapshots.
    assert a["true_pd"].rank().corr(b["true_pd"].rank()) > 0.6


def test_arguments_are_checked():
    with pytest.raises(ConfigError, match="rows must be at least 1"):
        generate_registry(0)
    with pytest.raises(ConfigError, match="invalid_fraction must be between 0 and 0.5, got 0.9"):
        generate_registry(10, invalid_fraction=0.9)
    with pytest.raises(ConfigError, match="as_of must be a date"):
        generate_registry(10, as_of="31/12/2025")


def test_clean_synthetic_registry_validates_without_rejects(schema, registry):
    res = validate_table(registry.table, schema)
    assert res.rows_rejected == 0


def test_sector_drivers_are_opt_in_and_move_only_their_sectors():
    from credit_grading.synth.population import INDUSTRIES
    from credit_grading.synth.risk import SECTORS, sector_of

    off = generate_registry(3000, seed=5).table
    assert off.equals(generate_registry(3000, seed=5, sector_drivers=False).table)  # default unchanged
    on = generate_registry(3000, seed=5, sector_drivers=True).table
    for name in off.column_names:  # the records are the same; only the truth and the outcome differ
        if name not in ("true_pd", "bad_12m"):
            assert on.column(name).equals(off.column(name)), name

    def logit(p):
        return np.log(p / (1 - p))

    shift = logit(on.column("true_pd").to_numpy()) - logit(off.column("true_pd").to_numpy())
    codes = [c for c, _ in INDUSTRIES]
    industry = np.array([codes.index(v) for v in off.column("industry").to_pylist()])
    sector = sector_of(industry)
    outside = shift[sector < 0]
    np.testing.assert_allclose(outside, outside[0], atol=1e-9)  # only the intercept moves outside the sectors
    for s, name in enumerate(SECTORS):
        assert np.ptp(shift[sector == s]) > 1.0, name  # inside, the drivers spread the risk


def test_sector_interaction_has_its_documented_weight():
    from credit_grading.synth.risk import sector_logit

    pop = draw_population(4, seed=1)
    rec = draw_records(pop, np.random.default_rng(0), 0.0)
    for key, v in list(rec.items()):
        rec[key] = np.zeros_like(v)
    trade = 5  # F: wholesale and retail
    same = {k: np.repeat(getattr(pop, k)[:1], 4) for k in ("enterprise_type", "district", "size_class")}
    pop = pop.__class__(**{**pop.__dict__, **same, "industry": np.full(4, trade), "age_years": np.full(4, 10.0)})
    rec["overdue_tax_filings_24m"] = np.array([0.0, 2.0, 0.0, 2.0])
    rec["employees_insured"] = np.array([50.0, 50.0, 2.0, 2.0])
    eta = sector_logit(pop, rec)
    few_staff_effect, many_staff_effect = eta[3] - eta[2], eta[1] - eta[0]
    assert few_staff_effect - many_staff_effect == pytest.approx(2.0)
    assert many_staff_effect == pytest.approx(1.4 * np.log1p(2.0))
