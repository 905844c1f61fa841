"""Property-based tests of the rubric arithmetic (hypothesis).

- the recomputed score always lies in [0, 分值];
- a met target always scores full marks;
- the score is monotone in the actual value (non-decreasing for ≥, non-increasing for ≤);
and the same through whole indicator rows parsed from text ("≥95%", "2642次").
"""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from jixiao.model import IndicatorRow, Value
from jixiao.normalize import parse_value
from jixiao.score import Rubric
from jixiao.score.indicator import execution_score, qualitative_range, quantitative_score, recompute_indicator

OPS = (">=", ">", "<=", "<", "=")
num = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
pos = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
weight = st.floats(min_value=0, max_value=100, allow_nan=False, allow_infinity=False)
RUBRIC = Rubric()


@given(st.sampled_from(OPS), num, num, weight, st.booleans())
def test_score_within_bounds(op, target, actual, w, rate):
    s, _ = quantitative_score(op, target, actual, w, rate=rate)
    assert 0 <= s <= w


@given(st.sampled_from(OPS), num, num, weight, st.booleans())
def test_met_target_scores_full_marks(op, target, actual, w, rate):
    s, met = quantitative_score(op, target, actual, w, rate=rate)
    if met:
        assert s == w


@given(num, pos, weight)
def test_met_positive_target_is_met(target, extra, w):
    assume(target + extra > target)
    assert quantitative_score(">=", target, target + extra, w) == (w, True)
    assert quantitative_score("<=", target, target - extra, w) == (w, True)


@given(st.sampled_from((">=", ">")), num, num, num, weight)
def test_positive_score_non_decreasing(op, target, a, b, w):
    lo, hi = sorted((a, b))
    assert quantitative_score(op, target, lo, w)[0] <= quantitative_score(op, target, hi, w)[0] + 1e-9


@given(st.sampled_from(("<=", "<")), num, num, num, weight)
def test_negative_score_non_increasing(op, target, a, b, w):
    lo, hi = sorted((a, b))
    assert quantitative_score(op, target, lo, w)[0] >= quantitative_score(op, target, hi, w)[0] - 1e-9


@given(st.floats(min_value=-1, max_value=5, allow_nan=False), st.floats(min_value=-1, max_value=5, allow_nan=False),
       weight)
def test_execution_score_bounded_and_monotone(a, b, w):
    lo, hi = sorted((a, b))
    assert 0 <= execution_score(lo, w) <= execution_score(hi, w) <= w
    if hi >= 1:
        assert execution_score(hi, w) == w


@given(weight)
def test_qualitative_bands_within_bounds(w):
    for band in RUBRIC.bands:
        lo, hi = qualitative_range(band, w)
        assert 0 <= lo <= hi <= w + 1e-9


# --- through parsed rows --------------------------------------------------------------------------


def _v(cell: str, raw: object, kind: str) -> Value:
    p = parse_value(raw, kind)
    return Value(sheet="附件三", cell=cell, raw=raw, text=p.text, number=p.number, decimals=p.decimals,
                 unit=p.unit, op=p.op, na=p.na, blank=p.blank)


def _row(target: str, actual: object, w: int, level2: str = "数量指标") -> IndicatorRow:
    return IndicatorRow(
        row=13, level1=_v("B13", "产出指标", "text"), level1_name="产出指标", level1_weight=50,
        level2=_v("C13", level2, "text"), level3=_v("D13", "指标", "text"), target=_v("E13", target, "target"),
        actual=_v("F13", actual, "target"), weight=_v("G13", w, "number"), score=_v("H13", w, "number"),
        explanation=_v("I13", None, "text"))


units = st.sampled_from(("次", "%", "万元", "个", ""))


@settings(max_examples=200)
@given(st.sampled_from(("≥", "≤", "")), st.integers(1, 5000), st.integers(0, 10000), st.integers(0, 10000),
       st.integers(1, 30), units)
def test_rows_bounded_and_monotone(sym, target, a, b, w, unit):
    lo_a, hi_a = sorted((a, b))
    r1 = recompute_indicator(_row(f"{sym}{target}{unit}", f"{lo_a}{unit}", w), RUBRIC, 2023)
    r2 = recompute_indicator(_row(f"{sym}{target}{unit}", f"{hi_a}{unit}", w), RUBRIC, 2023)
    for r in (r1, r2):
        assert r.lo is not None and r.hi is not None
        assert 0 <= r.lo <= r.hi <= w
        if r.met:
            assert r.lo == r.hi == w
    if sym in ("≥", ""):
        assert r1.lo <= r2.lo + 1e-9
    else:
        assert r1.lo >= r2.lo - 1e-9


@given(st.text(max_size=12), st.text(max_size=12), st.integers(0, 30))
def test_any_text_row_stays_within_bounds(target, actual, w):
    r = recompute_indicator(_row(target, actual, w), RUBRIC, 2023)
    if r.lo is not None and r.hi is not None:
        assert 0 <= r.lo <= r.hi <= w
