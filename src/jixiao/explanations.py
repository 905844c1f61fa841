"""审核说明: explanations a unit writes into the 审核结果 sheet of an annotated copy.

When the annotated copy is resubmitted, the read stage hands over its whole grid, including
the 审核结果 (and 评分复核) sheets this tool added. This module

* recognises those sheets by their header labels (never by position or name alone), so the
  pipeline can keep them away from the annex locator, and
* reads the filled 审核说明 cells, keyed like `Finding.key` (rule id, target sheet, cell), and
  marks the matching warnings explained. Errors cannot be explained away.

The sheet layout constants live here so that the writer (`jixiao.report.annotate`) and this
reader cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from .findings import Finding, Severity
from .read import Grid, Sheet
from .text import label_key

RESULT_SHEET = "审核结果"
REVIEW_SHEET = "评分复核"

# Columns of the 审核结果 table, in order. The hidden last column keeps the original fill of the
# flagged cell so that re-annotating restores it (see report.annotate).
RESULT_COLUMNS = ("序号", "严重程度", "规则", "附件", "单元格", "说明", "应为", "实为", "审核说明")
HIDDEN_FILL_COLUMN = "原底色"
# The labels that identify the table; all must sit in one row (in any order). Strict enough that
# a unit's own sheet is never taken for ours (re-annotation deletes our sheets).
_RESULT_KEYS = ("序号", "严重程度", "规则", "单元格", "审核说明")
# The 评分复核 table is recognised by these header labels in one row.
REVIEW_KEYS = ("指标", "填报得分", "复核得分")
_SCAN_ROWS = 30  # header rows sit near the top; keeps recognition cheap on big sheets
# A character of a label each table requires (审核说明 / 复核得分) that no other character folds
# into (NFKC): a sheet whose top rows never contain it is no table of ours, whatever the
# folding would say, so ordinary sheets skip folding every label (tests/test_text_and_locate.py).
_HEADER_MARK = "核"

_A1_RE = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d{1,7})$")
# Text that fills the cell but explains nothing.
_NOT_AN_EXPLANATION = {"", "无", "暂无", "/", "-", "--", "—", "——", "…", "……", "无说明"}


def find_result_header(rows: Sequence[Sequence[Any]]) -> tuple[int, dict[str, int]] | None:
    """(header row index, {label: column}) of a 审核结果 table, or None."""
    return _find_header(rows, _RESULT_KEYS)


def find_review_header(rows: Sequence[Sequence[Any]]) -> tuple[int, dict[str, int]] | None:
    return _find_header(rows, REVIEW_KEYS)


def _find_header(rows: Sequence[Sequence[Any]], required: tuple[str, ...]) -> tuple[int, dict[str, int]] | None:
    if not _may_hold_header(rows):
        return None
    for r, row in enumerate(rows[:_SCAN_ROWS]):
        cols: dict[str, int] = {}
        for c, v in enumerate(row):
            if isinstance(v, str) and v.strip():
                k = label_key(v)
                if k not in cols:
                    cols[k] = c
        if all(k in cols for k in required):
            return r, cols
    return None


def _may_hold_header(rows: Sequence[Sequence[Any]]) -> bool:
    """False when no header row can hold a table of ours (see _HEADER_MARK)."""
    for row in rows[:_SCAN_ROWS]:
        for v in filter(None, row):  # skips the many empty cells ("") at C speed
            if isinstance(v, str) and _HEADER_MARK in v:
                return True
    return False


def _sheet_may_hold_header(sheet: Sheet) -> bool:
    """`_may_hold_header` of the sheet's rows, through its cached head text: the pipeline asks
    for every sheet in read_explanations and again in without_report_sheets."""
    return _HEADER_MARK in sheet.head_text(_SCAN_ROWS)


def report_sheet_kind(sheet: Sheet) -> str | None:
    """RESULT_SHEET / REVIEW_SHEET when `sheet` is one this tool added, else None."""
    if not _sheet_may_hold_header(sheet):  # most sheets: one cheap test instead of two foldings
        return None
    if find_result_header(sheet.rows) is not None:
        return RESULT_SHEET
    if find_review_header(sheet.rows) is not None:
        return REVIEW_SHEET
    return None


def without_report_sheets(grid: Grid) -> Grid:
    """The grid minus the sheets of a previous annotation, so they are never taken for annexes."""
    kept = [s for s in grid.sheets if report_sheet_kind(s) is None]
    if len(kept) == len(grid.sheets):
        return grid
    return Grid(source=grid.source, format=grid.format, sheets=kept)


def parse_target(text: Any) -> tuple[str, str] | None:
    """"附件二!H14" -> ("附件二", "H14"); "附件二" (a whole-table finding) -> ("附件二", "")."""
    if not isinstance(text, str) or not text.strip():
        return None
    t = text.strip()
    if "!" in t:
        sheet, _, cell = t.rpartition("!")
        m = _A1_RE.match(cell.strip())
        if m:
            return _unquote(sheet), f"{m.group(1).upper()}{m.group(2)}"
    return _unquote(t), ""


def _unquote(sheet: str) -> str:
    s = sheet.strip()
    if len(s) >= 2 and s[0] == s[-1] == "'":
        s = s[1:-1].replace("''", "'")
    return s


def rule_id(text: Any) -> str:
    """The rule id is the first word of the 规则 column ("BDT-3 执行率" -> "BDT-3")."""
    if text is None:
        return ""
    parts = str(text).split()
    return parts[0] if parts else ""


def is_explanation(text: Any) -> bool:
    return isinstance(text, str) and text.strip() not in _NOT_AN_EXPLANATION


def read_explanations(grid: Grid) -> dict[tuple[str, str, str], str]:
    """Filled 审核说明 cells of every 审核结果 table in the grid, keyed (rule, sheet, cell)."""
    out: dict[tuple[str, str, str], str] = {}
    for sheet in grid.sheets:
        found = find_result_header(sheet.rows) if _sheet_may_hold_header(sheet) else None
        if found is None:
            continue
        hr, cols = found
        c_rule, c_cell, c_note = cols["规则"], cols["单元格"], cols["审核说明"]
        for r in range(hr + 1, sheet.height):
            note = sheet.merged_value(r, c_note)
            if not is_explanation(note):
                continue
            rule = rule_id(sheet.merged_value(r, c_rule))
            target = parse_target(sheet.merged_value(r, c_cell))
            if not rule or target is None:
                continue
            key = (rule, *target)
            text = str(note).strip()
            # Two rows for one key (several messages on one cell): keep every distinct text.
            if key in out and text not in out[key]:
                text = f"{out[key]}；{text}"
            out[key] = text
    return out


def apply_explanations(findings: Iterable[Finding], explanations: dict[tuple[str, str, str], str]) -> None:
    """Mark warnings whose key has an explanation as explained.

    An error keeps `explained=False` but still carries the text in `explanation`, so the next
    annotated copy shows what the unit wrote (errors must be fixed, not explained).
    """
    if not explanations:
        return
    for f in findings:
        text = explanations.get(f.key)
        if text is None:
            continue
        f.explanation = text
        f.explained = f.severity is Severity.WARNING
