"""The rule expression language: syntax sugar, names, functions, and what it refuses."""

from __future__ import annotations

import pytest

from jixiao.check.expr import BLANK, Env, ExprError, compile_expr, preprocess
from jixiao.check.intervals import FALSE, SKIP, TRUE, UNKNOWN
from jixiao.check.namespace import RowNS
from jixiao.model import LabeledRow, Value


def v(number: float | None, decimals: int = 2, text: str | None = None, *, na: bool = False) -> Value:
    blank = number is None and not na and text is None
    return Value(sheet="S", cell="A1", text=text if text is not None else ("" if number is None else str(number)),
                 number=number, decimals=None if number is None else decimals, na=na, blank=blank)


def run(src: str, **ns: object) -> int:
    return compile_expr(src).fn(Env(ns=dict(ns)))


def test_preprocess_sugar() -> None:
    text, quoted = preprocess("`水费、电费、差旅费` ≤ 10% × 公用经费 and 甲 = 乙")
    assert quoted == {"_q0": "水费、电费、差旅费"}
    assert text == "_q0 <= (10/100) * 公用经费 and 甲 == 乙"
    assert preprocess("a >= 1 and b != 2 and c == 3")[0] == "a >= 1 and b != 2 and c == 3"
    assert preprocess("x = '≤ 不变 = 5%'")[0] == "x == '≤ 不变 = 5%'"  # strings are left alone
    assert preprocess("（甲＋乙）＝丙")[0] == "(甲+乙)==丙"


def test_names_paths_and_lists() -> None:
    row = LabeledRow(key="项目支出", label=v(None), values={"本年决算数": v(10)})
    child = LabeledRow(key="业务", label=v(None), values={"本年决算数": v(4)}, parent="项目支出")
    child2 = LabeledRow(key="运行", label=v(None), values={"本年决算数": v(6)}, parent="项目支出")
    ns = RowNS(row)
    ns.children = [RowNS(child), RowNS(child2)]
    assert run("项目支出.本年决算数 = sum(项目支出.明细.本年决算数)", 项目支出=ns) == UNKNOWN
    assert run("项目支出.本年决算数 = 11", 项目支出=ns) == FALSE
    annexes = [{"年度资金总额": RowNS(LabeledRow("年度资金总额", v(None), {"全年执行数": v(x)}))} for x in (1.5, 2.5)]
    assert run("sum(附件三.年度资金总额.全年执行数) = 4", 附件三=annexes) == UNKNOWN


def test_per_column_rows_need_a_column() -> None:
    row = RowNS(LabeledRow("甲", v(None), {"本年决算数": v(3)}))
    c = compile_expr("甲 = 3")
    assert c.fn(Env(ns={"甲": row}, column="本年决算数")) == UNKNOWN
    with pytest.raises(ExprError, match="整行"):
        c.fn(Env(ns={"甲": row}))


def test_functions() -> None:
    assert run("coalesce(甲, 乙) = 2", 甲=v(None), 乙=v(2)) == UNKNOWN
    assert run("ifblank(甲, 3) = 3", 甲=v(None)) == TRUE
    assert run("max(甲, 乙, 丙) = 5", 甲=v(5, 0), 乙=v(None), 丙=v(1, 0)) != FALSE
    assert run("min(甲, 乙) = 1", 甲=v(5, 0), 乙=v(1, 0)) != FALSE
    assert run("abs(甲 - 乙) <= 0.5", 甲=v(1), 乙=v(1.4)) == TRUE
    assert run("filled(甲) and blank(乙)", 甲=v(1), 乙=v(None)) == TRUE
    assert run("na(甲)", 甲=v(None, text="——", na=True)) == TRUE
    assert run("filled(甲)", 甲=v(None, text="——", na=True)) == FALSE
    assert run("count(甲, 乙, 丙) = 2", 甲=v(1), 乙=v(None), 丙=v(3)) == TRUE
    assert run("甲 in (1, 2, 3)", 甲=v(2, 0)) != FALSE
    assert run("甲 not in (1, 3)", 甲=v(2, 0)) == TRUE


def test_text_comparison_and_params() -> None:
    assert run("二级 = '成本指标'", 二级=v(None, text="成本\n指标")) == TRUE
    assert run("二级 != '成本指标'", 二级=v(None, text="数量指标")) == TRUE
    c = compile_expr("甲 >= params.low")
    assert c.fn(Env(ns={"甲": v(0.85)}, params={"low": 0.9})) == FALSE
    assert c.names == {"甲", "params"}


def test_tri_state_logic_with_blanks() -> None:
    assert run("甲 = 1 or 乙 = 2", 甲=v(None), 乙=v(3)) == FALSE  # a blank side does not excuse the other
    assert run("甲 = 1 or 乙 = 2", 甲=v(None), 乙=v(None)) == SKIP
    assert run("not (甲 > 1)", 甲=v(5, 0)) == FALSE
    assert run("1 <= 甲 <= 3", 甲=v(5, 0)) == FALSE


@pytest.mark.parametrize("src", [
    "__import__('os')",
    "open('x') = 1",
    "甲.__class__.__bases__ = 1",  # allowed syntax, but only ever looks names up in the model
    "(lambda: 1)() = 1",
    "甲[0] = 1",
    "[x for x in 甲] = 1",
    "甲 ** 2 = 1",
    "甲 % 2 = 1",
    "f'{甲}' = 1",
    "甲 if 乙 else 丙",
    "sum(*甲) = 1",
])
def test_unsafe_or_unknown_syntax_is_refused(src: str) -> None:
    if src.startswith("甲.__class__"):
        assert run(src, 甲=v(1)) == SKIP
        return
    with pytest.raises(ExprError):
        compile_expr(src)


def test_blank_sentinel_is_not_zero() -> None:
    assert BLANK is not None
    assert run("甲 = 0", 甲=v(None)) == SKIP
    assert run("甲 = 0", 甲=v(0, 0)) == UNKNOWN
