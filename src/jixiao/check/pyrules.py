"""Rules implemented in Python but declared, parameterised and switched in the YAML pack.

These are the checks that are awkward as one arithmetic expression: a parent blank while its
children are filled, a comparator without a number, an actual copied from its target, text
and footer checks, weight groups. The pack names the function (`python: <name>`), gives the
id, severity, scope, message template and `params`; the function only decides where a rule
fires and which `{fields}` the message gets.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..findings import Finding, Severity
from ..model import Annex1, Annex2, Annex3, IndicatorRow, IndicatorTable, LabeledRow, Value, WorkbookModel
from ..text import fold, label_key
from .messages import fmt_number, fmt_signed, make_finding, shown
from .namespace import ANNEX1, ANNEX2, ANNEX3
from .rulepack import Pack, Rule

Annex = Annex1 | Annex2 | Annex3


@dataclass(slots=True)
class RuleContext:
    model: WorkbookModel
    rule: Rule
    pack: Pack
    findings: list[Finding]  # produced so far (complete for phase: late rules)

    @property
    def params(self) -> dict[str, Any]:
        return self.rule.params

    def annexes(self, *only: str) -> Iterator[tuple[str, Annex, str | None]]:
        """(label, annex, project) for the annexes in the rule's scope (optionally narrowed)."""
        scope = self.rule.scope
        m = self.model
        if m.annex1 is not None and ANNEX1 in scope and (not only or ANNEX1 in only):
            yield ANNEX1, m.annex1, None
        if m.annex2 is not None and ANNEX2 in scope and (not only or ANNEX2 in only):
            yield ANNEX2, m.annex2, None
        if m.annex3 and ANNEX3 in scope and (not only or ANNEX3 in only):
            for a in m.annex3:
                yield ANNEX3, a, a.project_name.text or a.sheet

    def finding(self, annex: str, v: Value | None, *, sheet: str = "", cells: Iterable[Value | str] = (),
                project: str | None = None, expected: str | None = None, actual: str | None = None,
                message: str | None = None, **fields: Any) -> Finding:
        sh = (v.sheet if v is not None and v.sheet else "") or sheet
        other: list[str] = []
        for c in cells:
            if isinstance(c, str):
                if c:
                    other.append(c)
            elif c.cell:  # a cell on another sheet is named with its sheet
                other.append(c.cell if c.sheet == sh else f"{c.sheet}!{c.cell}")
        return make_finding(self.rule, annex=annex, sheet=sh, cell=v.cell if v is not None else "",
                            cells=other, project=project, expected=expected,
                            actual=actual if actual is not None else (shown(v) if v is not None else None),
                            fields=fields, message=message)


PyRuleFn = Callable[[RuleContext], Iterable[Finding]]


@dataclass(frozen=True, slots=True)
class PyRule:
    name: str
    fn: PyRuleFn
    doc: str


REGISTRY: dict[str, PyRule] = {}

# per-rule look-ups built from params: (rule, value), the rule object checked on every use
_RULE_CACHE: dict[tuple[str, str], tuple[Rule, Any]] = {}


def pyrule(name: str) -> Callable[[PyRuleFn], PyRuleFn]:
    def deco(fn: PyRuleFn) -> PyRuleFn:
        REGISTRY[name] = PyRule(name, fn, (fn.__doc__ or "").strip())
        return fn
    return deco


# --- helpers ------------------------------------------------------------------------------


def _has_num(v: Value) -> bool:
    return v.number is not None


def _nonzero(v: Value) -> bool:
    return v.number is not None and v.number != 0


def _empty(v: Value) -> bool:
    return v.blank or v.na


_SPACE_RE = re.compile(r"\s+")


def _name(r: IndicatorRow) -> str:
    """The indicator's name for messages: 三级, or 二级 when 三级 is "无"/blank."""
    v = r.level3 if not _empty(r.level3) else r.level2
    return _SPACE_RE.sub("", v.text or "") or f"第{r.row}行"


@lru_cache(maxsize=4096)  # wordings recur across the units of a batch
def _norm(text: str) -> str:
    return _SPACE_RE.sub("", fold(text or ""))


