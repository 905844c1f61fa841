"""Typed records of the three annex tables.

Every value keeps where it came from (sheet, cell, raw text) next to what it means
(number, precision, unit, comparator). Later stages (check, score, report) only see these
records, never the cell grid.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from .locate import CellRef, Located, LocatedAnnex, LocatedRow
from .normalize import number_fields, parse_value
from .text import a1, fold, label_key

# Canonical column keys. User-facing, so Chinese; also used as names in rule expressions.
ANNEX1_COLUMNS = ("上年决算数", "本年预算数", "本年决算数")
FUND_COLUMNS = ("年初预算数", "全年预算数", "全年执行数", "分值", "执行率", "自评得分")
STAFFING_FIELDS = ("编制数", "实际在职人数", "控制率")
BUILDING_FIELDS = ("批复规模", "实际规模", "规模控制率", "预算投资", "实际投资", "投资概算控制率")
INCOME_SPLIT = ("一般公共预算", "政府性基金拨款", "纳入专户管理的非税收入拨款", "其他资金")
EXPENSE_SPLIT = ("基本支出", "项目支出")
PROJECT_FUND_ROWS = ("年度资金总额", "当年财政拨款", "上年结转资金", "其他资金")
FOOTER_FIELDS = ("填表人", "填报日期", "联系电话", "单位负责人签字")


@dataclass(slots=True)
class Value:
    """One cell's content as written and as understood.

    `number` is in the field's natural unit: money in 万元, counts as-is, ratios as a
    fraction (91.17% -> 0.9117). `decimals` is the precision it was written with, in the
    same unit as `number` (91.17% -> 4), so the value stands for an interval.
    `na` marks a deliberate "not applicable" ("——", "/", "无") and blank cells: not zero.
    """

    sheet: str
    cell: str
    raw: Any = None
    text: str = ""
    number: float | None = None
    decimals: int | None = None
    unit: str | None = None
    op: str | None = None  # comparator of a target: ">=", "<=", "=", ">", "<"
    na: bool = False
    blank: bool = True
    formula_without_value: bool = False

    @property
    def filled(self) -> bool:
        return not self.blank

    @property
    def has_number(self) -> bool:
        return self.number is not None

    def to_json(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if v is not None and v is not False and v != ""}
        d["sheet"], d["cell"] = self.sheet, self.cell
        if d.get("raw") is not None and not isinstance(d["raw"], (str, int, float, bool)):
            d["raw"] = str(d["raw"])
        return d


def missing(sheet: str = "", cell: str = "") -> Value:
    """A field the template has but the workbook does not (or an empty cell)."""
    return Value(sheet=sheet, cell=cell)


@dataclass(slots=True)
class LabeledRow:
    """A row of 附件一 经费控制情况, or a fund row of 附件二/附件三, keyed by column."""

    key: str  # canonical name, e.g. "三公经费", "公车运行维护", "年度资金总额"
    label: Value  # the label cell as written
    values: dict[str, Value] = field(default_factory=dict)
    parent: str | None = None  # canonical key of the row it is part of ("其中"/numbered child)
    row: int = 0  # 1-based Excel row

    def get(self, column: str) -> Value:
        return self.values.get(column) or missing(self.label.sheet)


@dataclass(slots=True)
class IndicatorRow:
    row: int  # 1-based Excel row
    level1: Value
    level1_name: str  # "产出指标", "效益指标", "满意度指标"
    level1_weight: float | None  # weight written in the label: "产出指标(50 分)" -> 50
    level2: Value
    level3: Value
    target: Value  # 年度指标值
    actual: Value  # 实际完成值
    weight: Value  # 分值
    score: Value  # 自评得分
    explanation: Value  # 偏差原因分析及改进措施


@dataclass(slots=True)
class IndicatorTable:
    rows: list[IndicatorRow] = field(default_factory=list)
    total_weight: Value = field(default_factory=missing)  # 总分 row, 分值 column
    total_score: Value = field(default_factory=missing)  # 总分 row, 自评得分 column
    total_row: int | None = None


@dataclass(slots=True)
class Goal:
    expected: Value = field(default_factory=missing)  # 预期目标
    actual: Value = field(default_factory=missing)  # 实际完成情况


@dataclass(slots=True)
class Annex1:
    """附件一 部门整体支出绩效评价基础数据表."""

    sheet: str
    title: Value
    year: int | None
    staffing: dict[str, Value] = field(default_factory=dict)  # STAFFING_FIELDS
    expenses: list[LabeledRow] = field(default_factory=list)  # 经费控制情况, in sheet order
    buildings: dict[str, Value] = field(default_factory=dict)  # BUILDING_FIELDS
    saving_measures: Value = field(default_factory=missing)  # 厉行节约保障措施
    footer: dict[str, Value] = field(default_factory=dict)  # FOOTER_FIELDS

    def expense(self, key: str) -> LabeledRow | None:
        return next((r for r in self.expenses if r.key == key), None)

    def children(self, key: str) -> list[LabeledRow]:
        return [r for r in self.expenses if r.parent == key]


@dataclass(slots=True)
class Annex2:
    """附件二 部门整体支出绩效自评表."""

    sheet: str
    title: Value
    year: int | None
    unit_name: Value = field(default_factory=missing)  # 预算部门、单位名称
    funds: LabeledRow | None = None  # 年度资金总额 row, FUND_COLUMNS
    income_split: dict[str, Value] = field(default_factory=dict)  # INCOME_SPLIT
    expense_split: dict[str, Value] = field(default_factory=dict)  # EXPENSE_SPLIT
    goal: Goal = field(default_factory=Goal)
    indicators: IndicatorTable = field(default_factory=IndicatorTable)
    footer: dict[str, Value] = field(default_factory=dict)


@dataclass(slots=True)
class Annex3:
    """附件三 项目支出绩效自评表 (one per project)."""

    sheet: str
    title: Value
    year: int | None
    project_name: Value = field(default_factory=missing)  # 项目支出名称
    department: Value = field(default_factory=missing)  # 主管部门
    implementer: Value = field(default_factory=missing)  # 实施单位
    funds: list[LabeledRow] = field(default_factory=list)  # PROJECT_FUND_ROWS
    goal: Goal = field(default_factory=Goal)
    indicators: IndicatorTable = field(default_factory=IndicatorTable)
    footer: dict[str, Value] = field(default_factory=dict)

    def fund(self, key: str) -> LabeledRow | None:
        return next((r for r in self.funds if r.key == key), None)


@dataclass(slots=True)
class Notice:
    """Something about the file itself, not a finding about its numbers (e.g. a formula
    cell without a cached value)."""

    code: str
    message: str
    sheet: str = ""
    cell: str = ""


@dataclass(slots=True)
class WorkbookModel:
    source: str  # file name as given
    annex1: Annex1 | None = None
    annex2: Annex2 | None = None
    annex3: list[Annex3] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    @property
    def year(self) -> int | None:
        for annex in (self.annex2, self.annex1, *self.annex3):
            if annex is not None and annex.year:
                return annex.year
        return None

    @property
    def unit_name(self) -> str:
        if self.annex2 is not None and self.annex2.unit_name.text:
            return self.annex2.unit_name.text
        for a3 in self.annex3:
            if a3.implementer.text:
                return a3.implementer.text
        return ""

    @property
    def empty(self) -> bool:
        return self.annex1 is None and self.annex2 is None and not self.annex3

    def to_json(self) -> dict[str, Any]:
        return _jsonify(self)


def _jsonify(obj: Any) -> Any:
    if isinstance(obj, Value):
        return obj.to_json()
    if isinstance(obj, (list, tuple)):
        return [_jsonify(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _jsonify(v) for k, v in obj.items()}
    if hasattr(obj, "__dataclass_fields__"):
        return {k: _jsonify(getattr(obj, k)) for k in obj.__dataclass_fields__}
    return obj


# --- building the model from located fields (the model stage proper) -----------------------

_KIND_OF_FUND_COLUMN = {"年初预算数": "money", "全年预算数": "money", "全年执行数": "money", "分值": "number",
                        "执行率": "ratio", "自评得分": "number"}
_KIND_OF_INDICATOR = {"一级指标": "text", "二级指标": "text", "三级指标": "text", "年度指标值": "target",
                      "实际完成值": "target", "分值": "number", "自评得分": "number",
                      "偏差原因分析及改进措施": "text"}
_INDICATOR_KINDS = tuple(_KIND_OF_INDICATOR.items())  # in IndicatorRow's order
_KIND_OF_FIELD = {"编制数": "number", "实际在职人数": "number", "控制率": "ratio", "批复规模": "number",
                  "实际规模": "number", "规模控制率": "ratio", "预算投资": "money", "实际投资": "money",
                  "投资概算控制率": "ratio", **{k: "money" for k in (*INCOME_SPLIT, *EXPENSE_SPLIT)}}


def build(located: Located) -> WorkbookModel:
    """Typed records from located cells: every value normalized, every cell remembered."""
    wb = WorkbookModel(source=located.source)
    b = _Builder()
    for ann in located.annexes:
        if ann.kind == "annex1" and wb.annex1 is None:
            wb.annex1 = b.annex1(ann)
        elif ann.kind == "annex2" and wb.annex2 is None:
            wb.annex2 = b.annex2(ann)
        elif ann.kind == "annex3":
            wb.annex3.append(b.annex3(ann))
    for ref in located.formula_blanks:
        wb.notices.append(Notice("FORMULA_NO_VALUE", f"单元格 {ref.address} 含公式但没有保存计算结果，无法读取其数值；"
                                 "请在 Excel/WPS 中打开并保存后再提交", ref.sheet, ref.address))
    return wb


def value_of(ref: CellRef | None, kind: str = "auto", sheet: str = "") -> Value:
    """A new Value for a located cell (or a missing one)."""
    if ref is None:
        return Value(sheet, "")  # missing(sheet)
    sheet, r, c, raw, formula_blank = ref
    return _new_value(sheet, a1(r, c), raw, parse_value(raw, kind), formula_blank)


def _new_value(sheet: str, cell: str, raw: Any, parsed: tuple[Any, ...], formula_blank: bool) -> Value:
    """Value(sheet, cell, raw, *parsed, formula_blank), every field set, without the call
    machinery of a dataclass __init__ (most of its cost: a hundred are made per workbook)."""
    v = _object_new(Value)
    v.sheet, v.cell, v.raw = sheet, cell, raw
    v.text, v.number, v.decimals, v.unit, v.op, v.na, v.blank = parsed
    v.formula_without_value = formula_blank
    return v


def _twin(v: Value) -> Value:
    """A distinct Value equal to v (what value_of would make again for its cell)."""
    t = _object_new(Value)
    t.sheet, t.cell, t.raw, t.text, t.number, t.decimals = v.sheet, v.cell, v.raw, v.text, v.number, v.decimals
    t.unit, t.op, t.na, t.blank, t.formula_without_value = v.unit, v.op, v.na, v.blank, v.formula_without_value
    return t


_object_new = object.__new__

# Values of located cells kept across the workbooks of a batch, per kind, by cell: labels, blanks
# and typical entries recur at the same cells, and finding a Value costs a fraction of building
# one. The key is the CellRef itself (it holds the raw value) when the raw value is a str, float
# or None; other types go with their type, as True == 1 == 1.0 would mix them up. No stage changes
# a Value after this one. Bounded: a kind's table is cleared when full (a unit's own amounts no
# longer push the labels out); long texts (a unit's own prose, rarely repeated) are not kept.
# An entry is [Value, the builder it was last handed to]: one compare tells whether this model
# already holds it (cheaper than a set of ids per model). That holds while builds do not
# interleave, hence one set of tables per thread (a thread builds one model at a time).
_KINDS = ("text", "number", "money", "ratio", "target", "auto")
_SHARED_MAX = 4096  # per kind: 16,384 in all for the four kinds in use, as one table held before
_SHARED_TEXT = 200
_local = threading.local()


def _shared_tables() -> dict[str, dict[Any, list[Any]]]:
    try:
        return _local.shared  # type: ignore[no-any-return]
    except AttributeError:
        _local.shared = shared = {k: {} for k in _KINDS}
        return shared


class _Builder:
    """Builds one model. Each Value it hands out is a distinct object within the model (the
    rule engine tells leaves apart by identity: check.expr `env.trunc is v`), shared only
    with other models."""

    __slots__ = ("shared",)

    def __init__(self) -> None:
        self.shared = _shared_tables()

    def value(self, ref: CellRef | None, kind: str = "auto", sheet: str = "") -> Value:
        if ref is None:
            return Value(sheet, "")  # missing(sheet)
        raw = ref[3]
        cls = raw.__class__
        if cls is str:
            if len(raw) > _SHARED_TEXT:
                return value_of(ref, kind)
            key: Any = ref
        elif cls is float:
            if raw == 0:  # 0.0 == -0.0: a shared one could show the other sign
                return value_of(ref, kind)
            key = ref
        elif raw is None:
            key = ref
        else:
            key = (ref, cls)
        shared = self.shared[kind]
        try:
            entry = shared.get(key)
        except TypeError:  # unhashable raw value
            return value_of(ref, kind)
        if entry is None:
            if len(shared) >= _SHARED_MAX:
                shared.clear()
            parsed = number_fields(raw, kind) if cls is float else parse_value(raw, kind)
            v = _new_value(ref[0], a1(ref[1], ref[2]), raw, parsed, ref[4])
            shared[key] = [v, self]
            return v
        if entry[1] is self:  # the same cell twice in this model (e.g. under one merge)
            return _twin(entry[0])
        entry[1] = self
        return entry[0]

    def fields(self, ann: LocatedAnnex, names: tuple[str, ...]) -> dict[str, Value]:
        return {n: self.value(ann.fields.get(n), _KIND_OF_FIELD.get(n, "text"), ann.sheet) for n in names}

    def labeled(self, row: LocatedRow, kinds: dict[str, str], default: str = "money") -> LabeledRow:
        value = self.value  # called with every argument: the interpreter's fast call
        return LabeledRow(row.key, value(row.label, "text", ""),
                          {n: value(ref, kinds.get(n, default), "") for n, ref in row.cells.items()},
                          row.parent, row.r + 1)

    def annex1(self, ann: LocatedAnnex) -> Annex1:
        return Annex1(
            sheet=ann.sheet, title=self.value(ann.title, "text"), year=ann.year,
            staffing=self.fields(ann, STAFFING_FIELDS),
            expenses=[self.labeled(r, {}) for r in ann.rows.get("expenses", [])],
            buildings=self.fields(ann, BUILDING_FIELDS),
            saving_measures=self.value(ann.fields.get("厉行节约保障措施"), "text", ann.sheet),
            footer=self.fields(ann, FOOTER_FIELDS),
        )

    def indicator_table(self, ann: LocatedAnnex) -> IndicatorTable:
        rows = []
        value, sheet = self.value, ann.sheet
        for lr in ann.rows.get("indicators", []):
            get = lr.cells.get
            l1, l2, l3, target, actual, weight, score, note = [value(get(n), k, sheet) for n, k in _INDICATOR_KINDS]
            name, l1_weight = _level1(l1.text)
            # positional, in field order (keywords cost a fifth more, for a few dozen rows a workbook)
            rows.append(IndicatorRow(lr.r + 1, l1, name, l1_weight, l2, l3, target, actual, weight, score, note))
        total_w, total_s = ann.total.get("分值"), ann.total.get("自评得分")
        return IndicatorTable(rows=rows, total_weight=value(total_w, "number", sheet),
                              total_score=value(total_s, "number", sheet),
                              total_row=total_w.r + 1 if total_w else None)

    def goal(self, ann: LocatedAnnex) -> Goal:
        return Goal(expected=self.value(ann.fields.get("预期目标"), "text", ann.sheet),
                    actual=self.value(ann.fields.get("实际完成情况"), "text", ann.sheet))

    def annex2(self, ann: LocatedAnnex) -> Annex2:
        funds = ann.rows.get("funds", [])
        return Annex2(
            sheet=ann.sheet, title=self.value(ann.title, "text"), year=ann.year,
            unit_name=self.value(ann.fields.get("预算部门、单位名称"), "text", ann.sheet),
            funds=self.labeled(funds[0], _KIND_OF_FUND_COLUMN) if funds else None,
            income_split=self.fields(ann, INCOME_SPLIT), expense_split=self.fields(ann, EXPENSE_SPLIT),
            goal=self.goal(ann), indicators=self.indicator_table(ann), footer=self.fields(ann, FOOTER_FIELDS),
        )

    def annex3(self, ann: LocatedAnnex) -> Annex3:
        return Annex3(
            sheet=ann.sheet, title=self.value(ann.title, "text"), year=ann.year,
            project_name=self.value(ann.fields.get("项目支出名称"), "text", ann.sheet),
            department=self.value(ann.fields.get("主管部门"), "text", ann.sheet),
            implementer=self.value(ann.fields.get("实施单位"), "text", ann.sheet),
            funds=[self.labeled(r, _KIND_OF_FUND_COLUMN) for r in ann.rows.get("funds", [])],
            goal=self.goal(ann), indicators=self.indicator_table(ann), footer=self.fields(ann, FOOTER_FIELDS),
        )


_WEIGHT_RE = re.compile(r"[(（]\s*(\d+(?:\.\d+)?)\s*分\s*[)）]")


def _finite(digits: str) -> float | None:
    x = float(digits)
    return x if math.isfinite(x) else None  # "(999…9 分)" overflows to inf


@lru_cache(maxsize=4096)
def _level1(text: str) -> tuple[str, float | None]:
    """"产出指标(50 分)" -> ("产出指标", 50.0): the name and the weight written in the label."""
    m = _WEIGHT_RE.search(fold(text))
    return label_key(_WEIGHT_RE.sub("", fold(text))), _finite(m.group(1)) if m else None
