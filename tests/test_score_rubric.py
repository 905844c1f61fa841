"""Rubric parameters from the rule pack, profiles (catalogue §8) and grade bands."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

from jixiao.pipeline import load_model
from jixiao.score import Rubric, load_rubric, profile_names, score_model
from jixiao.score.rubric import find_pack_dir

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "rules" / "hunan-county-2023"
sys.path.insert(0, str(ROOT / "workbook_templates"))

import build_templates as bt  # noqa: E402


def test_pack_is_found_and_default_profile():
    assert find_pack_dir() == PACK
    r = load_rubric()
    assert r.profile == "hunan-county-2023"
    assert r.weights == {"执行率": 10, "产出指标": 50, "效益指标": 30, "满意度指标": 10}
    assert [(b.grade, b.lo, b.hi) for b in r.bands] == [("未达成", 0, 0.6), ("部分达成", 0.6, 0.8), ("达成", 0.8, 1)]
    assert r.over_achievement == 0.30 and r.grading
    assert load_rubric(PACK) is r  # parsed once (cached)
    assert load_rubric(PACK / "rubric.yaml") == r


def test_profiles_listed():
    assert set(profile_names()) >= {"national", "hunan-county-2023", "hubei", "sichuan"}


def test_hubei_profile_changes_weights_and_bands():
    r = load_rubric(profile="hubei")
    assert r.weights == {"执行率": 20, "产出指标": 40, "效益指标+满意度指标": 40}
    assert r.band("部分达成").lo == 0.5 and r.band("未达成").hi == 0.5
    assert not r.grading
    assert r.weight_groups() == [("产出指标", ("产出指标",), 40), ("效益指标+满意度指标", ("效益指标", "满意度指标"), 40)]


def test_sichuan_profile_is_10_plus_90():
    r = load_rubric(profile="sichuan")
    assert r.execution_weight == 10 and r.weight_groups() == [("绩效指标", ("*", "绩效指标"), 90)]
    assert r.band_set == "national"


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="未知的评分配置"):
        load_rubric(profile="nowhere")


def test_from_dict_accepts_a_pack_section_and_custom_bands():
    r = Rubric.from_dict({"rubric": {"weights": {"执行率": 15, "产出指标": 45, "效益指标": 30, "满意度指标": 10},
                                     "qualitative_bands": [{"grade": "达成", "lo": 90, "hi": 100},
                                                           {"grade": "部分达成", "lo": 50, "hi": 90},
                                                           {"grade": "未达成", "lo": 0, "hi": 50}],
                                     "grades": [{"grade": "A", "min": 85}, {"grade": "B", "min": 0}]}})
    assert r.execution_weight == 15 and r.band("达成").lo == 0.9 and r.band_set == "custom"
    assert (r.grade(85), r.grade(84.9)) == ("A", "B")


def test_defaults_without_a_file(tmp_path):
    d = Rubric.from_dict({})
    assert (d.weights, d.bands, d.grades, d.profile) == (Rubric().weights, Rubric().bands, Rubric().grades,
                                                          "hunan-county-2023")
    with pytest.raises(FileNotFoundError):
        load_rubric(tmp_path / "missing")


@pytest.mark.parametrize("total,grade", [(100, "优"), (90, "优"), (89.99, "良"), (89.999999999, "优"), (80, "良"),
                                         (79.9, "中"), (60, "中"), (59.99, "差"), (0, "差")])
def test_grade_bands(total, grade):
    assert Rubric().grade(total) == grade


@pytest.mark.parametrize("text,grade", [
    ("达成预期指标", "达成"), ("部分达成预期指标并具有一定效果", "部分达成"), ("未达成预期指标且效果较差", "未达成"),
    ("未完成预期指标且效果较差", "未达成"), ("达到年度目标", "达成"), ("基本完成", "部分达成"), ("已完成", "达成"),
    ("效果明显", "达成"), ("起到示范作用", None)])
def test_grade_strings(text, grade):
    band = Rubric().grade_of_text(text)
    assert (band.grade if band else None) == grade


@pytest.fixture(scope="module")
def partial(tmp_path_factory) -> Path:
    """The seed with 附件三 row 18 graded 部分达成 and scored 4 (= 50 % of 8)."""
    seed = bt.build_example(tmp_path_factory.mktemp("p") / "seed.xlsx")
    wb = load_workbook(seed)
    wb["附件三"]["F18"], wb["附件三"]["H18"] = "部分达成预期指标并具有一定效果", 4
    out = seed.with_name("partial.xlsx")
    wb.save(out)
    return out


def test_switching_profile_changes_the_review(partial):
    model = load_model(partial)
    nat, nat_f = score_model(model, load_rubric(profile="national"))
    hb, hb_f = score_model(model, load_rubric(profile="hubei"))
    sc, _ = score_model(model, load_rubric(profile="sichuan"))
    nrow = next(r for r in nat.tables[1].rows if r.row == 18)
    hrow = next(r for r in hb.tables[1].rows if r.row == 18)
    assert nrow.recomputed == [4.8, 6.4] and nrow.verdict == "少评"  # 60–80 % of 8
    assert hrow.recomputed == [4, 6.4] and hrow.verdict == "一致"  # 50–80 % of 8
    assert any(f.rule == "WARN-16" and f.cell == "H18" for f in nat_f)
    assert not any(f.rule == "WARN-16" for f in hb_f)
    # Weights: expected group sums follow the profile.
    assert [(g["group"], g["expected"], g["found"]) for g in hb.tables[0].groups] == [
        ("执行率", 20, 10), ("产出指标", 40, 50), ("效益指标+满意度指标", 40, 40)]
    assert [(g["group"], g["expected"], g["found"]) for g in sc.tables[0].groups] == [
        ("执行率", 10, 10), ("绩效指标", 90, 90)]
    # Hubei "可以不评级": no grade finding.
    assert not any(f.rule == "NAT-G1" for f in hb_f) and any(f.rule == "NAT-G1" for f in nat_f)
    assert hb.profile == "hubei" and hb.to_json()["profile"] == "hubei"


def test_rubric_from_a_pack_section():
    """`check.rulepack.Pack.rubric` is the raw dict of rubric.yaml; the same dict object gives the same Rubric."""
    import yaml

    from jixiao.score import rubric_from_pack

    raw = yaml.safe_load((PACK / "rubric.yaml").read_text(encoding="utf-8"))
    r = rubric_from_pack(raw)
    assert r.profile == "hunan-county-2023" and r.weights == load_rubric().weights
    assert rubric_from_pack(raw) is r  # built once per pack dict
    assert rubric_from_pack(raw, "hubei").band_set == "variant"
    assert rubric_from_pack({}).profile == "hunan-county-2023"  # no section: the default pack
