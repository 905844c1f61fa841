"""The batch screen of expression rules (`check.vector`): it must agree with the interpreter.

Lane by lane the screen's truth value equals the interpreter's wherever the screen does not hand
the lane over ("bad"); over whole workbooks a screened batch reports exactly what each model
checked on its own reports.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from jixiao.check import check_model, check_models, engine, load_pack
from jixiao.check.expr import BLANK, NONE, Env, ExprError, _truth, compile_expr
from jixiao.check.namespace import RowNS
from jixiao.check.rulepack import compile_rule
from jixiao.check.vector import Lanes, Unsupported, VEnv, compile_vector, truth, vector_rule
from jixiao.model import LabeledRow, Value
from jixiao.pipeline import load_model_bytes
from test_check_support import corrected_bytes, edited_bytes

COLUMNS = ("本年预算数", "本年决算数")
EXPRESSIONS = [
    "甲 = 乙 + 丙",
    "甲 = 乙 - 丙 - 丁",
    "甲 <= 乙 * 丙",
    "甲 = 乙 / 丙",
    "-甲 < 乙",
    "+甲 >= 丙",
    "abs(甲 - 乙) <= params.ratio * 乙",
    "coalesce(甲, 乙 + 丙) = 丁",
    "ifblank(甲, 0) = 乙",
    "sum(行.明细) = 行",
    "sum(行.明细, 甲, 乙) >= 丙",
    "sum(列表) = 甲 + 乙",
    "min(甲, 乙, 丙) <= max(乙, 丁)",
    "max(列表) >= 甲",
    "count(甲, 乙, 丙) >= 2",
    "filled(甲) and blank(乙)",
    "na(甲) or 甲 = 乙",
    "not (甲 = 乙)",
    "甲 != 乙",
    "甲 < 乙 <= 丙",
    "甲 in (乙, 丙, 1)",
    "甲 not in (乙, 丙)",
    "(甲 = 乙) or (乙 = 丙) and 丙 > 0",
    "甲 = 乙 or 甲 = 丙",
    "行 = 甲",
    "行 > 0",
    "甲 = 100%",
    "甲 * 乙 = 丙 * 丁",
    "甲 / 乙 <= 100%",
    "甲 = 合计",
    "合计 >= 0",
]


def _value(rng: random.Random) -> Value:
    kind = rng.random()
    if kind < 0.15:
        return Value(sheet="S", cell="A1")  # blank
    if kind < 0.2:
        return Value(sheet="S", cell="A1", text="——", na=True, blank=False)
    if kind < 0.23:
        return Value(sheet="S", cell="A1", text="文字", blank=False)
    n = rng.choice([0.0, -0.0, 1.0, 2.0, 3.0, 0.5, 100.0, 91.18, 1e308, -1e308, 1e-12,
                    round(rng.uniform(-5, 5), rng.randint(0, 4)), float(rng.randint(-3, 3))])
    return Value(sheet="S", cell="A1", text=str(n), number=n, decimals=rng.choice([None, 0, 1, 2, 4, 6, 20]),
                 blank=False)


def _row(rng: random.Random, children: int) -> RowNS:
    row = RowNS(LabeledRow("行", Value("S", "A1"), {c: _value(rng) for c in COLUMNS if rng.random() < 0.9}))
    row.children = [_row(rng, 0) for _ in range(children)]
    return row


def _ns(rng: random.Random) -> dict[str, Any]:
    ns: dict[str, Any] = {name: _value(rng) for name in ("甲", "乙", "丙", "丁") if rng.random() < 0.95}
    ns["行"] = _row(rng, rng.randint(0, 3))
    ns["列表"] = [_value(rng) for _ in range(rng.randint(0, 4))]
    ns["合计"] = _row(rng, 0) if rng.random() < 0.5 else rng.choice([_value(rng), BLANK, "文字"])
    return ns


@pytest.mark.parametrize("src", EXPRESSIONS)
@pytest.mark.parametrize("precision", [{}, {"min_decimals": 2}, {"min_decimals": 0, "operands": "exact"}, "exact"])
def test_every_lane_the_screen_keeps_has_the_interpreters_truth(src: str, precision: Any) -> None:
    rule = compile_rule({"id": "T", "title": "t", "severity": "error", "scope": "附件一", "expr": src,
                         "message": "m", "precision": precision, "params": {"ratio": 0.2}, "strict_names": False})
    rng = random.Random(src)
    lanes = []
    for _ in range(300):
        lanes.append((_ns(rng), rng.choice([None, *COLUMNS])))
    ve = VEnv(rule, {}, Lanes([ns for ns, _ in lanes], [c for _, c in lanes]))
    with np.errstate(all="ignore"):
        got = truth(compile_vector(src)(ve, NONE), ve)
    fn = compile_expr(src).fn
    kept = 0
    for i, (ns, column) in enumerate(lanes):
        env = Env(ns=ns, params=rule.params, column=column, min_decimals=rule.min_decimals,
                  exact_operands=rule.exact_operands, exact=rule.exact, tolerance=rule.tolerance)
        try:
            want = _truth(fn(env))
        except Exception:  # the interpreter raising is what the screen must hand over
            assert ve.bad[i], (src, i)
            continue
        if not ve.bad[i]:
            kept += 1
            assert got[i] == want, (src, i, ns, column)
    assert kept > 50  # the screen decides most lanes itself


@pytest.mark.parametrize("src", EXPRESSIONS)
def test_lanes_in_runs_per_column_read_as_one_lane_each(src: str) -> None:
    """`Lanes.per`: names looked up once per run of lanes (one per column) give what looking
    them up lane by lane gives, truth and hand-overs alike."""
    rule = compile_rule({"id": "T", "title": "t", "severity": "error", "scope": "附件一", "expr": src,
                         "message": "m", "params": {"ratio": 0.2}, "strict_names": False})
    rng = random.Random("runs " + src)
    contexts = [_ns(rng) for _ in range(120)]
    columns = (*COLUMNS, None)
    ns = [c for c in contexts for _ in columns]
    cols = [col for _ in contexts for col in columns]
    out = []
    for per in (1, len(columns)):
        ve = VEnv(rule, {}, Lanes(ns, cols, per=per))
        with np.errstate(all="ignore"):
            res = truth(compile_vector(src)(ve, NONE), ve)
        out.append((res, ve.bad.copy()))
    (res1, bad1), (res3, bad3) = out
    assert (bad1 == bad3).all()
    assert (res1[~bad1] == res3[~bad3]).all()


def test_screen_of_a_lane_set_shares_names_between_rules() -> None:
    pack = load_pack()
    rules = [pack.rules[i] for i in ("NAT-E1", "WARN-13", "WARN-14")]
    assert all(vector_rule(r) is not None for r in rules)
    m = load_model_bytes(corrected_bytes(), "ok.xlsx")
    screened = engine._screen([m] * 3, [engine.ModelNames(m)] * 3, pack)
    assert {r.id for r in rules} <= set(screened)


EDITS: list[dict[str, object]] = [
    {},
    {"附件一!F4": "91.10%"}, {"附件一!F4": "91.17%"}, {"附件一!F4": "91.2%"}, {"附件一!B4": 0},
    {"附件一!F6": 11.02}, {"附件一!F7": 5}, {"附件一!F12": 480}, {"附件一!F19": 150}, {"附件一!F18": 150},
    {"附件一!B25": 1000, "附件一!C25": 1100, "附件一!D25": "100%"},
    {"附件二!B7": "其中： 一般公共预算：1200"}, {"附件二!E7": "其中：基本支出：800"},
    {"附件二!E8": "项目支出：400", "附件二!E7": "其中：基本支出：900"},
    {"附件三!D7": 480}, {"附件三!E6": 470, "附件三!E7": 470, "附件三!G6": "97.45%"},
    {"附件二!H14": 14}, {"附件三!G16": "十二", "附件一!F21": -2}, {"附件二!G22": "9.5%"},
    {"附件三!G6": "90.00%"}, {"附件三!G6": "99.8%"}, {"附件三!C6": 100, "附件三!D6": 200},
]


def test_a_screened_batch_reports_what_each_model_reports_alone() -> None:
    models = [load_model_bytes(edited_bytes(e, corrected_bytes()), f"w{i}.xlsx") for i, e in enumerate(EDITS)]
    pack = load_pack()
    assert len(models) >= engine.SCREEN_MIN_MODELS
    batch = check_models(models, pack)
    for model, found in zip(models, batch, strict=True):
        alone = check_model(model, pack)  # one model: the interpreter alone
        assert [f.to_json() for f in found] == [f.to_json() for f in alone]
    fired = {f.rule for found in batch for f in found}
    assert {"BDT-1", "ROUND-TRUNC", "ROUND-PREC", "BDT-3", "PROJ-1", "NAT-S1"} <= fired


def test_unsupported_expressions_are_left_to_the_interpreter() -> None:
    rule = compile_rule({"id": "T", "title": "t", "severity": "error", "scope": "附件二", "strict_names": False,
                         "expr": "单位名称 = '某单位'", "message": "m"})
    assert vector_rule(rule) is None  # text comparisons: only the interpreter


@pytest.mark.parametrize(("src", "message"), [
    ("甲[0] = 1", "表达式中不允许使用“Subscript”语法：甲[0] = 1"),
    ("~甲 = 1", "表达式中不允许使用该一元运算符：~甲 = 1"),
    ("甲 ** 2 = 1", "表达式中不允许使用该运算符（只允许 + − × ÷）：甲 ** 2 = 1"),
    ("甲 is 乙", "表达式中不允许使用该比较运算符：甲 is 乙"),
    ("甲 in 乙", "表达式中不允许使用in 之后的非列表写法（应写作 x in (a, b)）：甲 in 乙"),
    ("(甲, 乙) = 1", "表达式中不允许使用括号列表（只能用在 in 之后）：(甲, 乙) = 1"),
    ("(甲 + 1).列 = 1", "表达式中不允许使用复杂的属性访问：(甲 + 1).列 = 1"),
    ("sum = 1", "表达式中不允许使用函数名 sum 作为数值：sum = 1"),
    ("甲.f() = 1", "表达式中不允许使用方法调用：甲.f() = 1"),
    ("sum(**甲) = 1", "表达式中不允许使用关键字参数：sum(**甲) = 1"),  # `=` is always equality
    ("abs(甲, 乙) = 1", "函数 abs 需要 1 个参数：abs(甲, 乙) = 1"),
    ("甲 = True", "表达式中不允许使用常量 True：甲 = True"),
])
def test_what_the_interpreter_refuses_the_screen_leaves_to_it(src: str, message: str) -> None:
    # one tree walk for both: the interpreter's message, the screen's Unsupported
    with pytest.raises(ExprError) as exc:
        compile_expr(src)
    assert str(exc.value) == message
    with pytest.raises(Unsupported):
        compile_vector(src)


def test_screen_masks_only_assertions_that_may_report() -> None:
    rule = compile_rule({"id": "T", "title": "t", "severity": "error", "scope": "附件一", "strict_names": False,
                         "expr": ["甲 = 1", "乙 = 2", "丙 = 3"], "message": "m"})
    vr = vector_rule(rule)
    assert vr is not None
    one = Value("S", "A1", text="1", number=1.0, decimals=0, blank=False)
    lanes = Lanes([{"甲": one, "乙": one, "丙": one}, {"甲": one, "乙": BLANK, "丙": BLANK}], [None, None])
    from jixiao.check.vector import screen
    need = screen(rule, vr, lanes, False)
    assert need.tolist() == [0b110, 0]
    assert np.all(need >= 0)


def test_a_custom_pack_with_rules_per_indicator_and_column_screens_the_same(tmp_path: Any) -> None:
    from test_check_rulepack import MY_PACK, _yaml

    pack = load_pack(_yaml(tmp_path / "my.yaml", MY_PACK))
    models = [load_model_bytes(edited_bytes(e, corrected_bytes()), f"w{i}.xlsx") for i, e in enumerate(EDITS)]
    assert all(vector_rule(pack.rules[i]) is not None for i in ("MY-1", "MY-2", "MY-3"))
    batch = check_models(models, pack)
    for model, found in zip(models, batch, strict=True):
        alone = check_model(model, pack)
        mine = [f.to_json() for f in found if f.rule.startswith("MY-")]
        assert mine == [f.to_json() for f in alone if f.rule.startswith("MY-")]
    assert {f.rule for found in batch for f in found} >= {"MY-1", "MY-2"}


def test_schema_findings_without_a_cell_keep_their_order_in_a_batch() -> None:
    """Without the 分值 and 年度指标值 columns, every indicator row gets SCH-REQ findings with no
    cell to point at: they tie on the sort key, so their order is the schema's own. pandera's
    unstable sort once made it depend on the size of the batch."""
    lost_columns = load_model_bytes(edited_bytes({"附件二!G13": "备注", "附件二!E13": "说明"}, corrected_bytes()),
                                    "cols.xlsx")
    others = [load_model_bytes(edited_bytes(e, corrected_bytes()), f"w{i}.xlsx") for i, e in enumerate(EDITS)]
    pack = load_pack()
    alone = [f.to_json() for f in check_model(lost_columns, pack)]
    assert sum(1 for f in alone if f["rule"] == "SCH-REQ" and "cell" not in f) >= 10
    for batch in ([*others, lost_columns], [lost_columns, *others, *others]):
        found = check_models(batch, pack)[batch.index(lost_columns)]
        assert [f.to_json() for f in found] == alone
