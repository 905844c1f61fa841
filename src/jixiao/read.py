"""Stage 1, read: workbook bytes -> cell grid with merged ranges.

The format is taken from the content, never from the file name, and the zip directory is
checked for bombs before anything is inflated. python-calamine does the parsing: it is
fast, reads .xls/.ods too and refuses XML entities.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import python_calamine as pc

from .errors import CorruptWorkbook, EncryptedWorkbook, NotAWorkbook, TooLarge, UnsafeWorkbook

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"

# Limits: generous for real forms (a few hundred rows), far below what hurts the machine.
MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_UNCOMPRESSED_TOTAL = 300 * 1024 * 1024
MAX_MEMBER_RATIO = 200  # uncompressed/compressed, only for members over RATIO_MIN_SIZE
RATIO_MIN_SIZE = 4 * 1024 * 1024
MAX_ROWS = 20_000
MAX_COLS = 500
MAX_CELL_CHARS = 32_767  # Excel's own cell limit


@dataclass(slots=True)
class Sheet:
    name: str
    rows: list[list[Any]]  # absolute: rows[r][c] is Excel row r+1, column c+1
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)  # r0, c0, r1, c1 inclusive
    formula_blanks: set[tuple[int, int]] = field(default_factory=set)  # formulas with no cached value
    _origin: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for r0, c0, r1, c1 in self.merges:
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    if (r, c) != (r0, c0):
                        self._origin[(r, c)] = (r0, c0)

    @property
    def height(self) -> int:
        return len(self.rows)

    @property
    def width(self) -> int:
        return max((len(r) for r in self.rows), default=0)

    def origin(self, r: int, c: int) -> tuple[int, int]:
        """Top-left cell of the merged range holding (r, c), or (r, c) itself."""
        return self._origin.get((r, c), (r, c))

    def is_covered(self, r: int, c: int) -> bool:
        """True for a cell hidden under a merged range (not its top-left)."""
        return (r, c) in self._origin

    def raw(self, r: int, c: int) -> Any:
        if 0 <= r < len(self.rows):
            row = self.rows[r]
            if 0 <= c < len(row):
                return row[c]
        return None

    def merged_value(self, r: int, c: int) -> Any:
        """The value shown at (r, c): the top-left value of its merged range."""
        return self.raw(*self.origin(r, c))


@dataclass(slots=True)
class Grid:
    source: str
    format: str  # "xlsx", "xls", "ods"
    sheets: list[Sheet]


def read_path(path: str | Path) -> Grid:
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise TooLarge(f"文件过大（{size // (1024 * 1024)} MB），超过 {MAX_FILE_BYTES // (1024 * 1024)} MB 上限")
        data = p.read_bytes()
    except OSError as exc:
        raise NotAWorkbook(f"无法读取文件：{exc.strerror or exc}") from None
    return read_bytes(data, source=p.name)


def read_bytes(data: bytes, source: str = "") -> Grid:
    kind = sniff(data)
    formula_cells: dict[str, set[tuple[int, int]]] = {}
    if kind == "xlsx":
        formula_cells = _formulas_without_values(data)
    try:
        wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheets = [_read_sheet(wb, name, formula_cells.get(name, set())) for name in wb.sheet_names]
    except pc.PasswordError:
        raise EncryptedWorkbook("工作簿设有打开密码，无法读取；请取消密码后再提交") from None
    except pc.CalamineError as exc:
        raise CorruptWorkbook(f"工作簿已损坏，无法读取（{_short(exc)}）") from None
    except (ValueError, OverflowError, MemoryError) as exc:
        raise CorruptWorkbook(f"工作簿内容无法解析（{_short(exc)}）") from None
    return Grid(source=source, format=kind, sheets=sheets)


def sniff(data: bytes) -> str:
    """Workbook format from the bytes. Raises for anything that is not a workbook."""
    if data.startswith(OLE_MAGIC):
        # An OOXML file with a password is an OLE container holding an EncryptionInfo stream.
        if "EncryptionInfo".encode("utf-16-le") in data or "EncryptedPackage".encode("utf-16-le") in data:
            raise EncryptedWorkbook("工作簿设有打开密码，无法读取；请取消密码后再提交")
        if "Workbook".encode("utf-16-le") in data or "Book".encode("utf-16-le") in data:
            return "xls"
        raise NotAWorkbook("文件是 OLE 复合文档，但不是 Excel 工作簿（可能是 .doc）")
    if data.startswith(ZIP_MAGIC):
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
            names = set(zf.namelist())
            check_zip_limits(zf)
        except zipfile.BadZipFile:
            raise CorruptWorkbook("文件是损坏或不完整的压缩包（可能下载或复制不完整）") from None
        if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
            if "xl/workbook.bin" in names:
                raise NotAWorkbook("不支持 .xlsb 二进制工作簿，请另存为 .xlsx")
            return "xlsx"
        if "mimetype" in names and b"spreadsheet" in zf.read("mimetype")[:100]:
            return "ods"
        if "word/document.xml" in names:
            raise NotAWorkbook("文件是 Word 文档（.docx），不是 Excel 工作簿")
        raise NotAWorkbook("文件是压缩包，但不是 Excel 工作簿")
    if not data:
        raise NotAWorkbook("文件为空（0 字节）")
    head = data[:2048]
    if head.lstrip().startswith((b"<", b"\xef\xbb\xbf<")):
        raise NotAWorkbook("文件是网页或 XML 文本，不是 Excel 工作簿（请在 Excel/WPS 中另存为 .xlsx）")
    raise NotAWorkbook("文件不是 Excel 工作簿（可能是 CSV、文本或其他文件改了扩展名）")


def check_zip_limits(zf: zipfile.ZipFile) -> None:
    """Refuse decompression bombs from the zip directory alone, before inflating."""
    total = 0
    for info in zf.infolist():
        total += info.file_size
        if total > MAX_UNCOMPRESSED_TOTAL:
            raise UnsafeWorkbook(
                f"压缩包解压后超过 {MAX_UNCOMPRESSED_TOTAL // (1024 * 1024)} MB，疑似压缩炸弹，已拒绝读取"
            )
        if info.file_size > RATIO_MIN_SIZE and info.file_size > MAX_MEMBER_RATIO * max(info.compress_size, 1):
            raise UnsafeWorkbook(f"压缩包成员 {info.filename} 压缩比异常，疑似压缩炸弹，已拒绝读取")


def _read_sheet(wb: pc.CalamineWorkbook, name: str, formula_blanks: set[tuple[int, int]]) -> Sheet:
    sheet = wb.get_sheet_by_name(name)
    height = sheet.total_height if hasattr(sheet, "total_height") else sheet.height
    width = sheet.total_width if hasattr(sheet, "total_width") else sheet.width
    if height > MAX_ROWS or width > MAX_COLS:
        raise TooLarge(f"工作表「{name}」过大（{height} 行 × {width} 列），超出自评表的合理范围")
    rows = sheet.to_python(skip_empty_area=False)
    for row in rows:
        for i, v in enumerate(row):
            if isinstance(v, str) and len(v) > MAX_CELL_CHARS:
                row[i] = v[:MAX_CELL_CHARS]
    merges = [(r0, c0, r1, c1) for (r0, c0), (r1, c1) in (sheet.merged_cell_ranges or [])]
    return Sheet(name=name, rows=rows, merges=merges, formula_blanks=formula_blanks)


_CELL_RE = re.compile(rb"<c\b([^>]*)>(.*?)</c>", re.S)
_REF_RE = re.compile(rb'\br="([A-Z]+)(\d+)"')
_SHEET_RE = re.compile(rb"<sheet\b[^>]*?\bname=\"([^\"]*)\"[^>]*?\br:id=\"([^\"]*)\"", re.S)
_REL_RE = re.compile(rb"<Relationship\b[^>]*?\bId=\"([^\"]*)\"[^>]*?\bTarget=\"([^\"]*)\"", re.S)
_REL_RE2 = re.compile(rb"<Relationship\b[^>]*?\bTarget=\"([^\"]*)\"[^>]*?\bId=\"([^\"]*)\"", re.S)


def _formulas_without_values(data: bytes) -> dict[str, set[tuple[int, int]]]:
    """Cells holding a formula whose cached value is missing, per sheet name.

    calamine reads those as empty, which would hide a number the unit meant to report.
    """
    out: dict[str, set[tuple[int, int]]] = {}
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        wb_xml = zf.read("xl/workbook.xml")
        rels_xml = zf.read("xl/_rels/workbook.xml.rels")
    except (KeyError, zipfile.BadZipFile, OSError, ValueError):
        return out
    targets = {rid: tgt for rid, tgt in _REL_RE.findall(rels_xml)}
    targets.update({rid: tgt for tgt, rid in _REL_RE2.findall(rels_xml)})
    for raw_name, rid in _SHEET_RE.findall(wb_xml):
        target = targets.get(rid)
        if not target:
            continue
        t = target.decode("utf-8", "replace").lstrip("/")
        member = t if t.startswith("xl/") else "xl/" + t
        try:
            xml = zf.read(member)
        except (KeyError, zipfile.BadZipFile, OSError, ValueError):
            continue
        if b"<f" not in xml:
            continue
        blanks: set[tuple[int, int]] = set()
        for attrs, body in _CELL_RE.findall(xml):
            if b"<f" not in body:
                continue
            if re.search(rb"<v>[^<]+</v>", body) or b"<is>" in body:
                continue
            m = _REF_RE.search(attrs)
            if m:
                blanks.add((int(m.group(2)) - 1, _col_index(m.group(1).decode())))
        if blanks:
            out[_unescape(raw_name.decode("utf-8", "replace"))] = blanks
    return out


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def _unescape(s: str) -> str:
    return s.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]