def _tables(ctx: RuleContext) -> Iterator[tuple[str, Annex2 | Annex3, IndicatorTable, str | None]]:
    for label, a, project in ctx.annexes(ANNEX2, ANNEX3):
        assert isinstance(a, Annex2 | Annex3)
        yield label, a, a.indicators, project


def _level2_keys(names: Iterable[str]) -> frozenset[str]:
    """Accepted 二级 labels, with and without the "指标" suffix."""
    return _level2_keys_of(tuple(names))


@lru_cache(maxsize=64)  # the same few params for every workbook
def _level2_keys_of(names: tuple[str, ...]) -> frozenset[str]:
    keys = {label_key(n) for n in names}
    return frozenset(keys | {k[:-2] for k in keys if k.endswith("指标")} | {k + "指标" for k in keys})


def _level2_in(row: IndicatorRow, keys: frozenset[str]) -> bool:
    return label_key(row.level2.text) in keys


def _rows_of(a: Annex) -> list[LabeledRow]:
    if isinstance(a, Annex1):
        return a.expenses
    if isinstance(a, Annex3):
        return a.funds
    return [a.funds] if a.funds is not None else []


def _descendants(rows: list[LabeledRow], key: str,
                 children: dict[str | None, list[LabeledRow]] | None = None) -> list[LabeledRow]:
    """Rows below `key`, in the order of a depth-first walk (pass `_children(rows)` when asking often)."""
    kids = children if children is not None else _children(rows)
    out: list[LabeledRow] = []
    todo = [key]
    while todo:
        for r in kids.get(todo.pop(), ()):
            out.append(r)
            todo.append(r.key)
    return out


def _children(rows: list[LabeledRow]) -> dict[str | None, list[LabeledRow]]:
    """Direct child rows by parent key, in sheet order."""
    out: dict[str | None, list[LabeledRow]] = {}
    for r in rows:
        out.setdefault(r.parent, []).append(r)
    return out


# --- rules --------------------------------------------------------------------------------


@pyrule("parent_blank_children_filled")
def parent_blank_children_filled(ctx: RuleContext) -> Iterator[Finding]:
    """合计行（或小计行）未填写，而其明细行已填写数值（每列分别检查）。"""
    zero_blank = bool(ctx.params.get("zero_counts_as_blank", True))
    columns = ctx.params.get("columns") or {}
    for label, a, project in ctx.annexes(ANNEX1, ANNEX3):
        rows = _rows_of(a)
        cols = columns.get(label) or sorted({c for r in rows for c in r.values})
        children = _children(rows)
        for parent in rows:
            if parent.key not in children:
                continue  # no child rows, so no descendants
            kids: list[LabeledRow] | None = None  # only for a total left blank (most are filled)
            for col in cols:
                pv = parent.values.get(col)
                if pv is None or not pv.cell:
                    continue
                if not (_empty(pv) or (zero_blank and pv.number == 0)):
                    continue
                if kids is None:
                    kids = _descendants(rows, parent.key, children)
                filled = [k.values[col] for k in kids if col in k.values and _nonzero(k.values[col])]
                direct = [k for k in kids if k.parent == parent.key and col in k.values and _nonzero(k.values[col])]
                if not filled:
                    continue
                total = sum(k.values[col].number or 0 for k in direct) if direct else None
                yield ctx.finding(label, pv, cells=filled, project=project, column=col,
                                  label=parent.label.text.rstrip(":：") or parent.key,
                                  children="、".join(f"{k.label.text.strip()} {k.values[col].text}"
                                                    for k in kids if col in k.values and _nonzero(k.values[col])),
                                  sum=fmt_number(total) if total is not None else "",
                                  expected=fmt_number(total) if total is not None else None)


@pyrule("children_blank_in_column")
def children_blank_in_column(ctx: RuleContext) -> Iterator[Finding]:
    """合计已填而该列明细全空，且明细行在其他列有数：该列明细漏填。"""
    cols = list(ctx.params.get("columns") or ("年初预算数", "全年预算数", "全年执行数"))
    for label, a, project in ctx.annexes(ANNEX3, ANNEX1):
        rows = _rows_of(a)
        children = _children(rows)
        for parent in rows:
            kids = children.get(parent.key, [])
            if not kids:
                continue
            for col in cols:
                pv = parent.values.get(col)
                if pv is None or not _nonzero(pv):
                    continue
                if any(not _empty(k.get(col)) for k in kids):
                    continue
                for k in kids:
                    if any(_has_num(k.get(c)) for c in cols if c != col) and k.get(col).cell:
                        yield ctx.finding(label, k.get(col), cells=[pv], project=project, column=col,
                                          label=k.label.text.strip(), total=pv.text,
                                          parent=parent.label.text.strip())
                        break


