"""The names rule expressions see: the template's own Chinese labels, bound to model values.

Per annex a plain dict maps a label to a model object: a `Value` (one cell), a `RowNS` (a row
of 附件一 经费 or a fund row, addressed by column: `三公经费.本年决算数`, or bare inside a
per-column rule), a list (`指标`, `项目支出.明细`, all `附件三`). Every namespace also carries
`附件一`, `附件二`, `附件三` so that a rule can reach across annexes. Built once per model.
"""

from __future__ import annotations

from typing import Any

from ..model import (
    BUILDING_FIELDS,
    EXPENSE_SPLIT,
    FOOTER_FIELDS,
    INCOME_SPLIT,
    PROJECT_FUND_ROWS,
    STAFFING_FIELDS,
    Annex1,
    Annex2,
    Annex3,
    IndicatorRow,
    IndicatorTable,
    LabeledRow,
    Value,
    WorkbookModel,
)
from .expr import BLANK

ANNEX1, ANNEX2, ANNEX3, CROSS = "附件一", "附件二", "附件三", "跨表"
SCOPES = (ANNEX1, ANNEX2, ANNEX3, CROSS)
SCOPE_ALIASES = {"cross": CROSS, "全部": CROSS, "annex1": ANNEX1, "annex2": ANNEX2, "annex3": ANNEX3}

CHILDREN = "明细"  # attribute of a row: its child rows ("其中" / numbered lines)
INDICATOR_FIELDS = ("一级指标", "二级指标", "三级指标", "年度指标值", "实际完成值", "分值", "自评得分",
                    "偏差原因分析及改进措施")
# Root names per scope, for checking pack expressions when they are loaded.
_ANNEX1_ROWS = ("三公经费", "公务用车购置和维护经费", "公车购置", "公车运行维护", "出国经费", "公务接待", "项目支出",
                "业务工作经费", "运行维护经费", "公用经费", "办公经费", "水费、电费、差旅费", "会议费、培训费",
                "政府采购金额", "部门基本支出预算调整")
_CROSS = (ANNEX1, ANNEX2, ANNEX3)
VOCABULARY: dict[str, frozenset[str]] = {
    ANNEX1: frozenset((*_ANNEX1_ROWS, *STAFFING_FIELDS, *BUILDING_FIELDS, "厉行节约保障措施", "经费", *FOOTER_FIELDS,
                       *_CROSS)),
    ANNEX2: frozenset(("年度资金总额", *INCOME_SPLIT, *EXPENSE_SPLIT, "预算部门、单位名称", "单位名称", "预期目标",
                       "实际完成情况", "指标", "总分", *FOOTER_FIELDS, *_CROSS)),
    ANNEX3: frozenset((*PROJECT_FUND_ROWS, "项目支出名称", "主管部门", "实施单位", "预期目标", "实际完成情况", "指标",
                       "总分", *FOOTER_FIELDS, *_CROSS)),
    CROSS: frozenset(_CROSS),
}
INDICATOR_VOCABULARY = frozenset(INDICATOR_FIELDS)


class RowNS:
    """A row addressed by column name; `明细` gives its child rows."""

    __slots__ = ("children", "row")

    def __init__(self, row: LabeledRow) -> None:
        self.row = row
        self.children: list[RowNS] = []

    def attr(self, name: str) -> Any:
        if name == CHILDREN:
            return self.children
        if name in ("名称", "标签"):
            return self.row.label
        return self.row.values.get(name, BLANK)

    def column_value(self, column: str) -> Any:
        return self.row.values.get(column, BLANK)


INDICATOR_ATTRS = dict(zip(INDICATOR_FIELDS, ("level1", "level2", "level3", "target", "actual", "weight", "score",
                                              "explanation"), strict=True))  # header -> IndicatorRow field
_INDICATOR_ATTR = INDICATOR_ATTRS


class IndicatorNS:
    __slots__ = ("row",)

    def __init__(self, row: IndicatorRow) -> None:
        self.row = row

    def attr(self, name: str) -> Any:
        a = _INDICATOR_ATTR.get(name)
        return getattr(self.row, a) if a is not None else BLANK

    @property
    def fields(self) -> dict[str, Value]:
        """The row's cells by their Chinese header (the names of a per-指标 rule)."""
        return {name: getattr(self.row, a) for name, a in _INDICATOR_ATTR.items()}


def _rows(rows: list[LabeledRow]) -> dict[str, RowNS]:
    out = {r.key: RowNS(r) for r in rows}
    for r in rows:
        if r.parent and r.parent in out and r.key in out:
            out[r.parent].children.append(out[r.key])
    return out


def _indicators(table: IndicatorTable) -> dict[str, Any]:
    return {"指标": [IndicatorNS(r) for r in table.rows],
            "总分": {"分值": table.total_weight, "自评得分": table.total_score}}


def annex1_names(a: Annex1) -> dict[str, Any]:
    rows = _rows(a.expenses)
    ns: dict[str, Any] = dict(rows)
    ns["经费"] = list(rows.values())
    ns.update(a.staffing)
    ns.update(a.buildings)
    ns["厉行节约保障措施"] = a.saving_measures
    ns.update(a.footer)
    return ns


def annex2_names(a: Annex2) -> dict[str, Any]:
    ns: dict[str, Any] = {}
    if a.funds is not None:
        ns["年度资金总额"] = RowNS(a.funds)
    ns.update(a.income_split)
    ns.update(a.expense_split)
    ns["预算部门、单位名称"] = ns["单位名称"] = a.unit_name
    ns["预期目标"], ns["实际完成情况"] = a.goal.expected, a.goal.actual
    ns.update(_indicators(a.indicators))
    ns.update(a.footer)
    return ns


def annex3_names(a: Annex3) -> dict[str, Any]:
    ns: dict[str, Any] = dict(_rows(a.funds))
    ns["项目支出名称"], ns["主管部门"], ns["实施单位"] = a.project_name, a.department, a.implementer
    ns["预期目标"], ns["实际完成情况"] = a.goal.expected, a.goal.actual
    ns.update(_indicators(a.indicators))
    ns.update(a.footer)
    return ns


class ModelNames:
    """All namespaces of one model, built once and shared by every rule."""

    __slots__ = ("annex1", "annex2", "annex3", "cross")

    def __init__(self, model: WorkbookModel) -> None:
        a1 = annex1_names(model.annex1) if model.annex1 is not None else None
        a2 = annex2_names(model.annex2) if model.annex2 is not None else None
        a3 = [annex3_names(a) for a in model.annex3]
        cross = {ANNEX1: a1 if a1 is not None else BLANK, ANNEX2: a2 if a2 is not None else BLANK, ANNEX3: a3}
        for ns in (a1, a2, *a3):
            if ns is not None:
                ns.update(cross)
        self.annex1, self.annex2, self.annex3, self.cross = a1, a2, a3, cross
