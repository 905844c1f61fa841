"""Build real workbook files for tests: the bundled example and layout variants of it.

Variants are made by copying cells (and merges) of real sheets through a position mapping,
so inserted rows, shifted tables and stacked annexes are all genuine .xlsx/.xls files.
"""

from __future__ import annotations

import io
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "workbook_templates"
EXAMPLE = TEMPLATES / "示例_衡山县人民政府办公室_2023.xlsx"
if str(TEMPLATES) not in sys.path:
    sys.path.insert(0, str(TEMPLATES))

import build_templates  # noqa: E402, F401  (re-exported for tests)

Mapping = Callable[[int, int], tuple[int, int]]  # 1-based (row, col) -> new (row, col)
ValueMap = Callable[[Any], Any]

FULL_WIDTH = str.maketrans("0123456789.", "０１２３４５６７８９．")


def example_copy(tmp: Path, name: str = "example.xlsx") -> Path:
    out = tmp / name
    out.write_bytes(EXAMPLE.read_bytes())
    return out


def copy_sheet(src_ws: Any, dst_ws: Any, where: Mapping = lambda r, c: (r, c),
               value: ValueMap = lambda v: v) -> None:
    """Copy values, merges and column widths of one sheet into another through `where`."""
    for row in src_ws.iter_rows():
        for cell in row:
            if cell.value is None or type(cell).__name__ == "MergedCell":
                continue
            r, c = where(cell.row, cell.column)
            dst_ws.cell(r, c, value(cell.value))
    for rng in src_ws.merged_cells.ranges:
        r0, c0 = where(rng.min_row, rng.min_col)
        r1, c1 = where(rng.max_row, rng.max_col)
        dst_ws.merge_cells(start_row=r0, start_column=c0, end_row=r1, end_column=c1)


def variant(tmp: Path, name: str, *, where: Mapping = lambda r, c: (r, c), value: ValueMap = lambda v: v,
            sheet_names: dict[str, str] | None = None, order: list[str] | None = None,
            one_sheet: bool = False) -> Path:
    """A copy of the example with every sheet passed through `where`/`value`."""
    src = load_workbook(EXAMPLE)
    wb = Workbook()
    wb.remove(wb.active)
    names = order or src.sheetnames
    if one_sheet:
        ws = wb.create_sheet("自评表")
        offset = 0
        for n in names:
            s = src[n]
            copy_sheet(s, ws, lambda r, c, o=offset: where(r + o, c), value)
            offset += s.max_row + 3
    else:
        for n in names:
            copy_sheet(src[n], wb.create_sheet((sheet_names or {}).get(n, n)), where, value)
    out = tmp / name
    wb.save(out)
    return out


def as_text(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return v
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def full_width(v: Any) -> Any:
    v = as_text(v)
    return v.translate(FULL_WIDTH) if isinstance(v, str) else v


def write_xls(src_xlsx: Path, out: Path) -> Path:
    """A real .xls (BIFF8, via xlwt) with the same values and merges."""
    import xlwt

    src = load_workbook(src_xlsx)
    book = xlwt.Workbook(encoding="utf-8")
    for ws in src.worksheets:
        sh = book.add_sheet(ws.title)
        merged = {(r.min_row, r.min_col): r for r in ws.merged_cells.ranges}
        covered = {(row, col) for r in ws.merged_cells.ranges for row in range(r.min_row, r.max_row + 1)
                   for col in range(r.min_col, r.max_col + 1)}
        for row in ws.iter_rows():
            for cell in row:
                pos = (cell.row, cell.column)
                if pos in merged:
                    m = merged[pos]
                    sh.write_merge(m.min_row - 1, m.max_row - 1, m.min_col - 1, m.max_col - 1, cell.value)
                elif pos not in covered and cell.value is not None:
                    sh.write(cell.row - 1, cell.column - 1, cell.value)
    book.save(str(out))
    return out


def set_cells(path: Path, edits: dict[tuple[str, str], Any], out: Path | None = None) -> Path:
    """Copy `path` with some cells changed: {(sheet, "B5"): value}."""
    wb = load_workbook(path)
    for (sheet, cell), v in edits.items():
        wb[sheet][cell] = v
    target = out or path
    wb.save(target)
    return target


def rewrite_zip(data: bytes, changes: dict[str, Callable[[bytes], bytes]],
                add: dict[str, bytes | str] | None = None) -> bytes:
    """The zip with some members transformed (and some added), everything else kept."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename in changes:
                body = changes[info.filename](body)
            dst.writestr(info.filename, body)
        for name, body in (add or {}).items():
            dst.writestr(name, body)
    return out.getvalue()