_DIGIT_RE = re.compile(r"\d")


@pyrule("target_not_quantified")
def target_not_quantified(ctx: RuleContext) -> Iterator[Finding]:
    """年度指标值有比较符却没有数值（“≤万元”），或定量类二级指标的指标值是纯文字。"""
    quantitative = _level2_keys(ctx.params.get("quantitative_level2") or ())
    for label, _a, table, project in _tables(ctx):
        for r in table.rows:
            t = r.target
            if t.number is not None or _empty(t):
                continue  # a number is quantified
            if t.op is not None:
                detail = "有比较符但没有数值"
            elif not _DIGIT_RE.search(t.text) and _level2_in(r, quantitative):
                detail = f"{r.level2.text.strip()}应为可衡量的数值，而不是文字"
            else:
                continue
            yield ctx.finding(label, t, cells=[r.level3], project=project, detail=detail,
                              indicator=_name(r))


@pyrule("actual_copies_target")
def actual_copies_target(ctx: RuleContext) -> Iterator[Finding]:
    """实际完成值照抄年度指标值（含 ≥/≤），或实际完成值带比较符。"""
    need_op = bool(ctx.params.get("require_comparator", True))
    any_op = bool(ctx.params.get("flag_any_comparator", True))
    for label, _a, table, project in _tables(ctx):
        for r in table.rows:
            t, act = r.target, r.actual
            if (act.op is None and need_op) or _empty(act):
                continue
            same = not _empty(t) and _norm(act.text) == _norm(t.text)
            if same and (act.op is not None or not need_op):
                detail = "与年度指标值完全相同（照抄）"
            elif any_op and act.op is not None and act.number is not None:
                detail = "带有比较符，应填写实际达到的数值"
            else:
                continue
            yield ctx.finding(label, act, cells=[t], project=project, detail=detail, target=t.text,
                              indicator=_name(r))


@pyrule("blank_actual_with_score")
def blank_actual_with_score(ctx: RuleContext) -> Iterator[Finding]:
    """实际完成值为空，却给了自评得分。"""
    for label, _a, table, project in _tables(ctx):
        for r in table.rows:
            if r.actual.blank and r.actual.cell and r.score.number is not None and r.score.number > 0:
                yield ctx.finding(label, r.actual, cells=[r.score], project=project,
                                  indicator=_name(r), score=r.score.text)


@pyrule("empty_indicator_with_points")
def empty_indicator_with_points(ctx: RuleContext) -> Iterator[Finding]:
    """三级指标为“无”或空白，却设了分值或给了得分。"""
    for label, _a, table, project in _tables(ctx):
        for r in table.rows:
            if not (r.level3.blank or r.level3.na):  # `_empty`, once per row
                continue
            w = r.weight.number or 0
            s = r.score.number or 0
            if w > 0 or s > 0:
                yield ctx.finding(label, r.level3 if r.level3.cell else r.weight, cells=[r.weight, r.score],
                                  project=project, level2=r.level2.text.strip(), weight=r.weight.text,
                                  score=r.score.text)


@pyrule("deduction_without_reason")
def deduction_without_reason(ctx: RuleContext) -> Iterator[Finding]:
    """自评得分低于分值（扣了分），但偏差原因分析及改进措施为空。"""
    for label, _a, table, project in _tables(ctx):
        for r in table.rows:
            w, s = r.weight.number, r.score.number
            if w is None or s is None or s >= w - 1e-9:
                continue
            if not _empty(r.explanation) or not r.explanation.cell:
                continue
            yield ctx.finding(label, r.explanation, cells=[r.score, r.weight], project=project,
                              indicator=_name(r), weight=r.weight.text,
                              score=r.score.text, deducted=fmt_number(w - s))


