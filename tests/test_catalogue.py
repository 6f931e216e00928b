import pytest

from credit_grading.catalogue import Catalogue, CatalogueItem, Direction, ItemType, load_catalogue
from credit_grading.exceptions import CatalogueError, ConfigError

# Items the issue names as realistic; each must be in the shipped catalogue.
EXPECTED_ITEMS = {
    "registered_capital", "firm_age_years", "enterprise_type", "industry", "district", "employees_insured",
    "tax_credit_rating", "overdue_tax_filings_24m", "tax_arrears_amount", "social_insurance_arrears_months",
    "admin_penalties_24m", "severe_penalties_24m", "court_judgments_defendant_36m", "enforcement_cases_36m",
    "enforcement_amount", "dishonest_debtor_flag", "abnormal_operations_flag", "serious_untrustworthy_flag",
    "annual_report_on_time", "legal_rep_changes_36m", "address_changes_36m", "equity_pledges_active",
    "env_penalties_24m", "product_quality_failures_24m", "customs_credit_rating", "consumer_complaints_12m",
    "procurement_violations_36m", "commendations_36m", "credit_commitments_breached",
}  # fmt: skip


def test_shipped_catalogue_size_and_sources(catalogue):
    assert len(catalogue.items) >= 30
    used = {it.source for it in catalogue.items}
    assert len(used) >= 8
    for dep in ("samr", "tax", "court", "hrss", "env", "customs", "housing", "mpa", "finance"):
        assert dep in used
    assert {it.id for it in catalogue.items} >= EXPECTED_ITEMS


def test_every_shipped_item_is_fully_documented(catalogue):
    for it in catalogue.items:
        assert it.name_zh and it.name_en, it.id
        assert it.source and catalogue.department(it.source) is not None, it.id
        assert it.missing.meaning_zh and it.missing.meaning_en, it.id
        if it.type is ItemType.NUMERIC:
            assert it.unit and it.min is not None and it.max is not None, it.id
        if it.type is ItemType.CATEGORICAL:
            assert all(lv.name_zh and lv.name_en for lv in it.levels), it.id


def test_directions_and_personal_data(catalogue):
    assert catalogue.item("tax_arrears_amount").direction is Direction.INCREASING
    assert catalogue.item("registered_capital").direction is Direction.DECREASING
    assert catalogue.item("firm_age_years").direction is Direction.DECREASING
    assert catalogue.item("industry").direction is Direction.NONE
    personal = {it.id for it in catalogue.items if it.personal_data}
    assert personal == {"legal_rep_name", "legal_rep_id_number"}
    # The ID number never leaves; the name may appear on a published list, masked (test_publish).
    assert catalogue.item("legal_rep_id_number").disclosure.value == "internal"
    assert catalogue.item("legal_rep_name").disclosure.value == "public"
    # 16 districts, GB/T 4754 sections A..T.
    assert len(catalogue.item("district").levels) == 16
    assert catalogue.item("industry").level_codes == tuple("ABCDEFGHIJKLMNOPQRST")
    assert len(catalogue.features) >= 30
    assert not any(it.type in (ItemType.TEXT, ItemType.DATE) for it in catalogue.features)


def test_unknown_item_names_the_known_ones(catalogue):
    with pytest.raises(CatalogueError, match="unknown catalogue item 'tax_rating'.*tax_credit_rating"):
        catalogue.item("tax_rating")


def test_inconsistent_items_are_rejected():
    with pytest.raises(ValueError, match="needs a non-empty 'levels'"):
        CatalogueItem(id="x", type="categorical")
    with pytest.raises(ValueError, match="min 5.0 greater than max 1.0"):
        CatalogueItem(id="x", type="numeric", min=5, max=1)
    with pytest.raises(ValueError, match="repeats level code"):
        CatalogueItem(id="x", type="categorical", levels=[{"code": "a"}, {"code": "a"}])
    with pytest.raises(ValueError, match="risk direction applies to numeric and flag"):
        CatalogueItem(id="x", type="categorical", levels=[{"code": "a"}], direction="increasing")
    with pytest.raises(ValueError, match="appear more than once"):
        Catalogue(items=[CatalogueItem(id="a", type="flag"), CatalogueItem(id="a", type="flag")])
    with pytest.raises(ValueError, match="not a department"):
        Catalogue(departments=[{"id": "tax"}], items=[CatalogueItem(id="a", type="flag", source="courts")])


def test_bad_catalogue_file_names_file_path_and_value(tmp_path):
    p = tmp_path / "cat.yaml"
    p.write_text("items:\n  - id: a\n    type: numeric\n  - id: b\n    type: bool\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_catalogue(p)
    msg = str(exc.value)
    assert str(p) in msg
    assert "items[1].type" in msg
    assert "'bool'" in msg
    assert "'numeric'" in msg and "'categorical'" in msg  # what is allowed


def test_subset_keeps_dates_that_items_derive_from(catalogue):
    sub = catalogue.subset(["firm_age_years", "industry"])
    assert {it.id for it in sub.items} == {"firm_age_years", "established_on", "industry"}
