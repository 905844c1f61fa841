"""The annotated copy: every finding written back into a copy of the workbook.

The accountant opens one file and sees what to fix:
* flagged cells filled red (强制) / yellow (提示) / blue (信息), with a comment listing every
  message on that cell (on the top-left cell of a merged range);
* a new first sheet 审核结果: file, unit, counts, legend, then one row per finding with a
  hyperlink to its cell and an empty, unlocked 审核说明 column for the unit's explanation;
* a 评分复核 sheet with the score review, when scoring ran.

The input is never modified: it is read as bytes and the copy is written atomically next to
it (or into `out_dir`) as `<stem>.审核.xlsx`. Anything the copy cannot keep is named in one
Chinese line (see `fidelity`), never lost silently.

Re-annotating an annotated copy replaces our sheets, comments and fills instead of stacking
them; the original fill of every cell we painted is kept in a hidden column of 审核结果.
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from copy import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import MergedCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.styles.fills import Fill
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.xml.functions import fromstring, tostring

from ..atomic import write_atomic
from ..errors import CannotCheck, OutputError
from ..explanations import (
    HIDDEN_FILL_COLUMN,
    RESULT_COLUMNS,
    RESULT_SHEET,
    REVIEW_SHEET,
    find_result_header,
    find_review_header,
    parse_target,
)
from ..findings import Finding, Severity, sort_key
from ..model import Notice
from ..read import read_bytes, sniff
from ..result import FileResult
from . import fidelity
from .merged_borders import fast_merged_borders
from .rebuild import put, workbook_from_grid

AUTHOR = "check-workbook"
SUFFIX = ".审核"
NOTICE_CODE = "ANNOTATED_COPY_LOSS"
COMMENT_MARK = "【check-workbook 审核意见】"

# Excel's own "bad / neutral / note" tints: readable on screen and in grey-scale print.
COLORS = {Severity.ERROR: "FFFFC7CE", Severity.WARNING: "FFFFEB9C", Severity.INFO: "FFDDEBF7"}
FILLS = {s: PatternFill("solid", start_color=c, end_color=c) for s, c in COLORS.items()}
_OUR_RGB = set(COLORS.values())
LEGEND = {Severity.ERROR: "强制：必须修改", Severity.WARNING: "提示：请核实，确属正常的在「审核说明」中说明原因",
          Severity.INFO: "信息：供参考，无需处理"}
NOTE_FILL = PatternFill("solid", start_color="FFE2EFDA", end_color="FFE2EFDA")  # the cells the unit fills in
HEAD_FILL = PatternFill("solid", start_color="FFD9D9D9", end_color="FFD9D9D9")
_THIN = Side(style="thin", color="FF808080")
BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
WRAP = Alignment(wrap_text=True, vertical="top")
CENTER = Alignment(horizontal="center", vertical="top", wrap_text=True)


@dataclass(slots=True)
class _Fonts:
    """Our fonts, in the workbook's own face: a bare Font(bold=True) has no name, and
    LibreOffice then falls back to a serif face for digits."""

    bold: Font
    title: Font
    link: Font

    @classmethod
    def of(cls, wb: Workbook) -> _Fonts:
        fonts = getattr(wb, "_fonts", None)  # the workbook's font table; [0] is the Normal font
        base = fonts[0] if fonts else Font(name="宋体", size=11)
        name, size = base.name or "宋体", base.sz or 11
        return cls(bold=Font(name=name, size=size, bold=True), title=Font(name=name, size=16, bold=True),
                   link=Font(name=name, size=size, color="FF0563C1", underline="single"))

RESULT_WIDTHS = (6, 10, 18, 12, 13, 56, 14, 14, 34)  # landscape A4, fits the width with fit-to-page
REVIEW_COLUMNS = {  # ScoreReview.rows() keys -> Chinese headers (in this order)
    "annex": "附件", "sheet": "工作表", "row": "行", "cell": "单元格", "level1": "一级指标",
    "indicator": "指标", "target": "年度指标值", "actual": "实际完成值", "weight": "分值",
    "reported": "填报得分", "recomputed": "复核得分", "diff": "差异", "verdict": "结论", "note": "说明",
}
REVIEW_TOTALS = {  # ScoreReview.to_json() top-level keys -> Chinese labels
    "reported_total": "自评总分", "reported_grade": "自评等级", "recomputed_total": "复核总分",
    "recomputed_range": "复核区间", "recomputed_grade": "复核等级", "rubric": "评分规则",
}
_CELL_RE = re.compile(r"^\$?([A-Z]{1,3})\$?(\d{1,7})$")


@dataclass(slots=True)
class Annotated:
    path: Path
    loss: str | None  # the one-line Chinese fidelity notice, or None when nothing was lost


def annotated_path(source: str | Path, out_dir: str | Path | None = None) -> Path:
    """`<stem>.审核.xlsx` next to the input, or in `out_dir`."""
    src = Path(source)
    return Path(out_dir or src.parent) / f"{src.stem}{SUFFIX}.xlsx"


def annotate(result: FileResult, target: str | Path | None = None, *, out_dir: str | Path | None = None,
             source: str | Path | None = None, data: bytes | None = None) -> Annotated | None:
    """Write the annotated copy of `source` (default `result.path`) and record it in `result.outputs`.

    The copy goes to `target`, else `annotated_path(source, out_dir)`. Returns None for a file
    that could not be checked (there is nothing to annotate). The fidelity line, if any, is
    also appended to `result.model.notices` (code ANNOTATED_COPY_LOSS) so the console and JSON
    reports show it with the file's other notices.
    """
    if not result.checked:
        return None
    src = Path(source or result.path)
    dest = Path(target) if target else annotated_path(src, out_dir)
    if dest.resolve() == src.resolve():  # never write over the input
        raise ValueError(f"annotated copy would overwrite its input: {src}")
    raw = src.read_bytes() if data is None else data
    wb, lost = _open(raw, src.name)
    try:
        build(wb, result)
        _write_copy(wb, dest)
    except CannotCheck:  # e.g. the batch's time limit: not a reason to try again
        raise
    except Exception:
        if "rebuilt" in lost or "rebuilt_values" in lost:
            raise
        # Something in the file trips openpyxl only on save: the copy from the grid still helps.
        wb, lost = _rebuild(raw, src.name)
        build(wb, result)
        _write_copy(wb, dest)
    loss = fidelity.loss_line(lost)
    if str(dest) not in result.outputs:
        result.outputs.append(str(dest))
    if loss and result.model is not None and not any(n.code == NOTICE_CODE for n in result.model.notices):
        result.model.notices.append(Notice(NOTICE_CODE, loss))
    return Annotated(dest, loss)


def _write_copy(wb: Workbook, dest: Path) -> None:
    """Save `wb` as `dest`, through memory: a disk that fills up fails the one write (an output
    problem) instead of leaving openpyxl's half-written zip open on the temporary file. When an
    earlier copy stays in its place (open in Excel), the error says that copy is out of date, so
    nobody works from it as if it were this check's."""
    def save(path: Path) -> None:
        buf = io.BytesIO()
        wb.save(buf)
        path.write_bytes(buf.getbuffer())

    try:
        write_atomic(dest, save)
    except OutputError as exc:
        if dest.is_file():
            raise OutputError(f"{exc.message}；该位置现有的审核副本是以前检查的结果，已过时") from exc
        raise