@pyrule("unit_mismatch")
def unit_mismatch(ctx: RuleContext) -> Iterator[Finding]:
    """年度指标值与实际完成值的计量单位不一致，或一方缺少单位。"""
    for label, _a, table, project in _tables(ctx):
        for r in table.rows:
            t, act = r.target, r.actual
            if t.number is None or act.number is None or t.unit == act.unit:
                continue
            if act.unit is None:
                detail, where = f"实际完成值缺少单位（年度指标值单位为“{t.unit}”）", act
            elif t.unit is None:
                detail, where = f"年度指标值缺少单位（实际完成值单位为“{act.unit}”）", t
            else:
                detail, where = f"单位“{act.unit}”与年度指标值的“{t.unit}”不一致", act
            yield ctx.finding(label, where, cells=[t if where is act else act], project=project, detail=detail,
                              target=t.text, indicator=_name(r))


_YEAR_RE = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")


@lru_cache(maxsize=4096)  # targets and actuals recur across the units of a batch
def _years(text: str) -> tuple[int, ...]:
    return tuple(int(y) for y in _YEAR_RE.findall(fold(text)))


@pyrule("year_after_evaluation")
def year_after_evaluation(ctx: RuleContext) -> Iterator[Finding]:
    """时效指标的年度指标值或实际完成值写的是评价年度之后的年份。"""
    level2 = _level2_keys(ctx.params.get("level2") or ())
    for label, a, table, project in _tables(ctx):
        year = a.year or ctx.model.year
        if not year:
            continue
        for r in table.rows:
            if level2 and label_key(r.level2.text) not in level2:  # `_level2_in`, once per row
                continue
            for which, v in (("年度指标值", r.target), ("实际完成值", r.actual)):
                late = [y for y in _years(v.text or "") if y > year]
                if late and v.cell:
                    yield ctx.finding(label, v, project=project, which=which, year=str(year),
                                      named=str(late[0]), indicator=_name(r))


@pyrule("inflated_scores")
def inflated_scores(ctx: RuleContext) -> Iterator[Finding]:
    """自评总分很高而本表仍有问题，或每一行都是满分。（在其他规则之后运行）"""
    high = float(ctx.params.get("high_total", 95))
    for label, a, table, project in _tables(ctx):
        total = table.total_score
        if total.number is None:
            continue
        # the issues matter only to a high total
        issues = [f for f in ctx.findings if f.sheet == a.sheet and f.severity is not Severity.INFO
                  and (f.project or None) == (project if label == ANNEX3 else None)] if total.number >= high else []
        scored = [r for r in table.rows if r.weight.number]
        funds = a.funds if isinstance(a, Annex2) else a.fund("年度资金总额")
        all_full = bool(scored) and all(r.score.number is not None and r.score.number >= (r.weight.number or 0)
                                        for r in scored)
        if funds is not None and funds.get("分值").number:
            all_full = all_full and (funds.get("自评得分").number or 0) >= (funds.get("分值").number or 0)
        if total.number >= high and issues:
            detail = f"本表仍有 {len(issues)} 处强制/提示问题"
        elif all_full:
            detail = "每一行都是满分"
        else:
            continue
        yield ctx.finding(label, total, project=project, detail=detail, total=total.text, high=fmt_number(high))


def _standard_weights(rule: Rule) -> dict[str, float]:
    """params.standard_weights by label; worked out once per rule (a loaded pack is not changed)."""
    key = ("standard_weights", rule.id)
    cache = _RULE_CACHE.get(key)
    if cache is None or cache[0] is not rule:
        standard = {label_key(k): float(v) for k, v in (rule.params.get("standard_weights") or {}).items()}
        cache = _RULE_CACHE[key] = (rule, standard)
    return cache[1]


@pyrule("standard_weights")
def standard_weights(ctx: RuleContext) -> Iterator[Finding]:
    """一级指标权重（含预算执行率）与标准权重不同。"""
    standard = _standard_weights(ctx.rule)
    for label, a, table, project in _tables(ctx):
        groups: dict[str, tuple[Value, float]] = {}
        for r in table.rows:
            name = label_key(r.level1_name)
            if name not in groups:
                groups[name] = (r.level1, r.level1_weight if r.level1_weight is not None else 0.0)
            if r.level1_weight is None:
                cell, w = groups[name]
                groups[name] = (cell, w + (r.weight.number or 0))
        funds = a.funds if isinstance(a, Annex2) else a.fund("年度资金总额")
        if funds is not None and funds.get("分值").number is not None:
            groups["执行率"] = (funds.get("分值"), funds.get("分值").number or 0.0)
        for name, (cell, w) in groups.items():
            want = standard.get(name)
            if want is None or abs(w - want) < 1e-6:
                continue
            yield ctx.finding(label, cell, project=project, level1=name, expected=fmt_number(want),
                              actual=fmt_number(w))


