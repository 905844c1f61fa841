"""pandera schemas for the tabular parts: scored rows (indicator tables + fund blocks) and
amount cells (附件一 经费 rows, staffing, 楼堂馆所, fund blocks, splits).

Frames are indexed by (workbook, sheet, Excel row[, column]) so a failure maps straight back to
a cell through the model, and so that many workbooks are validated in ONE `validate` call:
pandera costs a few milliseconds per call whatever the size, which batch mode amortises by
passing a whole chunk of models at once.

Each check is named "<rule id>|<sub-check>"; only checks of enabled `schema:` rules of the pack
are built, and the schemas are cached on the pack.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..findings import Finding
from ..model import IndicatorRow, IndicatorTable, LabeledRow, Value, WorkbookModel
from ..text import label_key
from .messages import fmt_number, make_finding, shown
from .rulepack import Pack, Rule

# schema check name -> what it covers (docs and pack validation)
SCHEMA_CHECKS: dict[str, str] = {
    "score_bounds": "每个计分行：分值 > 0，0 ≤ 自评得分 ≤ 分值（指标表与年度资金总额行）",
    "numeric_cells": "应填数字的单元格（金额、人数、分值、得分）不能是文字",
    "non_negative": "金额、人数不能为负数",
    "required_cells": "有三级指标的行须填年度指标值、分值；有分值的行须填自评得分",
    "indicator_labels": "一级、二级指标名称须是模板规定的名称，且二级指标归属正确的一级指标",
}

SCORED_INDEX = ("workbook", "sheet", "row")
AMOUNT_INDEX = ("workbook", "sheet", "row", "field")


@dataclass(slots=True)
class Frames:
    """The tables of a batch of models plus the way back from a frame row to model values.

    `scored_meta[i]` / `amount_meta[i]` describe row i of the frame: (annex, project, kind or
    label, model object); `scored_keys[i]` / `amount_keys[i]` is its index label (workbook,
    sheet, Excel row[, column]). The label → first position maps are built only when a check fails.
    """

    scored: Any  # pandas.DataFrame
    amounts: Any
    scored_meta: list[tuple[str, str | None, str, Any]]
    amount_meta: list[tuple[str, str | None, str, Value]]
    scored_keys: list[tuple[Any, ...]] = field(default_factory=list)
    amount_keys: list[tuple[Any, ...]] = field(default_factory=list)
    _positions: dict[str, dict[tuple[Any, ...], int]] = field(default_factory=dict)

    def meta(self, frame: str, index: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """The row described by an index label (its first row, should a label repeat)."""
        pos = self._positions.get(frame)
        if pos is None:
            pos = {}
            for i, key in enumerate(self.scored_keys if frame == "scored" else self.amount_keys):
                pos.setdefault(key, i)
            self._positions[frame] = pos
        i = pos.get(index)
        if i is None:
            return None
        return (self.scored_meta if frame == "scored" else self.amount_meta)[i]


def _num(v: Value) -> float:
    return v.number if v.number is not None else math.nan


def _is_text(v: Value) -> bool:
    """Filled, not "——"/"无", and not a number: text where a number belongs."""
    return not v.blank and not v.na and v.number is None and not v.formula_without_value


def _strip_suffix(label: str) -> str:
    return label[:-2] if label.endswith("指标") else label


def build_frames(models: Sequence[tuple[Any, WorkbookModel]]) -> Frames:
    """One scored-row frame and one amount-cell frame for all `models` ((workbook id, model) pairs),
    indexed by (workbook, sheet, Excel row[, column])."""
    return _build_frames(models, indexed=True)


def _build_frames(models: Sequence[tuple[Any, WorkbookModel]], *, indexed: bool) -> Frames:
    """`indexed=False` leaves the frames on a plain 0..n-1 index (the labels are still in
    `Frames.*_keys`): that is what `validate` passes to pandera, which copies a MultiIndex
    for every intermediate result and reports its labels as repr strings."""
    import numpy as np
    import pandas as pd  # deferred: pandas costs ~0.3 s to import

    s_keys: list[tuple[Any, ...]] = []
    s_kind: list[str] = []
    s_l1: list[str] = []
    s_l2: list[str] = []
    s_l3: list[bool] = []
    s_target: list[bool] = []
    s_w: list[float] = []
    s_s: list[float] = []
    s_wt: list[bool] = []
    s_st: list[bool] = []
    s_meta: list[tuple[str, str | None, str, Any]] = []
    a_keys: list[tuple[Any, ...]] = []
    a_val: list[float] = []
    a_text: list[bool] = []
    a_meta: list[tuple[str, str | None, str, Value]] = []

    def amount(wid: Any, annex: str, project: str | None, label: str, fld: str, v: Value) -> None:
        if not v.cell or v.blank:
            return  # a blank cell can fail no amount check
        n = v.number
        a_keys.append((wid, v.sheet, _row_of(v.cell), fld))
        a_val.append(n if n is not None else math.nan)
        a_text.append(n is None and not v.na and not v.formula_without_value)  # _is_text of a filled cell
        a_meta.append((annex, project, label, v))

    def scored(wid: Any, annex: str, project: str | None, kind: str, row_no: int, obj: Any, l1: str, l2: str,
               l3: bool, target: bool, w: Value, sc: Value) -> None:
        s_keys.append((wid, w.sheet or annex, row_no))
        s_kind.append(kind)
        s_l1.append(l1)
        s_l2.append(l2)
        s_l3.append(l3)
        s_target.append(target)
        s_w.append(w.number if w.number is not None else math.nan)
        s_s.append(sc.number if sc.number is not None else math.nan)
        s_wt.append(_is_text(w))
        s_st.append(_is_text(sc))
        s_meta.append((annex, project, kind, obj))

    for wid, m in models:
        if m.annex1 is not None:
            a1 = m.annex1
            for r in a1.expenses:
                label = r.label.text or r.key
                for col, v in r.values.items():
                    amount(wid, "附件一", None, label, col, v)
            for name, v in a1.staffing.items():
                if name != "控制率":
                    amount(wid, "附件一", None, name, name, v)
            for name, v in a1.buildings.items():
                if not name.endswith("控制率"):
                    amount(wid, "附件一", None, name, name, v)
        tables: list[tuple[str, str | None, IndicatorTable, list[LabeledRow], dict[str, Value]]] = []
        if m.annex2 is not None:
            a2 = m.annex2
            tables.append(("附件二", None, a2.indicators, [a2.funds] if a2.funds else [],
                           {**a2.income_split, **a2.expense_split}))
        for a3 in m.annex3:
            tables.append(("附件三", a3.project_name.text or a3.sheet, a3.indicators, a3.funds, {}))
        for annex, project, table, funds, splits in tables:
            for fr in funds:
                label = fr.label.text or fr.key
                for col in ("年初预算数", "全年预算数", "全年执行数"):
                    amount(wid, annex, project, label, col, fr.get(col))
                if fr.key == "年度资金总额":
                    w = fr.get("分值")
                    if w.cell:
                        scored(wid, annex, project, "资金", fr.row, fr, "", "", False, False, w, fr.get("自评得分"))
            for name, v in splits.items():
                amount(wid, annex, project, name, name, v)
            for ir in table.rows:
                scored(wid, annex, project, "指标", ir.row, ir, _strip_suffix(ir.level1_name),
                       _strip_suffix(label_key(ir.level2.text)), not ir.level3.blank and not ir.level3.na,
                       not ir.target.blank, ir.weight, ir.score)

    s_index = pd.MultiIndex.from_tuples(s_keys, names=SCORED_INDEX) if indexed else None
    a_index = pd.MultiIndex.from_tuples(a_keys, names=AMOUNT_INDEX) if indexed else None
    if indexed and not s_keys:  # from_tuples cannot tell the number of levels of an empty list
        s_index = pd.MultiIndex.from_arrays([[], [], []], names=SCORED_INDEX)
    if indexed and not a_keys:
        a_index = pd.MultiIndex.from_arrays([[], [], [], []], names=AMOUNT_INDEX)
    sframe = pd.DataFrame({
        "kind": pd.array(s_kind, dtype="str"), "一级": pd.array(s_l1, dtype="str"),
        "二级": pd.array(s_l2, dtype="str"), "三级有": np.array(s_l3, dtype=bool),
        "指标值有": np.array(s_target, dtype=bool), "分值": np.array(s_w, dtype=float),
        "自评得分": np.array(s_s, dtype=float), "分值文字": np.array(s_wt, dtype=bool),
        "自评得分文字": np.array(s_st, dtype=bool),
    }, index=s_index)
    aframe = pd.DataFrame({"金额": np.array(a_val, dtype=float), "文字": np.array(a_text, dtype=bool)},
                          index=a_index)
    return Frames(sframe, aframe, s_meta, a_meta, s_keys, a_keys)


@lru_cache(maxsize=4096)  # the same few hundred addresses recur in every workbook of a batch
def _row_of(cell: str) -> int:
    i = 0
    while i < len(cell) and cell[i].isalpha():
        i += 1
    return int(cell[i:]) if cell[i:].isdigit() else 0


# --- schemas ------------------------------------------------------------------------------

# sub-check -> (frame, the field of the row to point at, Chinese detail)
_SUB: dict[str, tuple[str, str, str]] = {
    "weight_positive": ("scored", "分值", "分值应大于 0"),
    "score_non_negative": ("scored", "自评得分", "自评得分不能为负数"),
    "score_le_weight": ("scored", "自评得分", "自评得分不能超过分值"),
    "weight_numeric": ("scored", "分值", "分值应填数字"),
    "score_numeric": ("scored", "自评得分", "自评得分应填数字"),
    "amount_numeric": ("amounts", "", "应填数字（金额/人数），不能填文字"),
    "amount_non_negative": ("amounts", "", "金额/人数不能为负数"),
    "weight_required": ("scored", "分值", "已填三级指标，但未填分值"),
    "target_required": ("scored", "年度指标值", "已填三级指标，但未填年度指标值"),
    "score_required": ("scored", "自评得分", "有分值，但未填自评得分"),
    "level1_allowed": ("scored", "一级指标", "一级指标名称不在模板规定之列"),
    "level2_allowed": ("scored", "二级指标", "二级指标名称不在模板规定之列，或不属于该一级指标"),
}


def _allowed_labels(rule: Rule) -> dict[str, set[str]]:
    spec = rule.params.get("indicator_labels") or {}
    return {_strip_suffix(label_key(k)): {_strip_suffix(label_key(x)) for x in (v or [])} for k, v in spec.items()}


def _checks_for(rule: Rule) -> list[tuple[str, str, Callable[..., Any]]]:
    """(frame, sub-check, vectorised function over the frame) for one schema rule."""
    name = rule.schema
    if name == "score_bounds":
        return [
            ("scored", "weight_positive", lambda d: d["分值"].isna() | (d["分值"] > 0)),
            ("scored", "score_non_negative", lambda d: d["自评得分"].isna() | (d["自评得分"] >= 0)),
            ("scored", "score_le_weight",
             lambda d: d["自评得分"].isna() | d["分值"].isna() | (d["自评得分"] <= d["分值"] + 1e-9)),
        ]
    if name == "numeric_cells":
        return [
            ("scored", "weight_numeric", lambda d: ~d["分值文字"]),
            ("scored", "score_numeric", lambda d: ~d["自评得分文字"]),
            ("amounts", "amount_numeric", lambda d: ~d["文字"]),
        ]
    if name == "non_negative":
        return [("amounts", "amount_non_negative", lambda d: d["金额"].isna() | (d["金额"] >= 0))]
    if name == "required_cells":
        ind = lambda d: (d["kind"] == "指标") & d["三级有"]  # noqa: E731
        return [
            ("scored", "weight_required", lambda d: ~ind(d) | d["分值"].notna() | d["分值文字"]),
            ("scored", "target_required", lambda d: ~ind(d) | d["指标值有"]),
            ("scored", "score_required",
             lambda d: ~(d["分值"] > 0) | d["自评得分"].notna() | d["自评得分文字"]),
        ]
    if name == "indicator_labels":
        allowed = _allowed_labels(rule)
        level1_ok = sorted(allowed)
        pairs = sorted(f"{a}|{b}" for a, bs in allowed.items() for b in bs)

        def level1(d: Any) -> Any:
            return (d["kind"] != "指标") | d["一级"].isin(level1_ok)

        def level2(d: Any) -> Any:
            # only judged under a known 一级; a wrong 一级 is level1's finding
            return (d["kind"] != "指标") | ~d["一级"].isin(level1_ok) | (d["一级"] + "|" + d["二级"]).isin(pairs)
        return [("scored", "level1_allowed", level1), ("scored", "level2_allowed", level2)]
    raise KeyError(name)


def _schemas(pack: Pack) -> dict[str, Any]:
    cached = pack.cache.get("schemas")
    if cached is not None:
        return cached
    import pandera.pandas as pa

    checks: dict[str, list[Any]] = {"scored": [], "amounts": []}
    for rule in pack.enabled_rules():
        if rule.kind != "schema":
            continue
        for frame, sub, fn in _checks_for(rule):
            # no `error=`: pandera would report it instead of the name, which carries the rule id
            checks[frame].append(pa.Check(fn, name=f"{rule.id}|{sub}"))
    out: dict[str, Any] = {}
    if checks["scored"]:
        out["scored"] = pa.DataFrameSchema({
            "kind": pa.Column(str), "一级": pa.Column(str), "二级": pa.Column(str),
            "三级有": pa.Column(bool), "指标值有": pa.Column(bool),
            "分值": pa.Column(float, nullable=True), "自评得分": pa.Column(float, nullable=True),
            "分值文字": pa.Column(bool), "自评得分文字": pa.Column(bool),
        }, checks=checks["scored"], strict=False, coerce=False)
    if checks["amounts"]:
        out["amounts"] = pa.DataFrameSchema({"金额": pa.Column(float, nullable=True), "文字": pa.Column(bool)},
                                            checks=checks["amounts"], strict=False, coerce=False)
    pack.cache["schemas"] = out
    return out


def validate(models: Sequence[tuple[Any, WorkbookModel]], pack: Pack) -> dict[Any, list[Finding]]:
    """Findings of the schema rules for every model, keyed by workbook id (an int or str); one
    pandera call per frame for the whole batch."""
    schemas = _schemas(pack)
    out: dict[Any, list[Finding]] = {wid: [] for wid, _ in models}
    if not schemas:
        return out
    import pandera.pandas as pa

    frames = _build_frames(models, indexed=False)
    for frame_name, schema in schemas.items():
        df = frames.scored if frame_name == "scored" else frames.amounts
        if df.empty:
            continue
        try:
            schema.validate(df, lazy=True)
        except pa.errors.SchemaErrors as err:
            _collect(err.failure_cases, frame_name, frames, pack, out)
    return out


def _collect(fc: Any, frame_name: str, frames: Frames, pack: Pack, out: dict[Any, list[Finding]]) -> None:
    keys = frames.scored_keys if frame_name == "scored" else frames.amount_keys
    seen: set[tuple[Any, ...]] = set()
    for check, position in zip(fc["check"], fc["index"], strict=True):
        if not isinstance(check, str) or "|" not in check or position is None:
            continue  # a structural failure (dtype) would be a bug in build_frames, not in the workbook
        index = _label_at(keys, position)
        if index is None:
            continue
        rule_id, sub = check.split("|", 1)
        key = (rule_id, sub, index)
        if key in seen:
            continue  # a frame-level check lists the failing row once per column
        seen.add(key)
        rule = pack.rules[rule_id]
        f = _finding(rule, sub, index, frame_name, frames)
        if f is not None:
            out.setdefault(index[0], []).append(f)


def _label_at(keys: list[tuple[Any, ...]], position: Any) -> tuple[Any, ...] | None:
    """The index label of a failing row, from the position pandera reports (frames are 0..n-1)."""
    if isinstance(position, float) and position.is_integer():
        position = int(position)  # a position column holding a missing label too is read as floats
    try:
        i = operator.index(position)
    except TypeError:
        return None
    return keys[i] if 0 <= i < len(keys) else None


_FIELD_OF_INDICATOR = {"分值": "weight", "自评得分": "score", "年度指标值": "target", "一级指标": "level1",
                       "二级指标": "level2"}


def _finding(rule: Rule, sub: str, index: tuple[Any, ...], frame_name: str, frames: Frames) -> Finding | None:
    detail = _SUB[sub][2]
    meta = frames.meta(frame_name, index)
    if meta is None:
        return None
    if frame_name == "amounts":
        annex, project, label, v = meta
        shown_label = f"{label}（{index[3]}）" if index[3] != label else label
        return make_finding(rule, annex=annex, sheet=v.sheet, cell=v.cell, project=project,
                            actual=shown(v), fields={"detail": detail, "label": shown_label})
    annex, project, _kind, row = meta
    target_field = _SUB[sub][1]
    if isinstance(row, IndicatorRow):
        v = getattr(row, _FIELD_OF_INDICATOR[target_field])
        label = row.level3.text or row.level2.text or f"第{row.row}行"
        weight, score = row.weight, row.score
    else:
        v = row.get(target_field)
        label = row.label.text or row.key
        weight, score = row.get("分值"), row.get("自评得分")
    expected = allowed = None
    if sub == "score_le_weight" and weight.number is not None:
        expected = f"≤ {fmt_number(weight.number)}"
        detail = f"自评得分不能超过分值 {fmt_number(weight.number)}"
    elif sub == "level1_allowed":
        allowed = "、".join(rule.params.get("indicator_labels") or {})
    elif sub == "level2_allowed" and isinstance(row, IndicatorRow):
        spec = rule.params.get("indicator_labels") or {}
        key = _strip_suffix(label_key(row.level1_name))
        allowed = "、".join(next((v for k, v in spec.items() if _strip_suffix(label_key(k)) == key), []) or [])
    cells = [c.cell for c in (weight, score) if c.cell and c.cell != v.cell]
    return make_finding(rule, annex=annex, sheet=v.sheet or weight.sheet, cell=v.cell or weight.cell,
                        project=project, actual=shown(v), expected=expected, cells=cells,
                        fields={"detail": detail, "label": label, "allowed": allowed})
