"""An .xlsx workbook rebuilt from the calamine grid, for inputs openpyxl cannot open
(.xls, .ods, or a broken .xlsx): same values, same merges, and the column widths read from
the original file where the format lets us (.xls COLINFO records, .ods column styles),
estimated from the content otherwise.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from typing import Any

from defusedxml import ElementTree as SafeET
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from ..read import Grid, Sheet

Widths = dict[str, dict[int, float]]  # sheet name -> {0-based column: width in characters}

_WRAP = Alignment(wrap_text=True, vertical="center")


def put(cell: Any, value: Any) -> None:
    """Assign a value as data, never as a formula, minus characters XML cannot hold."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell.value = value
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # text that happens to start with "=" stays text


def workbook_from_grid(grid: Grid, data: bytes) -> tuple[Workbook, bool]:
    """The rebuilt workbook, and whether the column widths came from the original file."""
    widths = column_widths(grid.format, data)
    wb = Workbook()
    wb.remove(wb.active)
    for sheet in grid.sheets:
        ws = wb.create_sheet(_safe_title(sheet.name))
        _fill_sheet(ws, sheet)
        sheet_widths = {c: w for c, w in (widths.get(sheet.name) or _estimate_widths(sheet)).items()
                        if c <= sheet.width}  # a style repeated over the whole row: ignore past the data
        for c, w in sheet_widths.items():
            ws.column_dimensions[get_column_letter(c + 1)].width = round(w, 2)
        _row_heights(ws, sheet, sheet_widths)
        # The borders are gone: print the grid instead, one page wide like the forms themselves.
        ws.print_options.gridLines = True
        ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
    return wb, bool(widths)