@pyrule("annex_required")
def annex_required(ctx: RuleContext) -> Iterator[Finding]:
    """工作簿有某个附件，却没有与它配套的附件（`params.requires`：附件 → 必须同时有的附件）。"""
    present = {label: a for label, a, _project in ctx.annexes()}
    titles = ctx.params.get("titles") or {}
    why = ctx.params.get("why") or {}
    for label, needs in (ctx.params.get("requires") or {}).items():
        a = present.get(label)
        if a is None:
            continue
        for need in [needs] if isinstance(needs, str) else needs or ():
            if _annex_in(ctx.model, str(need)):
                continue
            yield ctx.finding(label, a.title if a.title.cell else None, sheet=a.sheet, actual="", present=label,
                              missing=need, missing_title=titles.get(need, ""), why=why.get(need, ""))


def _annex_in(model: WorkbookModel, label: str) -> bool:
    """Whether the workbook holds the annex, whatever the rule's scope."""
    if label == ANNEX1:
        return model.annex1 is not None
    if label == ANNEX2:
        return model.annex2 is not None
    return bool(model.annex3) if label == ANNEX3 else True  # an unknown label is not asked for


@pyrule("footer_blank")
def footer_blank(ctx: RuleContext) -> Iterator[Finding]:
    """填表人、填报日期、联系电话、单位负责人签字未填写。"""
    for label, a, project in ctx.annexes():
        footer = a.footer
        if not footer:
            yield ctx.finding(label, None, sheet=a.sheet, project=project, missing="填表人、填报日期、联系电话、单位负责人签字",
                              detail="未找到签章栏")
            continue
        missing = [k for k, v in footer.items() if _empty(v)]
        if missing:
            first = next(iter(footer.values()))
            yield ctx.finding(label, first, project=project, missing="、".join(missing), detail="未填写",
                              actual="（空）")


@pyrule("required_fields")
def required_fields(ctx: RuleContext) -> Iterator[Finding]:
    """模板要求填写的文字栏目为空（`params.fields` 列出栏目名）。"""
    fields = [str(f) for f in ctx.params.get("fields") or ()]
    for label, a, project in ctx.annexes():
        for name in fields:
            v = _field(a, name)
            if v is None or not _empty(v):
                continue
            yield ctx.finding(label, v if v.cell else None, sheet=a.sheet, project=project, field=name)


def _field(a: Annex, name: str) -> Value | None:
    if isinstance(a, Annex1):
        return {"厉行节约保障措施": a.saving_measures, **a.staffing, **a.buildings}.get(name)
    if isinstance(a, Annex2):
        return {"预算部门、单位名称": a.unit_name, "单位名称": a.unit_name, "预期目标": a.goal.expected,
                "实际完成情况": a.goal.actual}.get(name)
    return {"项目支出名称": a.project_name, "主管部门": a.department, "实施单位": a.implementer,
            "预期目标": a.goal.expected, "实际完成情况": a.goal.actual}.get(name)


@pyrule("goal_text")
def goal_text(ctx: RuleContext) -> Iterator[Finding]:
    """年度总体目标：预期目标、实际完成情况须填写；实际完成情况不能照抄预期目标或只写套话。"""
    patterns = _compiled(tuple(ctx.params.get("boilerplate") or ()))
    max_chars = int(ctx.params.get("boilerplate_max_chars", 80))
    for label, a, project in ctx.annexes(ANNEX2, ANNEX3):
        assert isinstance(a, Annex2 | Annex3)
        exp, act = a.goal.expected, a.goal.actual
        if _empty(exp) and exp.cell:
            yield ctx.finding(label, exp, project=project, detail="预期目标未填写")
        if _empty(act):
            if act.cell:
                yield ctx.finding(label, act, project=project, detail="实际完成情况未填写")
            continue
        text = _norm(act.text)
        if not _empty(exp) and text == _norm(exp.text):
            yield ctx.finding(label, act, cells=[exp], project=project, detail="实际完成情况与预期目标相同")
        elif len(text) <= max_chars and any(p.search(text) for p in patterns):
            yield ctx.finding(label, act, project=project,
                              detail="实际完成情况只有笼统的结论（如“综合评价达到预期目标”），未写明具体完成了什么")