def _open(data: bytes, name: str) -> tuple[Workbook, dict[str, int]]:
    """The workbook to annotate plus what the copy loses. openpyxl when it can, else a rebuild."""
    zf = zipfile.ZipFile(io.BytesIO(data)) if sniff(data) == "xlsx" else None
    if zf is not None and _merged_area(zf) <= MAX_OPENPYXL_MERGED_CELLS:
        lost = fidelity.scan_zip(zf)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                # rich_text keeps formatted runs; never data_only (it would replace formulas by values).
                # keep_vba stays off: the copy is an .xlsx, and macros are reported as not kept.
                try:
                    with fast_merged_borders():
                        wb = load_workbook(io.BytesIO(data), rich_text=True)
                except CannotCheck:
                    raise
                except Exception:  # whatever the memo tripped on, openpyxl's own code decides
                    caught.clear()
                    wb = load_workbook(io.BytesIO(data), rich_text=True)
        except CannotCheck:
            raise
        except Exception:  # openpyxl refuses some files calamine reads: rebuild from the grid
            pass
        else:
            wb.template = False  # an .xltx input: the copy is a workbook, not a template
            return wb, fidelity.merge(lost, fidelity.from_warnings(caught))
    return _rebuild(data, name)


# openpyxl makes one object per cell under a merged range: a crafted "A1:SZ20000" costs minutes
# and gigabytes. Past this the copy is rebuilt from the grid, whose merges are clipped to the data.
MAX_OPENPYXL_MERGED_CELLS = 200_000
_MERGE_REF = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="\$?([A-Z]{1,3})\$?(\d{1,7}):\$?([A-Z]{1,3})\$?(\d{1,7})"')


