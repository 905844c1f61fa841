"""Score review of the bundled example: each catalogue §9 judgement (issue #4 "Done when")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jixiao.findings import Finding, Severity
from jixiao.pipeline import load_model
from jixiao.score import ScoreReview, load_rubric, score_file_model, score_model

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "workbook_templates"
sys.path.insert(0, str(TEMPLATES))

import build_templates as bt  # noqa: E402


@pytest.fixture(scope="module")
def seed(tmp_path_factory) -> Path:
    return bt.build_example(tmp_path_factory.mktemp("seed") / "example.xlsx")


@pytest.fixture(scope="module")
def scored(seed) -> tuple[ScoreReview, list[Finding]]:
    return score_model(load_model(seed), load_rubric())


def _row(review: ScoreReview, annex: str, row: int):
    return next(r for t in review.tables if t.annex == annex for r in t.rows if r.row == row)


def _at(findings: list[Finding], sheet: str, cell: str) -> dict[str, Severity]:
    return {f.rule: f.severity for f in findings if f.sheet == sheet and f.cell == cell}


def test_annex2_execution_scored_9_where_formula_gives_10(scored):
    review, findings = scored
    r = _row(review, "附件二", 5)
    assert (r.kind, r.weight, r.reported, r.recomputed, r.verdict) == ("执行率", 10, 9, 10, "少评")
    assert _at(findings, "附件二", "H5") == {"WARN-12": Severity.WARNING}


def test_annex3_execution_9_98_accepted_at_integer_precision(scored):
    review, findings = scored
    r = _row(review, "附件三", 6)
    assert r.recomputed == pytest.approx(9.9789, abs=1e-4)
    assert r.verdict == "一致"
    assert _at(findings, "附件三", "H6") == {}


def test_banwen_banhui_met_but_deducted_without_explanation(scored):
    review, findings = scored
    r = _row(review, "附件二", 14)
    assert (r.recomputed, r.reported, r.verdict) == (13, 12, "少评")
    f = next(f for f in findings if f.rule == "WARN-07" and f.cell == "H14")
    assert f.severity is Severity.WARNING and not f.explained
    assert "未填写偏差原因" in f.message and "13" in f.message and "12" in f.message
    # 2642/2000 = 1.32 is also above the 30 % over-achievement threshold.
    assert _at(findings, "附件二", "H14") == {"WARN-07": Severity.WARNING, "WARN-08": Severity.WARNING}


@pytest.mark.parametrize("annex,rows", [("附件二", (15, 19, 20, 21, 22)), ("附件三", (14, 19, 21))])
def test_actual_copied_from_target_cannot_be_verified(scored, annex, rows):
    review, findings = scored
    for n in rows:
        r = _row(review, annex, n)
        assert r.actual.startswith("≥") and r.kind == "照抄"
        assert r.verdict == "无法复核"
        assert r.recomputed == [0, r.weight]  # no verified points
        assert _at(findings, annex, f"H{n}") == {}  # the defect itself is the check stage's WARN-02


@pytest.mark.parametrize("annex,row,reported", [("附件二", 18, 5), ("附件三", 17, 6), ("附件三", 20, 6)])
def test_wu_rows_carrying_points_are_over_scored(scored, annex, row, reported):
    review, findings = scored
    r = _row(review, annex, row)
    assert r.kind == "无指标" and r.indicator.startswith("无（") and r.indicator.endswith("指标）")
    assert (r.reported, r.recomputed, r.verdict) == (reported, 0, "多评")
    assert _at(findings, annex, f"H{row}") == {}  # reported by the check stage (WARN-03/WARN-04)


def test_159_against_10_is_over_achievement_with_unit_mismatch(scored):
    review, findings = scored
    r = _row(review, "附件三", 13)
    assert (r.recomputed, r.reported, r.verdict) == (13, 12, "少评")
    assert _at(findings, "附件三", "H13") == {"WARN-07": Severity.WARNING, "WARN-08": Severity.WARNING}
    over = next(f for f in findings if f.rule == "WARN-08" and f.cell == "H13")
    assert "15.90 倍" in over.message
    assert _at(findings, "附件三", "F13") == {"WARN-09": Severity.WARNING}


def test_time_target_in_a_later_year(scored):
    review, findings = scored
    assert _at(findings, "附件三", "E15") == {"WARN-10": Severity.WARNING}
    assert _row(review, "附件三", 15).verdict == "无法复核"  # "2024年" copied into 实际完成值


def test_cost_met_but_deducted(scored):
    review, findings = scored
    r = _row(review, "附件三", 16)
    assert (r.recomputed, r.reported, r.verdict) == (12, 10, "少评")
    assert _at(findings, "附件三", "H16") == {"WARN-07": Severity.WARNING}


def test_qualitative_row_is_a_range(scored):
    review, _ = scored
    r = _row(review, "附件三", 18)  # 起到示范作用 -> 达到年度目标
    assert r.kind == "定性" and r.recomputed == [6.4, 8] and r.verdict == "一致"


def test_unquantified_target_cannot_be_verified(scored):
    review, findings = scored
    r = _row(review, "附件二", 17)  # "≤万元"
    assert r.verdict == "无法复核" and _at(findings, "附件二", "H17") == {}


def test_totals_and_grades(scored):
    review, findings = scored
    a2, a3 = review.tables
    assert (a2.annex, a3.annex, a3.project) == ("附件二", "附件三", "业务经费")
    assert a2.reported_total == 90 and a2.grade_reported == "优"  # 90 is 优 (inclusive)
    assert a2.recomputed_total == 87 and a2.grade_recomputed == "良"  # 90 + 1 + 1 - 5
    assert a2.recomputed_range == (36, 93)
    assert a2.weight_sum == 100
    assert a2.level1_weights == {"产出指标": 50, "效益指标": 30, "满意度指标": 10}
    assert [(g["group"], g["expected"], g["found"]) for g in a2.groups] == [
        ("执行率", 10, 10), ("产出指标", 50, 50), ("效益指标", 30, 30), ("满意度指标", 10, 10)]
    assert a3.reported_total == 90 and a3.recomputed_total == pytest.approx(80.9789)
    g1 = [f for f in findings if f.rule == "NAT-G1"]
    assert [(f.sheet, f.cell, f.severity) for f in g1] == [("附件二", "H23", Severity.INFO),
                                                          ("附件三", "H22", Severity.INFO)]
    assert not any(f.rule == "WARN-15" for f in findings)  # 90 < 95


def test_every_finding_is_well_formed(scored):
    _, findings = scored
    allowed = {"WARN-06", "WARN-07", "WARN-08", "WARN-09", "WARN-10", "WARN-12", "WARN-15", "WARN-16",
               "NAT-Q2", "NAT-Q3", "NAT-Q4", "NAT-QL1", "NAT-G1"}
    for f in findings:
        assert f.rule in allowed and f.annex in ("附件二", "附件三") and f.cell and f.title
        assert any("\u4e00" <= ch <= "\u9fff" for ch in f.message)
    # Exactly the §9 set, nothing else.
    assert sorted((f.sheet, f.cell, f.rule) for f in findings) == sorted([
        ("附件二", "H5", "WARN-12"), ("附件二", "H14", "WARN-07"), ("附件二", "H14", "WARN-08"),
        ("附件二", "H23", "NAT-G1"), ("附件三", "F13", "WARN-09"), ("附件三", "H13", "WARN-07"),
        ("附件三", "H13", "WARN-08"), ("附件三", "E15", "WARN-10"), ("附件三", "H16", "WARN-07"),
        ("附件三", "H22", "NAT-G1")])


def test_outputs_json_rows_and_rich_table(scored):
    review, _ = scored
    data = json.loads(json.dumps(review.to_json(), ensure_ascii=False))
    assert data["title"] == "评分复核" and data["profile"] == "hunan-county-2023"
    assert (data["reported_total"], data["recomputed_total"], data["recomputed_grade"]) == (90, 87, "良")
    row = data["tables"][0]["rows"][0]
    for key in ("row", "indicator", "target", "actual", "weight", "reported", "recomputed", "verdict"):
        assert key in row
    rows = list(review.rows())
    assert len(rows) == 10 + 1 + 10 + 1  # per table: rows then a 合计 row
    assert rows[10]["indicator"] == "合计" and rows[10]["reported"] == 90
    assert rows[2]["recomputed"] == "0–12"
    from rich.console import Console

    console = Console(record=True, width=160)
    console.print(review.rich_table())
    text = console.export_text()
    for head in ("评分复核", "行", "指标", "目标值", "实际值", "分值", "自评", "复核", "结论", "办文办会", "无法复核"):
        assert head in text


def test_score_file_model_uses_the_pack(seed):
    review, findings = score_file_model(load_model(seed))
    assert review.profile == "hunan-county-2023" and findings


def test_score_file_model_leaves_pack_rules_to_the_check_stage(seed):
    class Rule:
        def __init__(self, rule_id: str) -> None:
            self.id = rule_id

    class FakePack:  # the shape of check.rulepack.Pack that the scorer uses
        def __init__(self) -> None:
            self.rubric: dict = {}

        def enabled_rules(self) -> list[Rule]:
            return [Rule("WARN-09"), Rule("WARN-10"), Rule("WARN-15")]

    review, findings = score_file_model(load_model(seed), pack=FakePack())
    assert not {"WARN-09", "WARN-10", "WARN-15"} & {f.rule for f in findings}
    assert {"WARN-12", "WARN-07", "WARN-08", "NAT-G1"} <= {f.rule for f in findings}
    assert "WARN-09" in next(r for r in review.tables[1].rows if r.row == 13).rules  # still named in the review


def test_cli_subprocess(seed, tmp_path):
    """A real CLI run; uses `--format json` once the CLI has it, else scores the `--dump` model."""
    help_text = subprocess.run([sys.executable, "-m", "jixiao", "--help"], capture_output=True, text=True,
                               encoding="utf-8").stdout
    if "--format" in help_text:
        cmd = [sys.executable, "-m", "jixiao", str(seed), "--format", "json"]
        if "--out" in help_text:
            cmd += ["--out", str(tmp_path)]
        p = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8")
        assert p.returncode in (1, 2), p.stderr
        data = json.loads(p.stdout)
        files = data.get("files", [data]) if isinstance(data, dict) else data
        doc = files[0]
        review = doc["review"]
        assert review["title"] == "评分复核" and review["recomputed_total"] == 87
        assert review["recomputed_grade"] == "良" and review["reported_grade"] == "优"
        keys = [(f["rule"], f["sheet"], f["cell"]) for f in doc["findings"]]
        assert len(keys) == len(set(keys))  # nothing reported twice
        found = set(keys)
        for key in (("WARN-12", "附件二", "H5"), ("WARN-07", "附件二", "H14"), ("WARN-08", "附件三", "H13"),
                    ("WARN-09", "附件三", "F13"), ("WARN-10", "附件三", "E15"), ("WARN-07", "附件三", "H16"),
                    ("NAT-G1", "附件二", "H23")):
            assert key in found, key
        sev = {(f["rule"], f["cell"]): f["severity"] for f in doc["findings"] if f["sheet"] == "附件二"}
        assert sev[("WARN-12", "H5")] == "warning" and sev[("WARN-07", "H14")] == "warning"
        if "--profile" in help_text:
            p = subprocess.run([*cmd, "--profile", "hubei"], capture_output=True, text=True, encoding="utf-8")
            assert json.loads(p.stdout)["files"][0]["review"]["profile"] == "hubei"
            p = subprocess.run([*cmd, "--profile", "nowhere"], capture_output=True, text=True, encoding="utf-8")
            assert p.returncode == 3 and "评分配置" in p.stderr
    else:
        p = subprocess.run([sys.executable, "-m", "jixiao", str(seed), "--dump"], capture_output=True, text=True,
                           encoding="utf-8")
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["annex2"]["funds"]["values"]["自评得分"]["cell"] == "H5"