def _row_heights(ws: Worksheet, sheet: Sheet, widths: dict[int, float]) -> None:
    """Heights for rows whose wrapped text needs several lines (no application grows them on open)."""
    span = {(r0, c0): (r1, c1) for r0, c0, r1, c1 in sheet.merges}
    need: dict[int, float] = {}
    for r, row in enumerate(sheet.rows):
        for c, v in enumerate(row):
            if not isinstance(v, str) or not v or sheet.is_covered(r, c):
                continue
            r1, c1 = span.get((r, c), (r, c))
            width = sum(widths.get(i, 8.43) for i in range(c, c1 + 1))
            per_line = max(int(width - 1.5), 1)
            lines = sum(max(1, -(-_display_width(p) // per_line)) for p in v.split("\n"))
            per_row = lines / (r1 - r + 1)
            if per_row > 1:
                need[r] = max(need.get(r, 0.0), per_row)
    for r, lines in need.items():
        ws.row_dimensions[r + 1].height = round(15 * lines + 3)


def _safe_title(name: str) -> str:
    # calamine already returns names Excel accepts; openpyxl only refuses a few characters.
    return re.sub(r"[\\*?:/\[\]]", "_", name)[:31] or "Sheet"


def _fill_sheet(ws: Worksheet, sheet: Sheet) -> None:
    for r, row in enumerate(sheet.rows):
        for c, v in enumerate(row):
            if v is None or v == "" or sheet.is_covered(r, c):
                continue
            cell = ws.cell(row=r + 1, column=c + 1)
            put(cell, v)
            if isinstance(v, str) and ("\n" in v or len(v) > 12):
                cell.alignment = _WRAP
    for r0, c0, r1, c1 in sheet.merges:
        if (r0, c0) != (r1, c1):
            ws.merge_cells(start_row=r0 + 1, start_column=c0 + 1, end_row=r1 + 1, end_column=c1 + 1)


def _display_width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _estimate_widths(sheet: Sheet) -> dict[int, float]:
    """Width per column from its longest single-column entry (CJK counts double), 8..40."""
    spans = {(r0, c0) for r0, c0, r1, c1 in sheet.merges if c1 > c0}
    out: dict[int, float] = {}
    for r, row in enumerate(sheet.rows):
        for c, v in enumerate(row):
            if v is None or v == "" or (r, c) in spans or sheet.is_covered(r, c):
                continue
            longest = max((_display_width(p) for p in str(v).split("\n")), default=0)
            out[c] = max(out.get(c, 0.0), float(longest + 2))
    return {c: min(max(w, 8.0), 40.0) for c, w in out.items()}


def column_widths(fmt: str, data: bytes) -> Widths:
    """Column widths from the original file; {} when the format does not let us read them."""
    try:
        if fmt == "xls":
            return _xls_widths(data)
        if fmt == "ods":
            return _ods_widths(data)
    except (ValueError, KeyError, IndexError, struct.error, zipfile.BadZipFile, SafeET.ParseError):
        pass  # widths are cosmetic: fall back to estimates rather than fail the copy
    return {}


# --- .xls: a minimal OLE compound-file reader for the Workbook stream, then BIFF8 records ---

_ENDOFCHAIN = 0xFFFFFFFE


def _cfb_stream(data: bytes, wanted: tuple[str, ...]) -> bytes:
    sector_size = 1 << struct.unpack_from("<H", data, 0x1E)[0]
    mini_size = 1 << struct.unpack_from("<H", data, 0x20)[0]
    n_fat, first_dir = struct.unpack_from("<II", data, 0x2C)
    mini_cutoff, first_minifat, _n_minifat, first_difat, _n_difat = struct.unpack_from("<IIIII", data, 0x38)

    def sector(i: int) -> bytes:
        off = (i + 1) * sector_size
        return data[off:off + sector_size]

    fat_sectors = list(struct.unpack_from("<109I", data, 0x4C))
    d = first_difat
    while d not in (_ENDOFCHAIN, 0xFFFFFFFF) and len(fat_sectors) < 1_000_000:
        block = struct.unpack(f"<{sector_size // 4}I", sector(d))
        fat_sectors.extend(block[:-1])
        d = block[-1]
    fat: list[int] = []
    for s in fat_sectors[:n_fat]:
        fat.extend(struct.unpack(f"<{sector_size // 4}I", sector(s)))

    def chain(start: int, table: list[int], limit: int) -> list[int]:
        out, i = [], start
        while i < len(table) and len(out) < limit:
            out.append(i)
            i = table[i]
        return out

    max_sectors = len(data) // sector_size + 1
    directory = b"".join(sector(s) for s in chain(first_dir, fat, max_sectors))
    entries = {}
    for off in range(0, len(directory) - 127, 128):
        name_len = struct.unpack_from("<H", directory, off + 64)[0]
        name = directory[off:off + max(name_len - 2, 0)].decode("utf-16-le", "replace")
        start, size = struct.unpack_from("<II", directory, off + 116)
        entries[name] = (start, size)
    root_start, _root_size = entries["Root Entry"]
    for name in wanted:
        if name not in entries:
            continue
        start, size = entries[name]
        if size >= mini_cutoff:
            return b"".join(sector(s) for s in chain(start, fat, max_sectors))[:size]
        minifat_raw = b"".join(sector(s) for s in chain(first_minifat, fat, max_sectors))
        minifat = list(struct.unpack(f"<{len(minifat_raw) // 4}I", minifat_raw))
        ministream = b"".join(sector(s) for s in chain(root_start, fat, max_sectors))
        return b"".join(ministream[i * mini_size:(i + 1) * mini_size]
                        for i in chain(start, minifat, len(minifat)))[:size]
    raise KeyError("no Workbook stream")


def _xls_widths(data: bytes) -> Widths:
    stream = _cfb_stream(data, ("Workbook", "Book"))
    sheet_at: dict[int, str] = {}  # BOF offset -> sheet name (from BOUNDSHEET)
    widths: Widths = {}
    current: str | None = None
    pos = 0
    while pos + 4 <= len(stream):
        rtype, length = struct.unpack_from("<HH", stream, pos)
        body = stream[pos + 4:pos + 4 + length]
        if rtype == 0x0085 and len(body) >= 8:  # BOUNDSHEET8
            bof_at = struct.unpack_from("<I", body, 0)[0]
            cch, flags = body[6], body[7]
            raw = body[8:8 + cch * (2 if flags & 1 else 1)]
            sheet_at[bof_at] = raw.decode("utf-16-le" if flags & 1 else "latin-1", "replace")
        elif rtype == 0x0809:  # BOF: a sheet substream starts here
            current = sheet_at.get(pos)
        elif rtype == 0x007D and current is not None and len(body) >= 6:  # COLINFO
            first, last, width = struct.unpack_from("<HHH", body, 0)
            for c in range(first, min(last, 255) + 1):
                widths.setdefault(current, {})[c] = width / 256
        pos += 4 + length
    return widths


# --- .ods: table-column styles in content.xml ---

_NS = {
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
}
_LEN_RE = re.compile(r"^([\d.]+)\s*(cm|mm|in|pt|pc|px)$")
_PER_INCH = {"cm": 2.54, "mm": 25.4, "in": 1.0, "pt": 72.0, "pc": 6.0, "px": 96.0}


def _chars(length: str) -> float | None:
    m = _LEN_RE.match(length.strip())
    if not m:
        return None
    px = float(m.group(1)) / _PER_INCH[m.group(2)] * 96
    return max((px - 5) / 7, 1.0)  # Excel width unit: 7 px per character plus 5 px padding


def _ods_widths(data: bytes) -> Widths:
    """Column widths per table of an .ods, from its table-column styles (merges come with the grid)."""
    zf = zipfile.ZipFile(io.BytesIO(data))
    root = SafeET.fromstring(zf.read("content.xml"))
    t, s = f"{{{_NS['table']}}}", f"{{{_NS['style']}}}"
    style_width: dict[str, float] = {}
    for st in root.iter(f"{s}style"):
        if st.get(f"{s}family") != "table-column":
            continue
        props = st.find(f"{s}table-column-properties")
        w = _chars(props.get(f"{s}column-width", "")) if props is not None else None
        if w is not None:
            style_width[st.get(f"{s}name", "")] = w
    widths: Widths = {}
    for table in root.iter(f"{t}table"):
        name = table.get(f"{t}name", "")
        c = 0
        for col in table.iter(f"{t}table-column"):
            repeat = int(col.get(f"{t}number-columns-repeated", "1"))
            w = style_width.get(col.get(f"{t}style-name", ""))
            if w is not None:
                for i in range(c, min(c + repeat, 512)):
                    widths.setdefault(name, {})[i] = w
            c += repeat
            if c > 512:
                break
    return widths