def _merged_area(zf: zipfile.ZipFile) -> int:
    """Cells under merged ranges, over all worksheets, from the XML (before openpyxl sees it)."""
    total = 0
    for info in zf.infolist():
        if not info.filename.startswith("xl/worksheets/"):
            continue
        xml = zf.read(info)
        if b"mergeCell" not in xml:
            continue
        for c0, r0, c1, r1 in _MERGE_REF.findall(xml):
            rows = abs(int(r1) - int(r0)) + 1
            cols = abs(_col(c1) - _col(c0)) + 1
            total += rows * cols
            if total > MAX_OPENPYXL_MERGED_CELLS:
                return total
    return total


def _col(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def _rebuild(data: bytes, name: str) -> tuple[Workbook, dict[str, int]]:
    wb, widths_known = workbook_from_grid(read_bytes(data, name), data)
    return wb, {"rebuilt": 1} if widths_known else {"rebuilt_values": 1, "rebuilt_widths": 1}


def build(wb: Workbook, result: FileResult) -> None:
    """Annotate an open workbook in place (exposed for tests and benchmarks)."""
    _remove_previous(wb)
    anchors = _Anchors(wb)
    placed = [(f, anchors(f.sheet, f.cell)) for f in sorted(result.findings, key=sort_key)]
    originals = _paint(wb, placed)
    ws = wb.create_sheet(RESULT_SHEET, 0)
    fonts = _Fonts.of(wb)
    _result_sheet(ws, result, placed, originals, fonts)
    if result.review is not None:
        _review_sheet(wb.create_sheet(REVIEW_SHEET, 1), result, fonts)
    _activate_first(wb)


# --- replacing a previous annotation ---------------------------------------------------------

def _remove_previous(wb: Workbook) -> None:
    """Drop our sheets, restore the fills we painted and strip our comments."""
    for ws in list(wb.worksheets):
        # Our header rows sit top-left; iter_rows creates the cells it visits, so keep it small.
        head = [list(r) for r in ws.iter_rows(max_row=30, max_col=min(ws.max_column, 40), values_only=True)]
        found = find_result_header(head)
        if found is not None:
            _restore_fills(wb, ws, *found)
            wb.remove(ws)
        elif find_review_header(head) is not None:
            wb.remove(ws)
    for ws in wb.worksheets:
        # ws._cells holds only cells that exist: far cheaper than iter_rows over the used range.
        for cell in list(ws._cells.values()):
            c = cell.comment
            if c is None or not (c.author == AUTHOR or COMMENT_MARK in (c.text or "")):
                continue
            before = (c.text or "").split(COMMENT_MARK)[0].rstrip()
            if c.author != AUTHOR and before:  # the unit's own comment, ours was appended
                cell.comment = Comment(before, c.author, height=c.height, width=c.width)
            else:
                cell.comment = None
            if _is_ours(cell.fill):
                cell.fill = PatternFill()


def _restore_fills(wb: Workbook, ws: Worksheet, hr: int, cols: dict[str, int]) -> None:
    c_cell, c_fill = cols.get("单元格"), cols.get(HIDDEN_FILL_COLUMN)
    if c_cell is None:
        return
    for row in ws.iter_rows(min_row=hr + 2, values_only=True):
        target = parse_target(row[c_cell] if c_cell < len(row) else None)
        if target is None or not target[1] or target[0] not in wb.sheetnames:
            continue
        cell = wb[target[0]][target[1]]
        if isinstance(cell, MergedCell) or not _is_ours(cell.fill):
            continue
        saved = row[c_fill] if c_fill is not None and c_fill < len(row) else None
        cell.fill = _fill_from_xml(saved) if saved else PatternFill()


def _is_ours(fill: Fill) -> bool:
    # cell.fill is a StyleProxy, so duck-type rather than isinstance(PatternFill).
    return getattr(fill, "fill_type", None) == "solid" and \
        getattr(getattr(fill, "fgColor", None), "rgb", None) in _OUR_RGB


def _fill_to_xml(fill: Fill) -> str:
    return tostring(fill.to_tree()).decode("utf-8")


def _fill_from_xml(text: str) -> Fill:
    try:
        return Fill.from_tree(fromstring(text))
    except Exception:  # a hand-edited hidden cell: fall back to no fill
        return PatternFill()


# --- painting the flagged cells --------------------------------------------------------------

Placed = Sequence[tuple[Finding, "tuple[str, str] | None"]]  # finding, (sheet, top-left cell)


def _paint(wb: Workbook, placed: Placed) -> dict[tuple[str, str], str]:
    """Fill and comment every flagged cell. Returns the original fills we covered, as XML."""
    by_cell: dict[tuple[str, str], list[Finding]] = {}
    for f, ref in placed:
        if ref is not None:
            by_cell.setdefault(ref, []).append(f)
    # Register our three fills once and set the index: `cell.fill = ...` hashes the fill each time.
    fill_ids = {sev: wb._fills.add(fill) for sev, fill in FILLS.items()}
    originals: dict[tuple[str, str], str] = {}
    for (sheet, coord), group in by_cell.items():
        cell = wb[sheet][coord]
        worst = max(group, key=lambda f: f.severity.rank).severity
        fill = cell.fill
        if (getattr(fill, "fill_type", None) or getattr(fill, "tagname", "") == "gradientFill") \
                and not _is_ours(fill):
            originals[(sheet, coord)] = _fill_to_xml(fill)
        cell._style.fillId = fill_ids[worst]
        text = _comment_text(group)
        own = cell.comment
        if own is not None and own.text and own.author != AUTHOR:  # keep the unit's comment above ours
            cell.comment = _sized_comment(f"{own.text.rstrip()}\n\n{text}", own.author)
        else:
            cell.comment = _sized_comment(text, AUTHOR)
    return originals


class _Anchors:
    """Flagged cell -> (sheet, coordinate) to annotate: the top-left of its merged range.

    Merge bounds are read once per sheet: `coord in ws.merged_cells.ranges` builds a CellRange
    per test, which made annotation ~10x slower than the load it follows.
    """

    def __init__(self, wb: Workbook) -> None:
        self.wb = wb
        self._bounds: dict[str, list[tuple[int, int, int, int]]] = {}

    def __call__(self, sheet: str, cell: str) -> tuple[str, str] | None:
        if not sheet or sheet not in self.wb.sheetnames:
            return None
        m = _CELL_RE.match((cell or "").split(":")[0].strip().upper())
        if not m:
            return None
        bounds = self._bounds.get(sheet)
        if bounds is None:
            ws = self.wb[sheet]
            ranges = ws.merged_cells.ranges if hasattr(ws, "merged_cells") else ()  # chartsheets have none
            bounds = self._bounds[sheet] = [r.bounds for r in ranges]  # (min_col, min_row, max_col, max_row)
        col, row = column_index_from_string(m.group(1)), int(m.group(2))
        for c0, r0, c1, r1 in bounds:
            if r0 <= row <= r1 and c0 <= col <= c1:
                return sheet, f"{get_column_letter(c0)}{r0}"
        return sheet, f"{m.group(1)}{m.group(2)}"


def _comment_text(group: Iterable[Finding]) -> str:
    lines = [COMMENT_MARK]
    for f in sorted(group, key=lambda f: -f.severity.rank):
        line = f"［{f.severity.label}］{f.rule} {f.message}"
        ev = _expected_actual(f)
        if ev:
            line += f"（{ev}）"
        lines.append(line)
        if f.explanation:
            lines.append(f"　审核说明：{f.explanation}" + ("" if f.explained else "（强制问题须修改，不能以说明代替）"))
    return "\n".join(lines)


def _expected_actual(f: Finding) -> str:
    parts = []
    if f.expected not in (None, ""):
        parts.append(f"应为 {f.expected}")
    if f.actual not in (None, ""):
        parts.append(f"实为 {f.actual}")
    return "，".join(parts)


def _sized_comment(text: str, author: str) -> Comment:
    # openpyxl's default box (144 x 79 px) cuts Chinese text off; size it to the content.
    width = 320
    per_line = 22  # CJK characters per line at this width
    lines = sum(max(1, -(-len(p) // per_line)) for p in text.split("\n"))
    return Comment(text, author, height=min(24 + 18 * lines, 600), width=width)


# --- the 审核结果 sheet ---------------------------------------------------------------------

def _result_sheet(ws: Worksheet, result: FileResult, placed: Placed,
                  originals: dict[tuple[str, str], str], fonts: _Fonts) -> None:
    model = result.model
    findings = [f for f, _ in placed]
    ncols = len(RESULT_COLUMNS)
    last = get_column_letter(ncols)
    # Header lines are not merged: unwrapped text runs on over the empty cells to its right,
    # and every merge costs openpyxl a cell object per covered cell.
    ws["A1"] = "审核结果"
    ws["A1"].font = fonts.title
    ws.row_dimensions[1].height = 28

    err = result.count(Severity.ERROR)
    warn, warn_ok = result.count(Severity.WARNING), result.count(Severity.WARNING, explained=True)
    info = result.count(Severity.INFO)
    counts = f"强制 {err} 项；提示 {warn} 项"
    counts += f"（其中已说明 {warn_ok} 项）" if warn_ok else ""
    counts += f"；信息 {info} 项"
    header = [
        ("文件", Path(result.path).name),
        ("单位", (model.unit_name if model else "") or "（未识别）"),
        ("年度", str(model.year) if model and model.year else "（未识别）"),
        ("统计", counts if findings else "未发现问题"),
    ]
    r = 2
    for label, value in header:
        ws.cell(r, 1, label).font = fonts.bold
        put(ws.cell(r, 3), value)
        r += 1
    ws.cell(r, 1, "图例").font = fonts.bold
    ws.cell(r, 1).alignment = Alignment(vertical="top")
    for sev, text in LEGEND.items():
        swatch = ws.cell(r, 3, sev.label)
        swatch.fill, swatch.border, swatch.alignment = FILLS[sev], BOX, CENTER
        ws.cell(r, 4, text)
        r += 1
    tip = ws.cell(r, 1, "点击「单元格」列可跳到问题所在位置，问题单元格已按颜色标出并附批注。对「提示」类问题，"
                        "如确属正常，请在绿色的「审核说明」列写明原因后连同本文件一并提交；「强制」类问题必须修改。")
    tip.alignment = WRAP
    ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=ncols)
    ws.row_dimensions[r].height = 32
    r += 2

    hr = r
    for c, label in enumerate((*RESULT_COLUMNS, HIDDEN_FILL_COLUMN), start=1):
        cell = ws.cell(hr, c, label)
        cell.font, cell.fill, cell.border, cell.alignment = fonts.bold, HEAD_FILL, BOX, CENTER
    protos: dict[Any, Any] = {}
    for i, (f, where) in enumerate(placed, start=1):
        _finding_row(ws, hr + i, i, f, where, originals, protos, fonts)
    if not findings:
        ws.cell(hr + 1, 1, "未发现问题。").alignment = WRAP
        ws.merge_cells(start_row=hr + 1, start_column=1, end_row=hr + 1, end_column=ncols)

    for c, w in enumerate(RESULT_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(c)].width = w
    ws.column_dimensions[get_column_letter(ncols + 1)].hidden = True
    ws.freeze_panes = ws.cell(hr + 1, 1)
    if findings:
        ws.auto_filter.ref = f"A{hr}:{last}{hr + len(findings)}"
    ws.print_title_rows = f"{hr}:{hr}"
    _print_setup(ws)
    # Protect everything but 审核说明, so 规则/单元格 (the explanation's key) stay intact.
    # No password: this guards against slips, not against the unit.
    p = ws.protection
    p.sheet = True
    p.formatColumns = p.formatRows = p.formatCells = p.autoFilter = p.sort = False
    ws.sheet_properties.tabColor = "FFC00000" if err else "FFFFC000" if warn > warn_ok else "FF70AD47"


def _finding_row(ws: Worksheet, r: int, i: int, f: Finding, where: tuple[str, str] | None,
                 originals: dict[tuple[str, str], str], protos: dict[Any, Any], fonts: _Fonts) -> None:
    sev = f.severity.label + ("\n（已说明）" if f.explained else "")
    annex = f.annex + (f"（{f.project}）" if f.project else "")
    target = f"{f.sheet}!{f.cell}" if f.sheet and f.cell else f.sheet
    values = (i, sev, f"{f.rule} {f.title}".strip(), annex, target, f.message,
              f.expected or "", f.actual or "", f.explanation or "")
    ncols = len(RESULT_COLUMNS)
    linked = where is not None or bool(f.sheet and f.sheet in ws.parent.sheetnames)
    cells = [ws.cell(r, c) for c in range(1, ncols + 1)]
    for c, (cell, v) in enumerate(zip(cells, values, strict=True), start=1):
        put(cell, v if v != "" else None)
        # Setting a style hashes it (slow): style each variant once, then copy its style array.
        key = (c, f.severity if c == 2 else linked if c == 5 else None)
        proto = protos.get(key)
        if proto is not None:
            cell._style = copy(proto)
            continue
        cell.border, cell.alignment = BOX, CENTER if c in (1, 2) else WRAP
        if c == 2:
            cell.fill = FILLS[f.severity]
        elif c == 5 and linked:
            cell.font = fonts.link
        elif c == ncols:
            cell.fill, cell.protection = NOTE_FILL, Protection(locked=False)
        protos[key] = copy(cell._style)
    if linked:
        sheet, coord = where or (f.sheet, "A1")
        quoted = sheet.replace("'", "''")
        cells[4].hyperlink = Hyperlink(ref=cells[4].coordinate, location=f"'{quoted}'!{coord}",
                                       tooltip="跳到该单元格")
    if where is not None and where in originals:
        ws.cell(r, ncols + 1, originals[where])
    _fit_height(ws, r, RESULT_WIDTHS, values)


def _print_setup(ws: Worksheet) -> None:
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as needed
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.5
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    ws.sheet_view.showGridLines = False


def _activate_first(wb: Workbook) -> None:
    # Several selected tabs would group the sheets in Excel (edits then hit all of them).
    for ws in wb.worksheets:
        ws.sheet_view.tabSelected = False
    wb.active = 0
    wb.worksheets[0].sheet_view.tabSelected = True
    for view in wb.views or []:
        view.firstSheet = 0  # a tab bar scrolled to the right would hide our new first sheet


# --- the 评分复核 sheet ---------------------------------------------------------------------

def _review_sheet(ws: Worksheet, result: FileResult, fonts: _Fonts) -> None:
    review = result.review
    rows = [dict(r) for r in _review_rows(review)]
    # 工作表/行 fold into 单元格 ("附件二!H14", a link); keys we have no Chinese title for are left out.
    keys = [k for k in REVIEW_COLUMNS if k not in ("sheet", "row") and (k == "cell" or any(k in r for r in rows))]
    for k in ("reported", "recomputed"):  # these two identify the sheet on a resubmission
        if k not in keys:
            keys.append(k)
    ws["A1"] = "评分复核"
    ws["A1"].font = fonts.title
    ws.row_dimensions[1].height = 28
    r = 2
    for label, value in _review_totals(review):
        ws.cell(r, 1, label).font = fonts.bold
        put(ws.cell(r, 2), value)
        ws.cell(r, 2).alignment = Alignment(horizontal="left")
        r += 1
    r += 1
    hr = r
    for c, k in enumerate(keys, start=1):
        cell = ws.cell(hr, c, REVIEW_COLUMNS[k])
        cell.font, cell.fill, cell.border, cell.alignment = fonts.bold, HEAD_FILL, BOX, CENTER
    widths = [_REVIEW_WIDTHS.get(k, 9) for k in keys]
    c_cell = keys.index("cell") + 1
    protos: dict[Any, Any] = {}  # style each variant once, then copy its style array
    for i, row in enumerate(rows, start=1):
        rr = hr + i
        sheet, coord = row.get("sheet"), row.get("cell")
        linked = bool(sheet and coord and sheet in ws.parent.sheetnames)
        total = row.get("indicator") == "合计"
        values = []
        for c, k in enumerate(keys, start=1):
            cell = ws.cell(rr, c)
            v = row.get(k)
            if k == "cell":
                v = f"{sheet}!{v}" if sheet and v else v
            v = _plain(v)
            put(cell, v)
            values.append(v)
            key = (k in _REVIEW_CENTERED, total, linked and c == c_cell)
            proto = protos.get(key)
            if proto is not None:
                cell._style = copy(proto)
                continue
            cell.border = BOX
            cell.alignment = CENTER if k in _REVIEW_CENTERED else WRAP
            if total:
                cell.font = fonts.bold
            elif linked and c == c_cell:
                cell.font = fonts.link
            protos[key] = copy(cell._style)
        if linked:
            link = ws.cell(rr, c_cell)
            quoted = str(sheet).replace("'", "''")
            link.hyperlink = Hyperlink(ref=link.coordinate, location=f"'{quoted}'!{coord}", tooltip="跳到该单元格")
        _fit_height(ws, rr, widths, values)
    for c, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(c)].width = w
    ws.column_dimensions["A"].width = max(widths[0], 10)
    ws.freeze_panes = ws.cell(hr + 1, 1)
    ws.print_title_rows = f"{hr}:{hr}"
    _print_setup(ws)


_REVIEW_WIDTHS = {"annex": 14, "cell": 12, "level1": 10, "indicator": 24, "target": 12, "actual": 12,
                  "weight": 6, "reported": 8, "recomputed": 8, "diff": 7, "verdict": 14, "note": 44}
_REVIEW_CENTERED = {"cell", "weight", "reported", "recomputed", "diff"}


def _display_width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _fit_height(ws: Worksheet, r: int, widths: Sequence[float], values: Sequence[Any]) -> None:
    """Row height for wrapped text: neither Excel nor LibreOffice grows rows on opening a file."""
    lines = 1
    for w, v in zip(widths, values, strict=False):
        if v is None or isinstance(v, (int, float)):
            continue
        per_line = max(w - 1.5, 1.0)
        n = sum(max(1, -(-_display_width(part) // int(per_line))) for part in str(v).split("\n"))
        lines = max(lines, n)
    if lines > 1:
        ws.row_dimensions[r].height = 15 * lines + 3


def _review_rows(review: Any) -> Iterator[dict[str, Any]]:
    rows = getattr(review, "rows", None)
    if callable(rows):
        yield from rows()


def _review_totals(review: Any) -> list[tuple[str, Any]]:
    to_json = getattr(review, "to_json", None)
    data = to_json() if callable(to_json) else {}
    out: list[tuple[str, Any]] = []
    for key, label in REVIEW_TOTALS.items():
        v = data.get(key)
        if v is None or v == "" or isinstance(v, dict):
            continue
        if isinstance(v, (list, tuple)):  # a range [lo, hi]
            v = "–".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v)
        out.append((label, _plain(v)))
    return out


def _plain(v: Any) -> Any:
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if hasattr(v, "value"):  # enums
        return str(v.value)
    return str(v)


# --- the command line's entry ------------------------------------------------------------------

def write_copies(results: Iterable[FileResult], *, out_dir: str | Path | None = None,
                 mode: str = "always") -> list[str]:
    """Annotated copies for `check-workbook FILE...` (mode always / auto: only files with
    findings / never). Returns one Chinese line per copy that could not be written: a failed
    copy never changes the check result."""
    from ..errors import guard

    problems: list[str] = []
    for r in results:
        if not r.checked or mode == "never" or (mode == "auto" and not r.findings):
            continue
        try:
            with guard():
                annotate(r, out_dir=out_dir)
        except CannotCheck as exc:
            problems.append(f"审核副本未能生成（{Path(r.path).name}）：{exc.message}")
    return problems
