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

    Row i of `scored` is the scored row `scored_rows[i]` (an `IndicatorRow` or the 年度资金总额
    `LabeledRow`) of the table described by `scored_where[i]` = (workbook, annex, project); row i
    of `amounts` is the cell `amount_values[i]`, field `amount_fields[i]` of the row or group
    `amount_where[i]` = (workbook, annex, project, label). Index labels (workbook, sheet, Excel
    row[, column]) are worked out only for rows that failed a check (`key`, `meta`).
    """

    scored: Any  # pandas.DataFrame
    amounts: Any
    scored_rows: list[IndicatorRow | LabeledRow]
    scored_where: list[tuple[Any, str, str | None]]
    amount_values: list[Value]
    amount_fields: list[str]
    amount_where: list[tuple[Any, str, str | None, str]]
    spans: dict[Any, list[tuple[int, int, int, int]]]  # workbook -> its rows: scored [s0, s1), amounts [a0, a1)
    _positions: dict[tuple[str, Any], dict[tuple[Any, ...], int]] = field(default_factory=dict)

    def key(self, frame: str, i: int) -> tuple[Any, ...]:
        """The index label of row i: (workbook, sheet, Excel row[, column])."""
        if frame == "scored":
            row, (wid, annex, _project) = self.scored_rows[i], self.scored_where[i]
            w = row.weight if type(row) is IndicatorRow else row.get("分值")
            return (wid, w.sheet or annex, row.row)
        v = self.amount_values[i]
        return (self.amount_where[i][0], v.sheet, _row_of(v.cell), self.amount_fields[i])

    def meta(self, frame: str, index: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """(annex, project, kind or label, model object) of the first row with index label `index`."""
        wid = index[0]
        pos = self._positions.get((frame, wid))
        if pos is None:  # the labels of this workbook's rows only: a label starts with its workbook
            pos = {}
            for s0, s1, a0, a1 in self.spans.get(wid, ()):
                for i in range(s0, s1) if frame == "scored" else range(a0, a1):
                    pos.setdefault(self.key(frame, i), i)
            self._positions[(frame, wid)] = pos
        i = pos.get(index)
        if i is None:
            return None
        if frame == "scored":
            row, (_wid, annex, project) = self.scored_rows[i], self.scored_where[i]
            return (annex, project, "指标" if type(row) is IndicatorRow else "资金", row)
        _wid, annex, project, label = self.amount_where[i]
        return (annex, project, label, self.amount_values[i])


def _is_text(v: Value) -> bool:
    """Filled, not "——"/"无", and not a number: text where a number belongs."""
    return not v.blank and not v.na and v.number is None and not v.formula_without_value


def _strip_suffix(label: str) -> str:
    return label[:-2] if label.endswith("指标") else label


@lru_cache(maxsize=4096)  # the same few labels recur in every workbook of a batch
def _level2_label(text: str) -> str:
    return _strip_suffix(label_key(text))


def build_frames(models: Sequence[tuple[Any, WorkbookModel]]) -> Frames:
    """One scored-row frame and one amount-cell frame for all `models` ((workbook id, model) pairs),
    indexed by (workbook, sheet, Excel row[, column])."""
    import pandas as pd

    f = _build_frames(models)
    for frame, names in (("scored", SCORED_INDEX), ("amounts", AMOUNT_INDEX)):
        df = f.scored if frame == "scored" else f.amounts
        keys = [f.key(frame, i) for i in range(len(df))]
        # from_tuples cannot tell the number of levels of an empty list
        df.index = (pd.MultiIndex.from_tuples(keys, names=names) if keys
                    else pd.MultiIndex.from_arrays([[] for _ in names], names=names))
    return f


def _build_frames(models: Sequence[tuple[Any, WorkbookModel]]) -> Frames:
    """The frames on a plain 0..n-1 index: that is what `validate` passes to pandera, which copies
    a MultiIndex for every intermediate result and reports its labels as repr strings.

    Model objects are gathered first and the columns built from them in one go each. The frames
    keep nine and two columns with NaN only where the checks allow it: pandera lists a failing
    row once per non-missing column and sorts that list with an unstable sort, so the shape of
    the frames decides the order of findings that tie on annex, sheet, severity, cell and rule."""
    import numpy as np
    import pandas as pd  # deferred: pandas costs ~0.3 s to import

    rows: list[IndicatorRow | LabeledRow] = []  # scored rows
    where: list[tuple[Any, str, str | None]] = []
    weights: list[Value] = []
    scores: list[Value] = []
    vals: list[Value] = []  # amount cells
    flds: list[str] = []
    owners: list[tuple[Any, str, str | None, str]] = []

    def amounts(owner: tuple[Any, str, str | None, str] | None, wid: Any, annex: str, project: str | None,
                items: Any, skip: Callable[[str], bool] | None = None) -> None:
        """Filled cells of one row (`owner` given: its label for every column) or one group of
        named cells (each its own label)."""
        for fld, v in items:
            if not v.cell or v.blank or (skip is not None and skip(fld)):
                continue  # a blank cell can fail no amount check
            vals.append(v)
            flds.append(fld)
            owners.append(owner if owner is not None else (wid, annex, project, fld))

    spans: dict[Any, list[tuple[int, int, int, int]]] = {}
    for wid, m in models:
        s0, a0 = len(rows), len(vals)
        if m.annex1 is not None:
            a1 = m.annex1
            for r in a1.expenses:
                amounts((wid, "附件一", None, r.label.text or r.key), wid, "附件一", None, r.values.items())
            amounts(None, wid, "附件一", None, a1.staffing.items(), lambda k: k == "控制率")
            amounts(None, wid, "附件一", None, a1.buildings.items(), lambda k: k.endswith("控制率"))
        tables: list[tuple[str, str | None, IndicatorTable, list[LabeledRow], list[dict[str, Value]]]] = []
        if m.annex2 is not None:
            a2 = m.annex2
            tables.append(("附件二", None, a2.indicators, [a2.funds] if a2.funds else [],
                           [a2.income_split, a2.expense_split]))
        for a3 in m.annex3:
            tables.append(("附件三", a3.project_name.text or a3.sheet, a3.indicators, a3.funds, []))
        for annex, project, table, funds, splits in tables:
            here = (wid, annex, project)
            for fr in funds:
                label = fr.label.text or fr.key
                amounts((wid, annex, project, label), wid, annex, project,
                        [(col, fr.get(col)) for col in ("年初预算数", "全年预算数", "全年执行数")])
                if fr.key == "年度资金总额":
                    w = fr.get("分值")
                    if w.cell:
                        rows.append(fr)
                        where.append(here)
                        weights.append(w)
                        scores.append(fr.get("自评得分"))
            if splits:  # income then expense split, a later name overriding an earlier one
                amounts(None, wid, annex, project, {**splits[0], **splits[1]}.items())
            irows = table.rows
            rows += irows
            where += [here] * len(irows)
            weights += [ir.weight for ir in irows]
            scores += [ir.score for ir in irows]
        spans.setdefault(wid, []).append((s0, len(rows), a0, len(vals)))

    indicator = [type(r) is IndicatorRow for r in rows]
    level1 = [_strip_suffix(r.level1_name) if ind else "" for r, ind in zip(rows, indicator, strict=True)]
    sframe = pd.DataFrame({
        "指标行": np.array(indicator, dtype=bool),
        "一级": pd.Categorical(level1),
        # the 二级 label with its 一级 ("产出|数量"): what the allowed pairs are matched against
        "一级|二级": pd.Categorical([f"{l1}|{_level2_label(r.level2.text)}" if ind else "|"
                                  for r, l1, ind in zip(rows, level1, indicator, strict=True)]),
        "三级有": np.array([ind and not r.level3.blank and not r.level3.na
                          for r, ind in zip(rows, indicator, strict=True)], dtype=bool),
        "指标值有": np.array([ind and not r.target.blank for r, ind in zip(rows, indicator, strict=True)], dtype=bool),
        "分值": np.array([v.number for v in weights], dtype=float),  # None -> NaN
        "自评得分": np.array([v.number for v in scores], dtype=float),
        "分值文字": np.array([_is_text(v) for v in weights], dtype=bool),
        "自评得分文字": np.array([_is_text(v) for v in scores], dtype=bool),
    })
    aframe = pd.DataFrame({
        "金额": np.array([v.number for v in vals], dtype=float),
        # _is_text of a filled cell
        "文字": np.array([v.number is None and not v.na and not v.formula_without_value for v in vals], dtype=bool),
    })
    return Frames(sframe, aframe, rows, where, vals, flds, owners, spans)


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
        ind = lambda d: d["指标行"] & d["三级有"]  # noqa: E731
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
            return ~d["指标行"] | d["一级"].isin(level1_ok)

        def level2(d: Any) -> Any:
            # only judged under a known 一级; a wrong 一级 is level1's finding
            return ~d["指标行"] | ~d["一级"].isin(level1_ok) | d["一级|二级"].isin(pairs)
        return [("scored", "level1_allowed", level1), ("scored", "level2_allowed", level2)]
    raise KeyError(name)


def schemas_of(pack: Pack) -> dict[str, Any]:
    cached = pack.cache.get("schemas")
    if cached is not None:
        return cached
    import pandera.pandas as pa

    checks: dict[str, list[Any]] = {"scored": [], "amounts": []}
    for rule in pack.enabled_rules():
        if rule.kind != "schema":
            continue
        for frame, sub, fn in _checks_for(rule):
            # no `error=`: pandera would report it instead of the name, which carries the rule id.
            # ignore_na=False: every frame has a bool column, so no row is all-NA and pandera's
            # per-check pass over the whole frame looking for one would change nothing
            checks[frame].append(pa.Check(fn, name=f"{rule.id}|{sub}", ignore_na=False))
    out: dict[str, Any] = {}
    if checks["scored"]:
        out["scored"] = pa.DataFrameSchema({
            "指标行": pa.Column(bool), "一级": pa.Column("category"), "一级|二级": pa.Column("category"),
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
    schemas = schemas_of(pack)
    out: dict[Any, list[Finding]] = {wid: [] for wid, _ in models}
    if not schemas:
        return out
    import pandera.pandas as pa

    frames = _build_frames(models)
    for frame_name, schema in schemas.items():
        df = frames.scored if frame_name == "scored" else frames.amounts
        if df.empty:
            continue
        try:
            schema.validate(df, lazy=True, inplace=True)  # inplace: no copy (nothing is coerced)
        except pa.errors.SchemaErrors as err:
            order = {c.name: k for k, c in enumerate(schema.checks)}
            _collect(err.failure_cases, frame_name, frames, pack, out, order)
    return out


def _collect(fc: Any, frame_name: str, frames: Frames, pack: Pack, out: dict[Any, list[Finding]],
             order: dict[str, int]) -> None:
    """Findings from pandera's failure cases, in frame row order, then in the schema's check
    order: pandera sorts its list with an unstable sort, so its own order could depend on the
    other workbooks of the batch (and a file's findings on whether it was checked alone)."""
    seen: set[tuple[Any, ...]] = set()
    cases = []
    for check, position in zip(fc["check"], fc["index"], strict=True):
        if not isinstance(check, str) or "|" not in check or position is None:
            continue  # a structural failure (dtype) would be a bug in build_frames, not in the workbook
        i = _position(position)
        if i is not None:
            cases.append((i, order.get(check, len(order)), check))
    cases.sort()
    for i, _rank, check in cases:
        index = _label_at(frames, frame_name, i)
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


def _position(position: Any) -> int | None:
    """The frame row pandera reports (frames are indexed 0..n-1)."""
    if isinstance(position, float) and position.is_integer():
        position = int(position)  # a position column holding a missing label too is read as floats
    try:
        return operator.index(position)
    except TypeError:
        return None


def _label_at(frames: Frames, frame_name: str, i: int) -> tuple[Any, ...] | None:
    """The index label of failing row i."""
    n = len(frames.scored_rows if frame_name == "scored" else frames.amount_values)
    return frames.key(frame_name, i) if 0 <= i < n else None


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
