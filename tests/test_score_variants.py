"""Score review on edited copies of the bundled example: every verdict and rule id of the scorer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from jixiao.findings import Finding, Severity
from jixiao.pipeline import load_model
from jixiao.score import ScoreReview, load_rubric, score_model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workbook_templates"))

import build_templates as bt  # noqa: E402


@pytest.fixture(scope="module")
def seed(tmp_path_factory) -> Path:
    return bt.build_example(tmp_path_factory.mktemp("seed") / "example.xlsx")


def variant(seed: Path, tmp_path: Path, edits: dict[tuple[str, str], Any], profile: str | None = None
            ) -> tuple[ScoreReview, list[Finding]]:
    """Copy the seed, set cells ({(sheet, cell): value}), score it."""
    wb = load_workbook(seed)
    for (sheet, cell), value in edits.items():
        wb[sheet][cell] = value
    path = tmp_path / "variant.xlsx"
    wb.save(path)
    return score_model(load_model(path), load_rubric(profile=profile))


def row(review: ScoreReview, annex: str, n: int):
    return next(r for t in review.tables if t.annex == annex for r in t.rows if r.row == n)


def at(findings: list[Finding], sheet: str, cell: str) -> dict[str, Severity]:
    return {f.rule: f.severity for f in findings if f.sheet == sheet and f.cell == cell}


# --- execution rate (WARN-12) ------------------------------------------------------------------


def test_execution_over_scored_is_an_error(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件三", "E6"): 400})  # 400/482.29 = 82.94 %
    r = row(review, "附件三", 6)
    assert r.recomputed == pytest.approx(8.2937, abs=1e-4) and r.verdict == "多评"
    assert at(findings, "附件三", "H6") == {"WARN-12": Severity.ERROR}


def test_execution_score_above_weight_is_left_to_nat_s1(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件二", "H5"): 12})
    assert row(review, "附件二", 5).verdict == "多评"
    assert at(findings, "附件二", "H5") == {}  # the check stage's NAT-S1 (score above 分值)


def test_execution_capped_at_100_percent(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件二", "E5"): 1500, ("附件二", "H5"): 10})
    assert row(review, "附件二", 5).recomputed == 10
    assert at(findings, "附件二", "H5") == {}


def test_execution_rate_taken_as_reported_without_amounts(seed, tmp_path):
    review, _ = variant(seed, tmp_path, {("附件二", "D5"): None, ("附件二", "G5"): "85%", ("附件二", "H5"): 8.5})
    r = row(review, "附件二", 5)
    assert r.recomputed == 8.5 and r.verdict == "一致" and "填报值" in r.basis


# --- quantitative ------------------------------------------------------------------------------


def test_unmet_target_with_full_marks_is_an_error(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件二", "F14"): "1500次", ("附件二", "H14"): 13})
    r = row(review, "附件二", 14)
    assert r.recomputed == 9.75 and r.verdict == "多评"  # 1500/2000 × 13
    assert at(findings, "附件二", "H14") == {"WARN-06": Severity.ERROR}


def test_unmet_positive_target_over_formula_is_an_error(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件二", "F14"): "1500次", ("附件二", "H14"): 12})
    assert row(review, "附件二", 14).verdict == "多评"
    assert at(findings, "附件二", "H14") == {"NAT-Q2": Severity.ERROR}


def test_unmet_positive_target_within_rounding(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件二", "F14"): "1500次", ("附件二", "H14"): 10})
    assert row(review, "附件二", 14).verdict == "一致"  # 9.75 written as 10
    assert at(findings, "附件二", "H14") == {}


def test_unmet_negative_target_under_formula_is_a_warning(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件三", "F16"): "500万元"})  # 482.29/500 × 12 = 11.57
    r = row(review, "附件三", 16)
    assert r.recomputed == pytest.approx(11.575, abs=1e-3) and r.verdict == "少评"
    assert at(findings, "附件三", "H16") == {"NAT-Q3": Severity.WARNING}


def test_equality_target(seed, tmp_path):
    # "﹦"/"＝" rather than "=": openpyxl would store "=2000次" as a formula.
    review, findings = variant(seed, tmp_path, {("附件二", "E14"): "﹦2000次", ("附件二", "F14"): "2500次",
                                                ("附件二", "H14"): 13})
    r = row(review, "附件二", 14)
    assert r.recomputed == pytest.approx(2000 / 2500 * 13) and r.verdict == "多评"
    assert at(findings, "附件二", "H14") == {"WARN-06": Severity.ERROR}


def test_equality_rate_target_counts_as_positive(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件二", "E16"): "＝100%", ("附件二", "F16"): "100%"})
    assert row(review, "附件二", 16).verdict == "一致" and at(findings, "附件二", "H16") == {}


def test_explained_deduction_is_accepted(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件三", "I16"): "成本节约，按实际支出扣分"})
    f = next(f for f in findings if f.cell == "H16")
    assert (f.rule, f.severity, f.explained) == ("WARN-07", Severity.WARNING, True)
    assert f.explanation == "成本节约，按实际支出扣分"
    assert row(review, "附件三", 16).explanation


def test_over_achievement_threshold_is_configurable(seed, tmp_path):
    from jixiao.score import Rubric

    rubric = Rubric.from_dict({"over_achievement": 0.5})
    _, findings = score_model(load_model(seed), rubric)
    assert "WARN-08" not in at(findings, "附件二", "H14")  # 1.32 < 1.5
    assert "WARN-08" in at(findings, "附件三", "H13")  # 15.9


# --- units (WARN-09) -----------------------------------------------------------------------------


def test_money_units_converted(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件三", "F16"): "4812700元", ("附件三", "H16"): 12})
    assert row(review, "附件三", 16).verdict == "一致"
    assert at(findings, "附件三", "F16") == {"WARN-09": Severity.INFO}


def test_percent_missing_in_actual(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件二", "F16"): "99"})
    assert row(review, "附件二", 16).verdict == "一致"
    assert at(findings, "附件二", "F16") == {"WARN-09": Severity.WARNING}


def test_percent_formatted_number_is_not_a_unit_problem(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件二", "F16"): 0.99})
    assert row(review, "附件二", 16).verdict == "一致" and at(findings, "附件二", "F16") == {}


def test_incomparable_units(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件二", "F14"): "2642万元"})
    assert row(review, "附件二", 14).verdict == "无法复核"
    assert at(findings, "附件二", "F14") == {"WARN-09": Severity.WARNING}


# --- time targets (WARN-10) -------------------------------------------------------------------


def test_deadline_met(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件三", "E15"): "2023年12月底前", ("附件三", "F15"): "2023年11月"})
    r = row(review, "附件三", 15)
    assert (r.kind, r.recomputed, r.verdict) == ("时效", 13, "少评")
    assert at(findings, "附件三", "H15") == {"WARN-07": Severity.WARNING}
    assert at(findings, "附件三", "E15") == {}


def test_deadline_missed(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件三", "E15"): "2023年6月底前", ("附件三", "F15"): "2024年3月"})
    r = row(review, "附件三", 15)
    assert r.recomputed == [0, 7.8] and r.verdict == "多评"  # 未达成 band 0–60 %
    assert at(findings, "附件三", "H15") == {"NAT-Q3": Severity.ERROR}
    assert at(findings, "附件三", "F15") == {"WARN-10": Severity.WARNING}


def test_month_only_deadline_uses_the_evaluation_year(seed, tmp_path):
    review, _ = variant(seed, tmp_path, {("附件三", "E15"): "12月底前", ("附件三", "F15"): "2023年10月",
                                         ("附件三", "H15"): 13})
    assert row(review, "附件三", 15).verdict == "一致"


# --- qualitative (NAT-QL1, WARN-16, WARN-06) -------------------------------------------------


@pytest.mark.parametrize("actual,score,verdict,rule,severity", [
    ("达成预期指标", 8, "一致", None, None),
    ("达成预期指标", 6, "一致", None, None),  # 6.4 written as an integer
    ("达成预期指标", 5, "少评", "WARN-16", Severity.WARNING),
    ("部分达成预期指标并具有一定效果", 6, "一致", None, None),
    ("部分达成预期指标并具有一定效果", 7, "多评", "WARN-16", Severity.ERROR),
    ("部分达成预期指标并具有一定效果", 8, "多评", "WARN-06", Severity.ERROR),
    ("未达成预期指标且效果较差", 4, "一致", None, None),
    ("未完成预期指标且效果较差", 4, "一致", None, None),
    ("未完成预期指标且效果较差", 6, "多评", "WARN-16", Severity.ERROR),
])
def test_qualitative_bands(seed, tmp_path, actual, score, verdict, rule, severity):
    review, findings = variant(seed, tmp_path, {("附件三", "F18"): actual, ("附件三", "H18"): score})
    assert row(review, "附件三", 18).verdict == verdict
    assert at(findings, "附件三", "H18") == ({rule: severity} if rule else {})


def test_qualitative_without_grade(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件三", "F18"): "效果一般般"})
    assert row(review, "附件三", 18).verdict == "无法复核"
    assert at(findings, "附件三", "H18") == {"NAT-QL1": Severity.WARNING}


# --- totals (NAT-G1, WARN-15) ---------------------------------------------------------------------


def test_high_total_with_unverifiable_rows(seed, tmp_path):
    edits = {("附件二", f"H{n}"): v for n, v in ((5, 10), (14, 13), (15, 12), (17, 12), (18, 7), (19, 7),
                                                 (20, 8), (23, 100))}
    review, findings = variant(seed, tmp_path, edits)
    assert review.tables[0].reported_total == 100
    assert at(findings, "附件二", "H23").get("WARN-15") is Severity.WARNING


def test_every_row_full_marks_is_info(seed, tmp_path):
    edits = {("附件三", "F13"): "12次", ("附件三", "E15"): "2023年12月底前", ("附件三", "F15"): "2023年12月",
             ("附件三", "F14"): "96%", ("附件三", "F19"): "96%", ("附件三", "F21"): "96%"}
    for n, w in ((13, 13), (15, 13), (16, 12), (18, 8), (19, 7), (21, 10)):
        edits[("附件三", f"H{n}")] = w
    for n in (17, 20):
        for col in "BCDEFGHI":
            if col not in "B":
                edits[("附件三", f"{col}{n}")] = None
    wb = load_workbook(seed)
    for (sheet, cell), value in edits.items():
        try:
            wb[sheet][cell] = value
        except AttributeError:  # a merged cell (二级 label continues)
            pass
    path = tmp_path / "full.xlsx"
    wb.save(path)
    review, findings = score_model(load_model(path), load_rubric())
    t = review.tables[1]
    assert all(r.verdict == "一致" for r in t.rows), [(r.row, r.verdict) for r in t.rows]
    assert at(findings, "附件三", "H22") == {"WARN-15": Severity.INFO, "NAT-G1": Severity.INFO}


def test_zero_target_with_wu_actual_is_met(seed, tmp_path):
    review, _ = variant(seed, tmp_path, {("附件二", "D14"): "安全事故", ("附件二", "E14"): "0次",
                                         ("附件二", "F14"): "无", ("附件二", "H14"): 13})
    assert row(review, "附件二", 14).verdict == "一致"


def test_missing_actual_earns_nothing(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件二", "F16"): None})
    r = row(review, "附件二", 16)
    assert (r.kind, r.recomputed, r.verdict) == ("无实际值", 0, "多评")
    assert at(findings, "附件二", "H16") == {}  # WARN-03 belongs to the check stage


def test_actual_written_as_a_bound_is_not_a_value(seed, tmp_path):
    review, findings = variant(seed, tmp_path, {("附件二", "F15"): "≥97%"})
    r = row(review, "附件二", 15)
    assert (r.kind, r.verdict, r.recomputed) == ("无法复核", "无法复核", [0, 12])
    assert at(findings, "附件二", "H15") == {}
