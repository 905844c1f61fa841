"""Rounding-aware arithmetic: intervals, truncation, display precision, shares."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jixiao.check import check_model, load_pack
from jixiao.check.expr import Env, compile_expr
from jixiao.check.intervals import FALSE, SKIP, TRUE, UNKNOWN, Num, eq, le, lt
from jixiao.findings import Severity
from jixiao.model import Value
from jixiao.pipeline import load_model
from test_check_support import corrected_bytes, edited_bytes


def v(number: float | None, decimals: int = 2, *, cell: str = "A1", unit: str | None = None) -> Value:
    return Value(sheet="S", cell=cell, text="" if number is None else str(number), number=number,
                 decimals=None if number is None else decimals, unit=unit, blank=number is None)


def holds(src: str, **names: object) -> int:
    c = compile_expr(src)
    return c.fn(Env(ns=dict(names)))


# --- the interval primitives ------------------------------------------------------------------


def test_rounded_and_truncated_intervals() -> None:
    r = Num.rounded(0.9117, 4)
    assert r.lo == pytest.approx(0.91165) and r.hi == pytest.approx(0.91175)
    t = Num.truncated(0.9117, 4)
    assert t.lo == pytest.approx(0.9117) and t.hi == pytest.approx(0.9118)
    assert Num.truncated(-1.5, 1).lo == pytest.approx(-1.6)


def test_comparisons_are_three_valued() -> None:
    a, b = Num.rounded(10.29, 2), Num.exact(10.29)
    assert eq(a, b) == UNKNOWN and eq(b, b) == TRUE and eq(Num.exact(10.3), b) == FALSE
    assert le(Num.exact(1), Num.exact(2)) == TRUE and le(Num.exact(3), Num.exact(2)) == FALSE
    assert le(Num.rounded(2, 0), Num.exact(2)) == UNKNOWN
    assert lt(Num.exact(2), Num.exact(2)) == FALSE
    # floating point noise is not a mismatch
    assert eq(Num.exact(0.1) + Num.exact(0.2), Num.exact(0.3)) == TRUE


def test_division_by_an_interval_around_zero_is_not_applicable() -> None:
    assert Num.exact(1).div(Num.rounded(0, 2)) is None
    assert holds("甲 = 乙 / 丙", 甲=v(0.5), 乙=v(1), 丙=v(0, 0)) == SKIP


@given(st.integers(1, 10_000), st.integers(1, 10_000))
def test_a_correctly_rounded_ratio_is_always_accepted(num: int, den: int) -> None:
    shown = round(num / den, 4)
    assert holds("率 = 分子 / 分母", 率=v(shown, 4), 分子=v(num, 0), 分母=v(den, 0)) != FALSE


@given(st.lists(st.decimals(min_value=0, max_value=10_000, places=2), min_size=1, max_size=6))
def test_a_sum_of_two_decimal_amounts_is_always_accepted(parts: list) -> None:
    total = sum(parts)
    names = {f"项{i}": v(float(p), 2) for i, p in enumerate(parts)}
    expr = "合计 = " + " + ".join(names)
    assert holds(expr, 合计=v(float(total), 2), **names) != FALSE


# --- blanks, shares ---------------------------------------------------------------------------


def test_blank_operands_count_as_zero_only_next_to_a_filled_one() -> None:
    assert holds("合计 = 甲 + 乙", 合计=v(4), 甲=v(None), 乙=v(4)) != FALSE
    assert holds("合计 = 甲 + 乙", 合计=v(4), 甲=v(None), 乙=v(None)) == SKIP
    assert holds("合计 = 甲 + 乙", 合计=v(None), 甲=v(1), 乙=v(2)) == SKIP
    assert holds("合计 = coalesce(小计, 甲 + 乙)", 合计=v(3), 小计=v(None), 甲=v(1), 乙=v(2)) == UNKNOWN


@pytest.mark.parametrize(("a", "b", "ok"), [
    (0.6654, 0.3346, True),   # 100.00
    (0.6654, 0.3345, True),   # 99.99: each share rounded on its own
    (0.6655, 0.3346, True),   # 100.01
    (0.6654, 0.3343, False),  # 99.97: not explainable by rounding
])
def test_shares_adding_to_99_99_or_100_01_are_accepted(a: float, b: float, ok: bool) -> None:
    res = holds("甲 + 乙 = 100%", 甲=v(a, 4, unit="%"), 乙=v(b, 4, unit="%"))
    assert (res != FALSE) is ok


def test_share_consistent_with_rounded_inputs() -> None:
    # seed report: 957.19 / 1438.46 = 66.54 %, both amounts themselves rounded
    assert holds("占比 = 基本 / 总", 占比=v(0.6654, 4), 基本=v(957.19), 总=v(1438.46)) != FALSE
    assert holds("占比 = 基本 / 总", 占比=v(0.6656, 4), 基本=v(957.19), 总=v(1438.46)) == FALSE


# --- on real workbooks: 62 / 68 ---------------------------------------------------------------


@pytest.mark.parametrize(("shown", "rule", "severity"), [
    ("91.17%", "ROUND-TRUNC", Severity.INFO),  # truncated: a separate note, not an error
    ("91.18%", None, None),                    # correctly rounded
    (0.9118, None, None),                      # a percent-formatted number cell
    ("91.1765%", None, None),
    ("91.2%", "ROUND-PREC", Severity.INFO),    # consistent only at one decimal
    ("91.10%", "BDT-1", Severity.ERROR),       # wrong
    ("91%", "ROUND-PREC", Severity.INFO),      # stands for [90.5 %, 91.5 %]: consistent, too few decimals
    ("92%", "BDT-1", Severity.ERROR),
])
def test_staffing_control_rate(tmp_path: Path, shown: object, rule: str | None, severity: Severity | None) -> None:
    path = tmp_path / "w.xlsx"
    path.write_bytes(edited_bytes({"附件一!F4": shown}, corrected_bytes()))
    found = [f for f in check_model(load_model(path), load_pack()) if f.cell == "F4" and f.sheet == "附件一"]
    if rule is None:
        assert found == []
    else:
        assert [(f.rule, f.severity) for f in found] == [(rule, severity)]