@lru_cache(maxsize=64)
def _compiled(patterns: tuple[str, ...]) -> list[re.Pattern[str]]:
    return [re.compile(p) for p in patterns]


@pyrule("level1_weights")
def level1_weights(ctx: RuleContext) -> Iterator[Finding]:
    """每个一级指标下三级指标分值之和，应等于一级指标标注的分值（如“产出指标(50 分)”）。"""
    for label, _a, table, project in _tables(ctx):
        groups: dict[str, list[IndicatorRow]] = {}
        for r in table.rows:
            groups.setdefault(r.level1.cell or r.level1_name, []).append(r)
        for rows in groups.values():
            head = rows[0]
            if head.level1_weight is None:
                continue
            total = sum(r.weight.number or 0 for r in rows)
            if abs(total - head.level1_weight) < 1e-6:
                continue
            yield ctx.finding(label, head.level1, cells=[r.weight for r in rows], project=project,
                              level1=head.level1_name, expected=fmt_number(head.level1_weight),
                              actual=fmt_number(total), diff=fmt_signed(total - head.level1_weight))


@pyrule("project_listed")
def project_listed(ctx: RuleContext) -> Iterator[Finding]:
    """附件三的项目名称应能在附件一“项目支出”明细中找到（允许措辞略有不同）。"""
    a1 = ctx.model.annex1
    if a1 is None:
        return
    lines = [r for r in _descendants(a1.expenses, "项目支出")
             if any(_has_num(v) for v in r.values.values())]
    if not lines:
        return
    min_ratio = float(ctx.params.get("min_similarity", 0.6))
    names = [label_key(r.label.text) or r.key for r in lines]
    for label, a, project in ctx.annexes(ANNEX3):
        assert isinstance(a, Annex3)
        name = label_key(a.project_name.text)
        if not name:
            continue
        if any(name in n or n in name for n in names) or _similar_to_any(name, names, min_ratio):
            continue
        yield ctx.finding(label, a.project_name, project=project, name=a.project_name.text,
                          lines="、".join(names), cells=[r.label for r in lines])


def _similar_to_any(name: str, names: list[str], min_ratio: float) -> bool:
    """Whether difflib's ratio to some name reaches `min_ratio`; the cheap upper bounds
    (real_quick_ratio ≥ quick_ratio ≥ ratio) rule most names out first."""
    return _similar(name, tuple(names), min_ratio)


@lru_cache(maxsize=4096)  # project names and 项目支出 lines recur across the units of a batch
def _similar(name: str, names: tuple[str, ...], min_ratio: float) -> bool:
    for n in names:
        m = difflib.SequenceMatcher(None, name, n)
        if m.real_quick_ratio() >= min_ratio and m.quick_ratio() >= min_ratio and m.ratio() >= min_ratio:
            return True
    return False


@pyrule("na_in_amounts")
def na_in_amounts(ctx: RuleContext) -> Iterator[Finding]:
    """金额栏填了“——”“/”“无”等：按“不适用”处理，不计为 0（模板自带的“——”除外）。"""
    key = ("template_na", ctx.rule.id)
    cache = _RULE_CACHE.get(key)
    if cache is None or cache[0] is not ctx.rule:
        cache = _RULE_CACHE[key] = (ctx.rule, {label_key(k): set(v or ())
                                               for k, v in (ctx.params.get("template_na") or {}).items()})
    template = cache[1]
    for label, a, project in ctx.annexes(ANNEX1):
        assert isinstance(a, Annex1)
        for r in a.expenses:
            for col, v in r.values.items():
                if v.na and col not in template.get(label_key(r.key), set()):
                    yield ctx.finding(label, v, project=project, label=r.label.text.strip(), column=col)
        for name, v in (*a.staffing.items(), *a.buildings.items()):
            if v.na:
                yield ctx.finding(label, v, project=project, label=name, column="")
