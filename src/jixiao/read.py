"""Stage 1, read: workbook bytes -> cell grid with merged ranges.

The format is taken from the content, never from the file name. python-calamine does the
parsing: it is fast, reads .xls/.ods too, never evaluates formulas, fetches links or runs
macros, and refuses XML entities. But it trusts sizes written in the file: several of them
make it allocate without bound, and a failed allocation in Rust aborts the whole process —
no ``except`` can catch that. So before calamine sees a file, a cheap pre-scan refuses:

- zip bombs, from the zip directory alone (declared sizes, ratio, member count, duplicate
  names); both zip readers stop at a member's declared size, so the directory can be trusted;
- XML entity declarations (billion laughs, XXE) in any zip member;
- sheets whose used range is absurdly large: calamine allocates a sheet's whole rectangle
  (~32 bytes per cell), so one value at XFD1048576 asks for 512 GB. The pre-scan finds the
  last row and column holding a value (xlsx cell XML, ods repeat counts, xls BIFF records);
- a shared-string count that lies (calamine reserves 24 bytes per declared string);
- .xls containers calamine cannot follow safely: looping or truncated OLE sector chains,
  impossible DIMENSIONS records.

The pre-scan is cheap for ordinary files: members are inflated once, straight from the
bytes; a part whose compressed bytes passed in an earlier workbook (one template, many
units) is not scanned again; usual sheet XML takes a two-regex test instead of a tag walk.
Likewise a sheet whose merged ranges were met before reuses their clipped list and cell map.

Rust panics become exceptions (pyo3) and their English output on stderr is held back.
Every failure is a `CannotCheck` subclass with a Chinese message; text taken from the file
(sheet and member names) is passed through `safety.printable` before it is shown.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import os
import re
import stat
import struct
import sys
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import python_calamine as pc
from defusedxml import ElementTree as SafeET

from .errors import (
    CannotCheck,
    CorruptWorkbook,
    EmptyWorkbook,
    EncryptedWorkbook,
    NotAWorkbook,
    TooLarge,
    UnsafeWorkbook,
)
from .safety import printable
from .text import a1

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# Limits: generous for real forms (a few hundred rows, a few pasted photos), far below what
# hurts the machine.
MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_UNCOMPRESSED_TOTAL = 300 * 1024 * 1024
MAX_MEMBER_RATIO = 200  # uncompressed/compressed, only for members over RATIO_MIN_SIZE
RATIO_MIN_SIZE = 4 * 1024 * 1024
MAX_ZIP_MEMBERS = 10_000  # a real .xlsx has a few dozen
MAX_ROWS = 20_000
MAX_COLS = 500
MAX_CELLS = 2_000_000  # rows x columns of the grid handed to Python (~64 MB in calamine)
MAX_CELL_ELEMENTS = 2_000_000  # <c> elements in one sheet part, with or without a value
MAX_MERGED_CELLS = 500_000  # cells under merged ranges, per sheet, after clipping to the grid
MAX_CELL_CHARS = 32_767  # Excel's own cell limit: longer text cannot come from Excel/WPS
MAX_TOTAL_CHARS = 20_000_000  # all cell text of the workbook together

_ENCRYPTED_MSG = "工作簿设有打开密码，无法读取；请取消密码后再提交"


@dataclass(slots=True)
class Sheet:
    name: str
    rows: list[list[Any]]  # absolute: rows[r][c] is Excel row r+1, column c+1
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)  # r0, c0, r1, c1 inclusive
    formula_blanks: set[tuple[int, int]] = field(default_factory=set)  # formulas with no cached value
    _origin: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict, repr=False)
    _width: int = field(default=0, repr=False)
    _head: tuple[int, str] | None = field(default=None, init=False, repr=False, compare=False)  # see head_text

    def __post_init__(self) -> None:
        self._width = max(map(len, self.rows), default=0)  # asked for often while locating
        if self.merges and not self._origin:  # _read_sheet may hand over a shared map (never mutated)
            self._origin = _origin_map(self.merges)

    @property
    def height(self) -> int:
        return len(self.rows)

    @property
    def width(self) -> int:
        return self._width

    def origin(self, r: int, c: int) -> tuple[int, int]:
        """Top-left cell of the merged range holding (r, c), or (r, c) itself."""
        return self._origin.get((r, c), (r, c))

    @property
    def origin_get(self) -> Callable[[tuple[int, int], tuple[int, int]], tuple[int, int]]:
        """`origin` for hot loops: `origin_get(pos, pos)` is `origin(*pos)` as one C-level dict
        lookup, without a Python call per cell (locate asks for a few hundred per workbook)."""
        return self._origin.get

    def is_covered(self, r: int, c: int) -> bool:
        """True for a cell hidden under a merged range (not its top-left)."""
        return (r, c) in self._origin

    def covered_mask(self, rows: list[int], cols: list[int]) -> list[bool]:
        """`is_covered` of many cells, (rows[i], cols[i]), in one C-level pass: no Python call
        per cell (for callers that index every text cell of a sheet)."""
        return list(map(self._origin.__contains__, zip(rows, cols)))

    def covers_any(self, rows: list[int], cols: list[int]) -> bool:
        """`any(covered_mask(rows, cols))` without building the mask (the usual answer is no)."""
        return bool(self._origin) and not self._origin.keys().isdisjoint(zip(rows, cols))

    def raw(self, r: int, c: int) -> Any:
        if 0 <= r < len(self.rows):
            row = self.rows[r]
            if 0 <= c < len(row):
                return row[c]
        return None

    def merged_value(self, r: int, c: int) -> Any:
        """The value shown at (r, c): the top-left value of its merged range."""
        return self.raw(*self.origin(r, c))

    def head_text(self, n: int) -> str:
        """The text cells of the first `n` rows, row-major, joined by line breaks: one string
        to search instead of a loop over cells. Computed once (a Sheet is not changed after
        reading); empty cells and non-text values are left out."""
        head = self._head
        if head is None or head[0] != n:
            cells = filter(None, chain.from_iterable(self.rows[:n]))  # drops "" and 0 at C speed
            head = self._head = (n, "\n".join([v for v in cells if isinstance(v, str)]))
        return head[1]


def _origin_map(merges: list[tuple[int, int, int, int]]) -> dict[tuple[int, int], tuple[int, int]]:
    """Covered cell -> top-left of its merged range: every cell of a range but its top-left,
    which keeps whatever an earlier overlapping range gave it. Split by row so the loop needs
    no per-cell test."""
    origin: dict[tuple[int, int], tuple[int, int]] = {}
    for r0, c0, r1, c1 in merges:
        top = (r0, c0)
        for c in range(c0 + 1, c1 + 1):
            origin[r0, c] = top
        if r1 > r0:
            cols = range(c0, c1 + 1)
            for r in range(r0 + 1, r1 + 1):
                for c in cols:
                    origin[r, c] = top
    return origin


@dataclass(slots=True)
class Grid:
    source: str
    format: str  # "xlsx", "xls", "ods"
    sheets: list[Sheet]


# --- entry points ---------------------------------------------------------------------------


def read_path(path: str | Path, only: Callable[[str], bool] | None = None) -> Grid:
    """`read_bytes` of the file at `path`."""
    p = Path(path)
    try:
        st = p.stat()
        if stat.S_ISDIR(st.st_mode):
            raise NotAWorkbook("这是一个文件夹，不是工作簿文件")
        if not stat.S_ISREG(st.st_mode):
            # FIFOs and devices (/dev/zero) would block or never end.
            raise NotAWorkbook("不是普通文件（可能是设备或管道），无法读取")
        if st.st_size > MAX_FILE_BYTES:
            raise TooLarge(_too_big_file(st.st_size))
        with p.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)  # the file may grow between stat and read
    except OSError as exc:
        raise NotAWorkbook(f"无法读取文件：{_os_error_text(exc)}") from None
    if len(data) > MAX_FILE_BYTES:
        raise TooLarge(_too_big_file(len(data)))
    return read_bytes(data, source=p.name, only=only)


def read_bytes(data: bytes, source: str = "", only: Callable[[str], bool] | None = None) -> Grid:
    """Parse workbook bytes (with `only`, just the worksheets whose name it accepts; the
    whole file is still vetted). Raises only `CannotCheck` subclasses for bad input."""
    if len(data) > MAX_FILE_BYTES:
        raise TooLarge(_too_big_file(len(data)))
    kind, zf = _sniff(data)
    formula_cells = prescan(data, kind, zf)
    try:
        with _native_stderr_captured():
            wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
            names = _worksheet_names(wb)
            if only is not None:
                names = [n for n in names if only(n)]
            ods = _ods_merges(zf) if kind == "ods" and zf is not None else {}
            sheets = [_read_sheet(wb, name, formula_cells.get(name, set()), ods.get(name)) for name in names]
    except CannotCheck:
        raise
    except pc.PasswordError:
        raise EncryptedWorkbook(_ENCRYPTED_MSG) from None
    except pc.CalamineError as exc:
        better = _precise_error(data, kind) if "detect file format" in str(exc) else None
        raise _calamine_error(better or exc) from None
    except (ValueError, OverflowError, TypeError, KeyError, IndexError, UnicodeError) as exc:
        raise CorruptWorkbook(f"工作簿内容无法解析（{_short(exc)}）") from None
    except MemoryError:
        raise TooLarge("工作簿内容过大，读取时内存不足，已停止") from None
    except BaseException as exc:  # a Rust panic arrives as pyo3's PanicException(BaseException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        raise CorruptWorkbook(f"工作簿结构异常，读取组件无法处理（{_short(exc)}）") from None
    if zf is None or not _text_bounded_by_members(zf):
        _check_text(sheets)
    if not sheets or all(not s.rows for s in sheets):
        raise EmptyWorkbook("工作簿是空的：没有任何填写内容的工作表")
    return Grid(source=source, format=kind, sheets=sheets)


def sniff(data: bytes) -> str:
    """Workbook format from the bytes. Raises for anything that is not a workbook."""
    return _sniff(data)[0]


def _sniff(data: bytes) -> tuple[str, zipfile.ZipFile | None]:
    """The format, and for zip-based formats the opened (bomb-checked) zip, reused by the pre-scan."""
    if data.startswith(OLE_MAGIC):
        # An OOXML file with a password is an OLE container holding an EncryptionInfo stream.
        if "EncryptionInfo".encode("utf-16-le") in data or "EncryptedPackage".encode("utf-16-le") in data:
            raise EncryptedWorkbook(_ENCRYPTED_MSG)
        if "Workbook".encode("utf-16-le") in data or "Book".encode("utf-16-le") in data:
            return "xls", None
        if "WordDocument".encode("utf-16-le") in data:
            raise NotAWorkbook("文件是 Word 文档（.doc），不是 Excel 工作簿")
        raise NotAWorkbook("文件是 OLE 复合文档，但不是 Excel 工作簿（可能是 .doc 或 .ppt）")
    if data.startswith(b"PK"):
        zf = open_zip(data)
        names = set(zf.namelist())
        if "xl/workbook.bin" in names:
            raise NotAWorkbook("不支持 .xlsb 二进制工作簿，请在 Excel/WPS 中另存为 .xlsx")
        if "xl/workbook.xml" in names:
            return "xlsx", zf
        if "mimetype" in names and b"spreadsheet" in _read_member(zf, zf.getinfo("mimetype"))[:100]:
            return "ods", zf
        if "word/document.xml" in names:
            raise NotAWorkbook("文件是 Word 文档（.docx），不是 Excel 工作簿")
        if "ppt/presentation.xml" in names:
            raise NotAWorkbook("文件是 PowerPoint 演示文稿（.pptx），不是 Excel 工作簿")
        raise NotAWorkbook("文件是压缩包，但不是 Excel 工作簿")
    if not data:
        raise NotAWorkbook("文件为空（0 字节）")
    head = data[:2048]
    if head.startswith(b"%PDF"):
        raise NotAWorkbook("文件是 PDF，不是 Excel 工作簿（请提交 Excel/WPS 表格文件本身）")
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG", b"GIF8")):
        raise NotAWorkbook("文件是图片，不是 Excel 工作簿（请提交 Excel/WPS 表格文件本身）")
    if head.startswith(b"{\\rtf"):
        raise NotAWorkbook("文件是 RTF 文档，不是 Excel 工作簿")
    if head.lstrip().startswith((b"<", b"\xef\xbb\xbf<")):
        raise NotAWorkbook("文件是网页或 XML 文本，不是 Excel 工作簿（请在 Excel/WPS 中另存为 .xlsx）")
    raise NotAWorkbook("文件不是 Excel 工作簿（可能是 CSV、文本或其他文件改了扩展名）")


def open_zip(data: bytes) -> zipfile.ZipFile:
    """Open a zip after checking its directory against the bomb limits. Nothing is inflated."""
    count = _zip_entry_count(data)
    if count is not None and count > MAX_ZIP_MEMBERS:
        raise UnsafeWorkbook(f"压缩包内有 {count} 个成员，远超正常工作簿，疑似恶意构造，已拒绝读取")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, struct.error, OSError, EOFError,
            IndexError, UnicodeDecodeError, NotImplementedError, OverflowError):
        raise CorruptWorkbook("文件是损坏或不完整的压缩包（可能下载或复制不完整）") from None
    check_zip_limits(zf)
    seen: set[str] = set()
    for info in infos:
        # Two members with one name: our checks and calamine could each read a different one.
        key = info.filename.replace("\\", "/").lower()
        if not key:  # a name that starts with NUL: zipfile cuts it to "" (and trips over it later)
            raise CorruptWorkbook("压缩包内有无名成员，文件已损坏或被恶意构造，无法读取")
        if key in seen:
            raise UnsafeWorkbook(f"压缩包内有重名成员 {printable(info.filename, 80)}，疑似恶意构造，已拒绝读取")
        seen.add(key)
    return zf


def check_zip_limits(zf: zipfile.ZipFile) -> None:
    """Refuse decompression bombs from the zip directory alone, before inflating.

    The declared sizes can be trusted for this: both Python's zipfile and calamine's zip
    reader stop with an error as soon as a member inflates past its declared size.
    """
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise UnsafeWorkbook(f"压缩包内有 {len(infos)} 个成员，远超正常工作簿，疑似恶意构造，已拒绝读取")
    total = 0
    for info in infos:
        total += info.file_size
        if total > MAX_UNCOMPRESSED_TOTAL:
            raise UnsafeWorkbook(
                f"压缩包解压后超过 {MAX_UNCOMPRESSED_TOTAL // (1024 * 1024)} MB，疑似压缩炸弹，已拒绝读取"
            )
        if info.file_size > RATIO_MIN_SIZE and info.file_size > MAX_MEMBER_RATIO * max(info.compress_size, 1):
            raise UnsafeWorkbook(f"压缩包成员 {printable(info.filename, 80)} 压缩比异常，疑似压缩炸弹，已拒绝读取")


# --- pre-scan -------------------------------------------------------------------------------


def prescan(data: bytes, kind: str, zf: zipfile.ZipFile | None = None) -> dict[str, set[tuple[int, int]]]:
    """Refuse what calamine must not see; return formula cells lacking cached values (xlsx)."""
    if kind == "xls":
        _prescan_xls(data)
        return {}
    zf = zf or open_zip(data)
    early: dict[str, bytes] = {}  # workbook.xml and its rels, inflated once for both uses
    sheet_of = _sheet_members(zf, data, early) if kind == "xlsx" else {}
    blanks: dict[str, set[tuple[int, int]]] = {}
    rules = (kind, MAX_ROWS, MAX_COLS, MAX_CELLS, MAX_CELL_ELEMENTS, MAX_DECLARED_STRINGS)  # what a pass means
    for info in zf.infolist():
        if info.is_dir() or info.file_size == 0:
            continue
        if not _is_xml_member(zf, info):
            continue  # images, vbaProject.bin, printer settings: never inflated in full
        raw = _raw_member(data, info)
        key = (rules, info.compress_type, info.file_size, info.CRC, raw) if raw is not None else None
        if key is not None and _PASSED.get(key):
            continue
        body = early.pop(info.filename, None)
        if body is None and raw is not None:
            body = _inflate_raw(raw, info)
        if body is None:
            body = _read_member(zf, info)
        if not _prescan_part(body, kind, info.filename, sheet_of, blanks) and raw is not None:
            _PASSED.add(key, len(raw))
    return blanks


def _prescan_part(body: bytes, kind: str, member: str, sheet_of: dict[str, str],
                  blanks: dict[str, set[tuple[int, int]]]) -> bool:
    """The checks of one inflated XML member; True when it holds formula cells lacking values."""
    _refuse_entities(body, member, strict=kind == "xlsx")
    if kind == "xlsx":
        _check_shared_strings(body, member)
    if b"sheetData" not in body and b"table:table" not in body:
        return False  # calamine takes cells only from <sheetData> (xlsx) and <table:table> (ods)
    if kind == "xlsx":
        sheet = sheet_of.get(member.replace("\\", "/").lower())
        found = _scan_xlsx_part(body, f"sheet:{sheet}" if sheet is not None else member)
        if sheet is not None and found:
            blanks.setdefault(sheet, found)
        return bool(found)
    _check_well_formed(body, member)
    _scan_ods_part(body)
    return False


class _Remembered:
    """Facts seen in earlier workbooks (zip members, merge layouts), bounded by a size each
    entry declares: large entries are not kept, and everything is dropped at once when the
    total passes `max_bytes`. Keys hold the data itself (compressed bytes, exact ranges), so a
    match is exact, never a hash collision."""

    def __init__(self, max_bytes: int) -> None:
        self.facts: dict[Any, Any] = {}
        self.bytes = 0
        self.max_bytes = max_bytes

    def get(self, key: Any) -> Any:
        return self.facts.get(key)

    def add(self, key: Any, size: int, fact: Any = True) -> None:
        if size > self.max_bytes // 64:
            return
        if self.bytes + size > self.max_bytes:
            self.facts.clear()
            self.bytes = 0
        self.facts[key] = fact
        self.bytes += size


# Members that passed every check with nothing to report, by their compressed bytes. A batch
# from one template repeats most parts byte for byte (theme, styles, rels, often whole
# sheets); the same compressed bytes, sizes and CRC inflate to the same body, and every check
# above depends on the body alone (the member's name only enters refusal messages), so such
# a member would pass again. Only passes are remembered, never a refusal.
_PASSED = _Remembered(4 * 1024 * 1024)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, head: int | None = None) -> bytes:
    try:
        if head is not None:
            with zf.open(info) as fh:
                return fh.read(head)
        return zf.read(info)
    except RuntimeError:  # zipfile: "File ... is encrypted, password required"
        # Excel/WPS never encrypt zip members (a password turns the file into an OLE container)
        raise EncryptedWorkbook(f"压缩包成员 {printable(info.filename, 80)} 设有 zip 密码（不是 Excel/WPS 的加密方式），无法读取") from None
    except NotImplementedError:
        raise CorruptWorkbook(f"压缩包成员 {printable(info.filename, 80)} 使用了不支持的压缩方式，无法读取") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error, OverflowError):
        raise CorruptWorkbook(f"工作簿已损坏：压缩包成员 {printable(info.filename, 80)} 的数据无法解压（文件可能不完整）") from None


_LOCAL_HEADER = struct.Struct("<4s2xH18xHH")  # signature, flags, name and extra lengths


def _raw_member(data: bytes, info: zipfile.ZipInfo) -> bytes | None:
    """The compressed bytes of an ordinary member, taken from `data` the way zipfile takes
    them (its per-member machinery costs more than inflating a small part): local header
    magic and name checked, then the central directory's compressed size. None for anything
    else (encrypted, patched, another method, a header that disagrees, truncated): zipfile
    then reads the member itself and fails or not in its own way, as before."""
    if info.flag_bits & 0x61 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return None
    off = info.header_offset
    if off < 0 or off + _LOCAL_HEADER.size > len(data):
        return None
    magic, flags, name_len, extra_len = _LOCAL_HEADER.unpack_from(data, off)
    if magic != b"PK\x03\x04":
        return None
    start = off + _LOCAL_HEADER.size
    name_bytes = data[start:start + name_len]
    try:
        # ASCII reads the same in both of zipfile's encodings, without the cp437 codec's cost
        name = name_bytes.decode("ascii") if name_bytes.isascii() else name_bytes.decode(
            "utf-8" if flags & 0x800 else "cp437")
    except UnicodeDecodeError:
        return None
    if name != info.orig_filename:
        return None
    start += name_len + extra_len
    raw = data[start:start + info.compress_size]
    return raw if len(raw) == info.compress_size else None


def _inflate_raw(raw: bytes, info: zipfile.ZipInfo) -> bytes | None:
    """What `zf.read(info)` returns for these compressed bytes, or None where zipfile might do
    anything else: it needs a finished deflate stream, cuts the output at the declared size
    and checks the CRC. zipfile inflates up to 1 GB at once before that cut; here at most one
    byte past the declared size (more means None, and zipfile decides, as before)."""
    if info.compress_type == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-15)
        try:
            body = inflater.decompress(raw, info.file_size + 1)
        except zlib.error:
            return None
        if not inflater.eof:
            return None
    else:
        body = raw
    body = body[:info.file_size]
    return body if zlib.crc32(body) == info.CRC else None


_XML_SUFFIXES = (".xml", ".rels", ".vml")
_BINARY_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".emf", ".wmf", ".bin")


def _is_xml_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """XML parts by name, binaries by name; anything else by its first bytes. A binary named
    .xml is still read in full and scanned, which is harmless."""
    name = info.filename.lower()
    if name.endswith(_XML_SUFFIXES):
        return True
    if name.endswith(_BINARY_SUFFIXES):
        return False
    return _looks_like_xml(_read_member(zf, info, head=64))


def _looks_like_xml(body: bytes) -> bool:
    head = body[:64].lstrip(b" \t\r\n")
    return head.startswith((b"<", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00<"))


_ENTITY_MARKS = tuple(
    (m, m.encode(enc)) for m in ("<!ENTITY", "<!DOCTYPE") for enc in ("utf-8", "utf-16-le", "utf-16-be")
)


def _refuse_entities(body: bytes, member: str, *, strict: bool) -> None:
    """Entity declarations are how billion-laughs and XXE attacks work. OOXML forbids any DTD,
    so in .xlsx a DOCTYPE alone is refused; old OpenOffice .ods files carry a harmless one."""
    if b"!" not in body:  # every mark holds this byte in all three encodings; one memchr pass
        return
    for mark, encoded in _ENTITY_MARKS:
        if encoded in body and (strict or mark == "<!ENTITY"):
            raise UnsafeWorkbook(
                f"工作簿的 {printable(member, 80)} 含 XML 实体/DTD 声明（{mark}），这是恶意文件常用的手法，已拒绝读取"
            )


_SST_RE = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?sst\b([^>]*)>")
_UNIQUE_RE = re.compile(rb"(?:^|\s)uniqueCount\s*=\s*[\"'](\d+)[\"']")
MAX_DECLARED_STRINGS = 1_000_000


def _check_shared_strings(xml: bytes, member: str) -> None:
    """calamine reserves memory for the shared-string table from its declared uniqueCount
    (24 bytes each, before reading any string): uniqueCount="200000000" aborts the process."""
    if xml.find(b"sst", 0, 4096) < 0:  # the regex below can only match with these bytes in range
        return
    m = _SST_RE.search(xml, 0, 4096)
    if m is None:
        return
    u = _UNIQUE_RE.search(m.group(1))
    if u is None or int(u.group(1)) <= MAX_DECLARED_STRINGS:
        return
    if int(u.group(1)) > xml.count(b"<si") + xml.count(b":si"):  # claims more strings than it holds
        raise CorruptWorkbook(f"工作簿的共享字符串表 {printable(member, 80)} 声明的字符串数量（{int(u.group(1)):,}）与内容不符，"
                              "文件已损坏或被恶意构造，已拒绝读取")


_XLSX_TAG_RE = re.compile(rb"<(/?)(?:[A-Za-z_][\w.\-]*:)?(row|c|v|is|f)(?=[\s/>])([^>]*)>")
_ATTR_R_RE = re.compile(rb"(?:^|\s)r\s*=\s*[\"']([A-Za-z]*)(\d+)[\"']")
_ATTR_T_RE = re.compile(rb"(?:^|\s)t\s*=\s*[\"']([A-Za-z]+)[\"']")


# addressed mode: <row> and empty self-closing <c/> are never needed, so the regex skips them
_ADDRESSED_TAG_RE = re.compile(
    rb"<(/?)(?:[A-Za-z_][\w.\-]*:)?(c(?=[\s/>])(?![^>]*/>)|v(?=[\s/>])|is(?=[\s/>])|f(?=[\s/>]))([^>]*)>")
_ANY_C_RE = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?c[\s/>]")
_ADDRESSED_C_RE = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?c\s+r\s*=\s*[\"'][A-Za-z]+\d+[\"']")


@functools.lru_cache(maxsize=4096)
def _col_index_bytes(letters: bytes) -> int:
    return _col_index(letters.decode("ascii").upper())


_PLAIN_C_RE = re.compile(rb"<c[\s/>]")
_PLAIN_F_RE = re.compile(rb"<f[\s/>]")
_PLAIN_REF_RE = re.compile(rb'<c r="([A-Z]{1,3})([1-9]\d{0,6})"')


# The usual cell opens with a one-letter column and a row under 10,000: 26 x 9,999 cells at
# most, inside MAX_COLS, MAX_ROWS and MAX_CELLS whatever the mix. _UNUSUAL_RE finds any "<f"
# and any other <c> opening; its lookahead has no branch and no backtracking, which keeps it
# cheap at each of the few hundred cells of a form (issue 6).
_UNUSUAL_RE = re.compile(rb'<(?:f|c(?:[\t\n\r\f\v/>]| (?!r="[A-Z][1-9][0-9]{0,3}+")))')
_PREFIXED_RE = re.compile(rb":[cf]")


def _small_and_plain(xml: bytes) -> bool:
    """The cheapest tier of `_plainly_within_limits`: no "<f" at all, no prefixed <c>/<f>,
    and every <c> opens with a short plain address. Each condition implies the one that
    tier checks, so this only says True where it would. Each such <c> takes at least 9
    bytes (<c r="A1"), so a part under 9 bytes per allowed cell cannot hold too many."""
    return (len(xml) < 9 * MAX_CELL_ELEMENTS and _PREFIXED_RE.search(xml) is None
            and _UNUSUAL_RE.search(xml) is None)


def _plainly_within_limits(xml: bytes) -> bool:
    """Fast path of `_scan_xlsx_part` (the tag-by-tag loop costs ~2 ms per workbook, the
    largest single cost of a batch): True when the part has no formula element and every
    <c> starts with a plain r="A1" address whose bounding box is within the limits. That box
    bounds the exact extent (which counts only cells holding a value), so nothing the exact
    scan would refuse gets through; anything unusual (prefixed tags, formulas, cells without
    an address, a box too large) returns False and takes the exact scan."""
    if _small_and_plain(xml):
        return True
    if b":c" in xml or b":f" in xml:
        return False
    if b"<f" in xml and _PLAIN_F_RE.search(xml) is not None:
        return False
    refs = _PLAIN_REF_RE.findall(xml)
    if len(refs) > MAX_CELL_ELEMENTS or len(refs) != len(_PLAIN_C_RE.findall(xml)):
        return False
    if not refs:
        return True
    rows = max(map(int, {r for _, r in refs}))
    cols = max(_col_index(c.decode("ascii")) for c in {c for c, _ in refs}) + 1
    return rows <= MAX_ROWS and cols <= MAX_COLS and rows * cols <= MAX_CELLS


def _scan_xlsx_part(xml: bytes, label: str) -> set[tuple[int, int]]:
    """One pass over a worksheet's XML: the extent of the cells holding a value (as calamine
    will allocate it) and the formula cells whose cached value is missing.

    Applied to every XML member, not only the ones the workbook names as sheets: other parts
    have no <c>/<row> elements, and it closes any gap between our and calamine's path lookup.
    """
    out: set[tuple[int, int]] = set()
    if b"<c" not in xml and b":c" not in xml:
        return out
    if _plainly_within_limits(xml):  # the usual file: no formula, every cell addressed (issue 6 speed)
        return out
    limits = _Extent(label)
    # When every cell carries its own address, an empty self-closing cell neither holds a value
    # nor moves another cell, and <row> numbers are not needed: the scan skips both.
    addressed = len(_ANY_C_RE.findall(xml)) == len(_ADDRESSED_C_RE.findall(xml))
    row = -1
    col = -1
    cells = 0
    in_cell = False
    r = c = 0
    has_value = has_formula = cached = False
    cell_type = b""
    for m in (_ADDRESSED_TAG_RE if addressed else _XLSX_TAG_RE).finditer(xml):
        closing, name, attrs = m.group(1), m.group(2), m.group(3)
        self_closing = attrs.endswith(b"/")
        if name == b"c":
            if closing:
                if in_cell:
                    _finish_cell(out, limits, r, c, has_value, has_formula, cached)
                in_cell = False
                continue
            cells += 1
            if cells > MAX_CELL_ELEMENTS:
                raise TooLarge(f"{_where(label)}包含超过 {MAX_CELL_ELEMENTS:,} 个单元格，远超自评表的合理范围，已拒绝读取")
            if addressed and self_closing:
                in_cell = False
                continue
            ref = _ATTR_R_RE.search(attrs)
            if ref is not None:
                r = int(ref.group(2)) - 1
                c = _col_index_bytes(ref.group(1)) if ref.group(1) else col + 1
            else:
                r, c = max(row, 0), col + 1
            col = c
            t = _ATTR_T_RE.search(attrs)
            cell_type = t.group(1) if t else b""
            has_value = has_formula = cached = False
            in_cell = not self_closing
        elif name == b"row":
            if not closing:
                ref = _ATTR_R_RE.search(attrs)
                row = int(ref.group(2)) - 1 if ref is not None else row + 1
                col = -1
        elif in_cell and not closing:
            if name == b"f":
                has_formula = True
            elif name == b"is":
                has_value = cached = True
            elif name == b"v" and not self_closing:
                has_value = True
                # a cached value is present when <v> has content (or is a string result)
                cached = cached or xml[m.end():m.end() + 1] != b"<" or cell_type == b"str"
    if in_cell:  # truncated XML: count the open cell rather than miss it
        _finish_cell(out, limits, r, c, has_value, has_formula, cached)
    return out


@dataclass(slots=True)
class _Extent:
    label: str
    rows: int = 0
    cols: int = 0

    def add(self, last_row: int, last_col: int) -> None:
        """Grow to include (last_row, last_col), 0-based; refuse past the limits."""
        if last_row < self.rows and last_col < self.cols:
            return
        self.rows = max(self.rows, last_row + 1)
        self.cols = max(self.cols, last_col + 1)
        if self.rows > MAX_ROWS or self.cols > MAX_COLS or self.rows * self.cols > MAX_CELLS:
            raise TooLarge(_too_big_sheet(self.label, self.rows, self.cols))


def _finish_cell(out: set[tuple[int, int]], limits: _Extent, r: int, c: int, has_value: bool, has_formula: bool,
                 cached: bool) -> None:
    if has_value:
        limits.add(r, c)
    if has_formula and not cached:
        # calamine reads such a cell as empty, which would hide a number the unit meant to report
        if r < MAX_ROWS and c < MAX_COLS:
            out.add((r, c))


_SHEET_RE = re.compile(rb"<(?:\w+:)?sheet\b([^>]*)>", re.S)
# An attribute starts the text or follows white space. These patterns are searched in the
# attributes with one space put in front, which matches exactly where "(?:^|\s)" would,
# yet lets the regex engine try only at white space instead of at every byte.
_NAME_RE = re.compile(rb"\sname\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_RID_RE = re.compile(rb"\s(?:\w+:)?id\s*=\s*\"([^\"]*)\"")
_REL_RE = re.compile(rb"<(?:\w+:)?Relationship\b([^>]*)>", re.S)
_REL_ID_RE = re.compile(rb"\sId\s*=\s*\"([^\"]*)\"")
_REL_TARGET_RE = re.compile(rb"\sTarget\s*=\s*\"([^\"]*)\"")


def _sheet_members(zf: zipfile.ZipFile, data: bytes | None = None,
                   read: dict[str, bytes] | None = None) -> dict[str, str]:
    """Worksheet part (lower-cased path) -> sheet name, through workbook.xml and its
    relationships. Empty when those are unreadable (calamine will then fail on its own).
    With `data`, the two parts are inflated the fast way and left in `read` for the caller."""
    try:
        infos = [zf.getinfo("xl/workbook.xml"), zf.getinfo("xl/_rels/workbook.xml.rels")]
        raws = [_raw_member(data, i) if data is not None else None for i in infos]
        key = tuple((i.compress_type, i.file_size, i.CRC, r) for i, r in zip(infos, raws)) if None not in raws else None
        known = _SHEET_MAPS.get(key) if key is not None else None
        if known is not None:  # the same two parts as in an earlier workbook
            return dict(known)
        bodies = [_inflate_raw(r, i) if r is not None else None for i, r in zip(infos, raws)]
        wb_xml, rels_xml = (b if b is not None else zf.read(i) for i, b in zip(infos, bodies))
    except (KeyError, zipfile.BadZipFile, zlib.error, OSError, ValueError, RuntimeError, EOFError,
            NotImplementedError, struct.error):
        return {}
    if read is not None:
        read["xl/workbook.xml"], read["xl/_rels/workbook.xml.rels"] = wb_xml, rels_xml
    out = _sheet_map(wb_xml, rels_xml)
    if key is not None:
        _SHEET_MAPS.add(key, sum(len(r) for r in raws if r is not None), dict(out))
    return out


_SHEET_MAPS = _Remembered(1024 * 1024)  # as _PASSED: one template, one sheet map


def _sheet_map(wb_xml: bytes, rels_xml: bytes) -> dict[str, str]:
    targets: dict[bytes, bytes] = {}
    for attrs in _REL_RE.findall(rels_xml):
        attrs = b" " + attrs
        rid, tgt = _REL_ID_RE.search(attrs), _REL_TARGET_RE.search(attrs)
        if rid and tgt:
            targets[rid.group(1)] = tgt.group(1)
    out: dict[str, str] = {}
    for attrs in _SHEET_RE.findall(wb_xml):
        attrs = b" " + attrs
        name_m, rid_m = _NAME_RE.search(attrs), _RID_RE.search(attrs)
        if not name_m or not rid_m or rid_m.group(1) not in targets:
            continue
        raw_name = name_m.group(1) if name_m.group(1) is not None else name_m.group(2)
        member = _resolve_target(targets[rid_m.group(1)].decode("utf-8", "replace"))
        out.setdefault(member.lower(), _unescape(raw_name.decode("utf-8", "replace")))
    return out


def _resolve_target(target: str) -> str:
    t = target.replace("\\", "/")
    t = t[1:] if t.startswith("/") else t if t.startswith("xl/") else "xl/" + t
    return os.path.normpath(t).replace("\\", "/")


def _check_well_formed(xml: bytes, member: str) -> None:
    """calamine's ODS reader loops forever when content.xml ends inside open elements (found
    by the fuzz run, seed 12456), so ODS content must be complete XML before it gets there.
    expat parses without building a tree; DTDs and entities are refused, not expanded."""
    import xml.parsers.expat as expat

    def forbid(*_: object) -> None:
        raise UnsafeWorkbook(f"工作簿的 {printable(member, 80)} 含 XML 实体/DTD 声明，这是恶意文件常用的手法，已拒绝读取")

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = forbid
    parser.EntityDeclHandler = forbid
    parser.ExternalEntityRefHandler = forbid  # type: ignore[assignment]
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as exc:
        raise CorruptWorkbook(f"工作簿的 {printable(member, 80)} 不是完整的 XML（{printable(exc, 80)}），"
                              "文件已损坏或不完整，无法读取") from None


_ODS_TAG_RE = re.compile(rb"<(/?)table:(table|table-row|table-cell|covered-table-cell)(?=[\s/>])([^>]*)>")
_ROWS_REP_RE = re.compile(rb"number-rows-repeated\s*=\s*[\"'](\d+)[\"']")
_COLS_REP_RE = re.compile(rb"number-columns-repeated\s*=\s*[\"'](\d+)[\"']")
_ODS_NAME_RE = re.compile(rb"table:name\s*=\s*\"([^\"]*)\"")


def _scan_ods_part(xml: bytes) -> None:
    """ODS repeats rows and cells by count ("number-rows-repeated"): a tiny file can ask for
    a billion cells. Compute each table's extent the way calamine expands it."""
    if b"table:table" not in xml:
        return
    depth = 0
    limits = _Extent("")
    row = 0
    rows_rep = 1
    col = 0
    cells = 0
    for m in _ODS_TAG_RE.finditer(xml):
        closing, name, attrs = m.group(1), m.group(2), m.group(3)
        self_closing = attrs.endswith(b"/")
        if name == b"table":
            if closing:
                depth -= 1
            elif not self_closing:
                depth += 1
                if depth == 1:
                    nm = _ODS_NAME_RE.search(attrs)
                    label = nm.group(1).decode("utf-8", "replace") if nm else ""
                    limits = _Extent(f"sheet:{_unescape(label)}")
                    row, col = 0, 0
        elif name == b"table-row":
            if closing:
                row += rows_rep
                continue
            rep = _ROWS_REP_RE.search(attrs)
            rows_rep = max(int(rep.group(1)), 1) if rep else 1
            col = 0
            if self_closing:
                row += rows_rep
        elif not closing:
            cells += 1
            if cells > MAX_CELL_ELEMENTS:
                raise TooLarge(f"{_where(limits.label)}包含超过 {MAX_CELL_ELEMENTS:,} 个单元格，远超自评表的合理范围，已拒绝读取")
            rep = _COLS_REP_RE.search(attrs)
            cols_rep = max(int(rep.group(1)), 1) if rep else 1
            if b"value-type" in attrs or not self_closing:
                limits.add(row + rows_rep - 1, col + cols_rep - 1)
            col += cols_rep


# .xls: BIFF8 records inside an OLE compound file. Only records calamine turns into cells.
_BIFF_CELLS = frozenset({0x0203, 0x027E, 0x00FD, 0x0204, 0x00D6, 0x0205, 0x0006})  # NUMBER RK LABELSST LABEL RSTRING BOOLERR FORMULA
_BIFF_MULRK = 0x00BD
_BIFF_BOF = 0x0809
_BIFF_BOUNDSHEET = 0x0085
_BIFF_FILEPASS = 0x002F
_BIFF_DIMENSIONS = 0x0200


def _prescan_xls(data: bytes) -> None:
    try:
        ole = _OleReader(data)
        ole.validate()
        stream = ole.stream(("workbook", "book"))
    except (struct.error, IndexError, ValueError, KeyError, UnicodeDecodeError, OverflowError):
        # calamine follows OLE sector chains without loop or size checks: a cycle or a huge
        # declared size makes it allocate until the process aborts. Never hand it one.
        raise CorruptWorkbook("xls 文件的内部结构（OLE 复合文档）已损坏，无法读取；请在 Excel/WPS 中另存为 .xlsx 后再提交") from None
    if stream is None:
        raise NotAWorkbook("文件是 OLE 复合文档，但其中没有 Excel 工作簿数据")
    names: dict[int, str] = {}
    limits = _Extent("")
    pos = 0
    n = len(stream)
    while pos + 4 <= n:
        typ, length = struct.unpack_from("<HH", stream, pos)
        body = stream[pos + 4:pos + 4 + length]
        if typ == _BIFF_BOF:
            limits = _Extent(f"sheet:{names[pos]}" if pos in names else "")
        elif typ == _BIFF_FILEPASS:
            raise EncryptedWorkbook(_ENCRYPTED_MSG)
        elif typ == _BIFF_DIMENSIONS:
            _check_biff_dimensions(body, limits.label)
        elif typ == _BIFF_BOUNDSHEET and len(body) >= 8:
            names[struct.unpack_from("<I", body)[0]] = _biff_short_string(body[6:])
        elif typ in _BIFF_CELLS and len(body) >= 4:
            r, c = struct.unpack_from("<HH", body)
            limits.add(r, c)
        elif typ == _BIFF_MULRK and len(body) >= 6:
            r, c0 = struct.unpack_from("<HH", body)
            limits.add(r, max(c0, struct.unpack_from("<H", body, len(body) - 2)[0]))
        pos += 4 + length


def _check_biff_dimensions(body: bytes, label: str) -> None:
    """calamine reserves memory from a sheet's DIMENSIONS record before reading its cells: a
    row count past BIFF's 65,536 makes it request hundreds of GB and abort. Styled blank
    cells count in DIMENSIONS, so only impossible values are refused, not merely large ones."""
    if len(body) >= 14:  # BIFF8: rows as u32
        r0, r1, c0, c1 = struct.unpack_from("<IIHH", body)
    elif len(body) >= 8:  # BIFF5
        r0, r1, c0, c1 = struct.unpack_from("<HHHH", body)
    else:
        return
    if r1 > 65_536 or c1 > 256 or r0 > r1 or c0 > c1:
        raise CorruptWorkbook(f"xls 文件中{_where(label)}的尺寸记录无效（{r1:,} 行 × {c1:,} 列），文件已损坏，无法读取")


def _biff_short_string(b: bytes) -> str:
    if len(b) < 2:
        return ""
    n, flags = b[0], b[1]
    raw = b[2:2 + n * 2] if flags & 1 else b[2:2 + n]
    return raw.decode("utf-16-le" if flags & 1 else "latin-1", "replace")


class _OleReader:
    """A strict reader of OLE compound files (.xls containers): every chain must end, stay
    in the file and be long enough for its stream; anything else raises ValueError."""

    FREE_OR_END = 0xFFFFFFFA  # ids at or above this are markers, not sectors
    END = 0xFFFFFFFE

    def __init__(self, data: bytes) -> None:
        self.data = data
        if len(data) < 512 or not data.startswith(OLE_MAGIC):
            raise ValueError("not an OLE file")
        shift = struct.unpack_from("<H", data, 0x1E)[0]
        mini_shift = struct.unpack_from("<H", data, 0x20)[0]
        if shift not in (9, 12) or mini_shift != 6:
            raise ValueError("bad sector size")
        self.size = 1 << shift
        self.mini_size = 1 << mini_shift
        self.n_sectors = max(len(data) // self.size - 1, 0)  # whole sectors after the header
        self.dir_start = struct.unpack_from("<I", data, 0x30)[0]
        self.mini_cutoff = struct.unpack_from("<I", data, 0x38)[0]
        self.minifat_start = struct.unpack_from("<I", data, 0x3C)[0]
        difat = list(struct.unpack_from("<109I", data, 0x4C))
        nxt, seen = struct.unpack_from("<I", data, 0x44)[0], set()
        per = self.size // 4 - 1
        while nxt < self.FREE_OR_END:
            if nxt in seen:
                raise ValueError("DIFAT loop")
            seen.add(nxt)
            ids = struct.unpack_from(f"<{per + 1}I", self._sector(nxt))
            difat.extend(ids[:per])
            nxt = ids[per]
        self.fat: list[int] = []
        for sid in difat:
            if sid < self.FREE_OR_END:
                self.fat.extend(struct.unpack_from(f"<{self.size // 4}I", self._sector(sid)))
        self.entries = self._directory()
        raw = self._read(self.minifat_start, self.fat, self.size, None) if self.minifat_start < self.FREE_OR_END else b""
        self.minifat = list(struct.unpack_from(f"<{len(raw) // 4}I", raw))

    def _sector(self, sid: int) -> bytes:
        off = (sid + 1) * self.size
        if off + self.size > len(self.data):  # calamine slices whole sectors: a short one panics it
            raise ValueError("sector out of range")
        return self.data[off:off + self.size]

    def _chain(self, start: int, table: list[int], limit: int) -> list[int]:
        out: list[int] = []
        seen: set[int] = set()
        sid = start
        while sid != self.END:
            if sid >= self.FREE_OR_END or sid in seen or sid >= len(table) or sid >= limit:
                raise ValueError("broken chain")
            seen.add(sid)
            out.append(sid)
            sid = table[sid]
        return out

    def _read(self, start: int, table: list[int], unit: int, size: int | None) -> bytes:
        chain = self._chain(start, table, self.n_sectors)
        if size is not None and len(chain) * unit < size:
            raise ValueError("stream longer than its chain")
        data = b"".join(self._sector(sid) for sid in chain)
        return data if size is None else data[:size]

    def _directory(self) -> list[tuple[str, int, int, int]]:
        directory = self._read(self.dir_start, self.fat, self.size, None)
        entries = []
        for off in range(0, len(directory) - 127, 128):
            e = directory[off:off + 128]
            name_len = min(struct.unpack_from("<H", e, 64)[0], 64)
            name = e[:max(name_len - 2, 0)].decode("utf-16-le", "replace")
            size = struct.unpack_from("<Q", e, 120)[0]
            if self.size == 512:
                size &= 0xFFFFFFFF  # version 3 files: the high half is undefined
            entries.append((name, e[66], struct.unpack_from("<I", e, 116)[0], size))
        return entries

    def validate(self) -> None:
        """Every stream calamine might read (workbook, VBA, summaries) must be followable."""
        root = next((x for x in self.entries if x[1] == 5), None)
        mini_sectors = 0
        if root is not None and root[3] > 0:
            if root[3] > len(self.data):
                raise ValueError("mini stream larger than the file")
            mini_sectors = len(self._chain(root[2], self.fat, self.n_sectors)) * self.size // self.mini_size
        for _name, typ, start, size in self.entries:
            if typ != 2 or size == 0:
                continue
            if size > len(self.data):
                raise ValueError("stream larger than the file")
            if size < self.mini_cutoff:
                if len(self._chain(start, self.minifat, mini_sectors)) * self.mini_size < size:
                    raise ValueError("stream longer than its chain")
            elif len(self._chain(start, self.fat, self.n_sectors)) * self.size < size:
                raise ValueError("stream longer than its chain")

    def stream(self, wanted: tuple[str, ...]) -> bytes | None:
        root = next((x for x in self.entries if x[1] == 5), None)
        for want in wanted:
            for name, typ, start, size in self.entries:
                if typ != 2 or name.lower() != want:
                    continue
                if size >= self.mini_cutoff or root is None:
                    return self._read(start, self.fat, self.size, size)
                mini_stream = self._read(root[2], self.fat, self.size, root[3])
                chain = self._chain(start, self.minifat, len(mini_stream) // self.mini_size)
                out = b"".join(mini_stream[sid * self.mini_size:(sid + 1) * self.mini_size] for sid in chain)
                return out[:size]
        return None


# --- calamine -------------------------------------------------------------------------------


def _worksheet_names(wb: pc.CalamineWorkbook) -> list[str]:
    """Worksheets only: chart and dialog sheets hold no cells and some make calamine fail."""
    names: list[str] = []
    for meta in wb.sheets_metadata:
        typ = str(getattr(meta, "typ", "WorkSheet"))
        if "WorkSheet" in typ:
            names.append(meta.name)
    return names


def _read_sheet(wb: pc.CalamineWorkbook, name: str, formula_blanks: set[tuple[int, int]],
                extra_merges: list[tuple[int, int, int, int]] | None = None) -> Sheet:
    sheet = wb.get_sheet_by_name(name)
    end = sheet.end
    if end is None:
        return Sheet(name=name, rows=[], merges=[], formula_blanks=formula_blanks)
    height, width = end[0] + 1, end[1] + 1
    # The pre-scan already refused these; kept as a second line of defence before to_python.
    if height > MAX_ROWS or width > MAX_COLS or height * width > MAX_CELLS:
        raise TooLarge(_too_big_sheet(f"sheet:{name}", height, width))
    rows = sheet.to_python(skip_empty_area=False)
    ranges = sheet.merged_cell_ranges or [((r0, c0), (r1, c1)) for r0, c0, r1, c1 in extra_merges or []]
    if not ranges:
        return Sheet(name=name, rows=rows, merges=[], formula_blanks=formula_blanks)
    key = tuple(ranges)
    known = _MERGES.get(key)
    # A remembered result holds while no range reaches past this grid (no clipping needed)
    if known is not None and known[2] < height and known[3] < width:
        return Sheet(name=name, rows=rows, merges=list(known[0]), formula_blanks=formula_blanks, _origin=known[1])
    merges, clipped = _clip_merges(name, ranges, height - 1, width - 1)
    out = Sheet(name=name, rows=rows, merges=merges, formula_blanks=formula_blanks)
    if not clipped:  # then the result depends on the ranges alone, for any grid reaching past them
        last_row = max(stop[0] for _, stop in ranges)
        last_col = max(stop[1] for _, stop in ranges)
        _MERGES.add(key, len(key) + len(out._origin), (tuple(merges), out._origin, last_row, last_col))
    return out


# Merged ranges of sheets seen in earlier workbooks -> (clipped merges, origin map, last row,
# last column). Forms from one template repeat their merges exactly, and both the clipping
# loop and the cell-by-cell origin map cost more than the rest of the sheet's reading. The
# origin map is shared between those sheets: Sheet never changes it. Sized in ranges plus map
# entries (a form has ~40 + ~100 per sheet; at most 1,024 per kept sheet).
_MERGES = _Remembered(64 * 1024)


def _clip_merges(name: str, ranges: list[Any], bottom: int, right: int) -> tuple[list[tuple[int, int, int, int]], bool]:
    """The ranges as (r0, c0, r1, c1), clipped to the grid, and whether any needed clipping.

    Clipped because past the last value they change nothing, and Sheet keeps one entry per
    covered cell, so "A1:XFD1048576" would otherwise cost 17 billion of them."""
    merges = []
    covered = 0
    clipped = False
    for (r0, c0), (r1, c1) in ranges:
        if r1 > bottom:
            r1 = bottom
            clipped = True
        if c1 > right:
            c1 = right
            clipped = True
        if 0 <= r0 <= r1 and 0 <= c0 <= c1 and (r0 != r1 or c0 != c1):
            covered += (r1 - r0 + 1) * (c1 - c0 + 1)
            if covered > MAX_MERGED_CELLS:
                raise TooLarge(f"工作表「{printable(name, 60)}」的合并单元格范围异常庞大（超过 {MAX_MERGED_CELLS:,} 个单元格），"
                               "文件已损坏或被恶意构造，已拒绝读取")
            merges.append((r0, c0, r1, c1))
    return merges, clipped


_ODS_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"


def _ods_merges(zf: zipfile.ZipFile) -> dict[str, list[tuple[int, int, int, int]]]:
    """Merged ranges per table of an .ods, which calamine does not report: the annexes' merged
    label cells (一级指标 spanning its rows) need them. content.xml was checked by the pre-scan."""
    t = _ODS_TABLE
    cell_tags = (f"{t}table-cell", f"{t}covered-table-cell")
    merges: dict[str, list[tuple[int, int, int, int]]] = {}
    try:
        root = SafeET.fromstring(zf.read("content.xml"))
    except (KeyError, SafeET.ParseError, ValueError, zipfile.BadZipFile, zlib.error):
        return merges
    for table in root.iter(f"{t}table"):
        name, r = table.get(f"{t}name", ""), 0
        for row in table.iter(f"{t}table-row"):
            if r > MAX_ROWS:
                break
            c = 0
            for cell in row:
                if cell.tag not in cell_tags:
                    continue
                rs = int(cell.get(f"{t}number-rows-spanned", "1") or 1)
                cs = int(cell.get(f"{t}number-columns-spanned", "1") or 1)
                if rs > 1 or cs > 1:
                    merges.setdefault(name, []).append((r, c, r + rs - 1, c + cs - 1))
                c += int(cell.get(f"{t}number-columns-repeated", "1") or 1)
            r += int(row.get(f"{t}number-rows-repeated", "1") or 1)  # trailing rows repeat ~1M times
    return merges


def _text_bounded_by_members(zf: zipfile.ZipFile) -> bool:
    """No cell text can be longer than the zip member it is stored in (xlsx/ods store text as
    XML, at least one byte per character): small members make the per-cell scan unnecessary."""
    infos = zf.infolist()
    return (max((i.file_size for i in infos), default=0) <= MAX_CELL_CHARS
            and sum(i.file_size for i in infos) <= MAX_TOTAL_CHARS)


def _check_text(sheets: list[Sheet]) -> None:
    total = 0
    for sheet in sheets:
        for r, row in enumerate(sheet.rows):
            for c, v in enumerate(row):
                if isinstance(v, str):
                    total += len(v)
                    if len(v) > MAX_CELL_CHARS:
                        raise TooLarge(
                            f"工作表「{printable(sheet.name, 60)}」单元格 {a1(r, c)} 的文字长达 {len(v):,} 字，超过 Excel 单元格上限"
                            f"（{MAX_CELL_CHARS:,} 字），文件不是由 Excel/WPS 正常保存的，已拒绝读取")
    if total > MAX_TOTAL_CHARS:
        raise TooLarge(f"工作簿的文字总量达 {total:,} 字，远超自评表的合理范围，已拒绝读取")


def _precise_error(data: bytes, kind: str) -> BaseException | None:
    """from_filelike tries every format in turn and, when all fail, says only "Cannot detect
    file format". We know the format: ask calamine again through a temporary copy with the
    right extension, which reports the actual fault (a bad cell, broken XML, ...)."""
    fd, tmp = tempfile.mkstemp(prefix="jixiao-", suffix="." + kind)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        with _native_stderr_captured():
            wb = pc.CalamineWorkbook.from_path(tmp)
            for name in _worksheet_names(wb):
                wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except pc.CalamineError as exc:
        return exc
    except Exception:  # only a better message was wanted; keep the original one
        return None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return None


_STDERR_LOCK = threading.Lock()


_CAPTURE: list[Any] = []  # one temporary file per process, reused: a new one per workbook is slow


def _capture_buffer() -> Any:
    if not _CAPTURE:
        buf = tempfile.TemporaryFile()
        atexit.register(buf.close)
        _CAPTURE.append(buf)
    return _CAPTURE[0]


@contextlib.contextmanager
def _native_stderr_captured() -> Iterator[None]:
    """A Rust panic inside calamine reaches us as pyo3's PanicException (turned into a Chinese
    message above), but Rust first prints its own English lines — with RUST_BACKTRACE set, a
    whole stack trace — straight to file descriptor 2. Hold those back; pass anything else on.

    fd 2 is process-wide, so only one thread redirects at a time; the others read unguarded.
    """
    if not _STDERR_LOCK.acquire(blocking=False):
        yield
        return
    try:
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all (pythonw, daemons)
            yield
            return
        buf = _capture_buffer()
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(buf.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if buf.tell() or os.lseek(buf.fileno(), 0, os.SEEK_CUR):
                buf.seek(0)
                text = buf.read()
                buf.seek(0)
                buf.truncate()
                if text and b"panicked at" not in text:
                    with contextlib.suppress(OSError):
                        os.write(2, text)
    finally:
        _STDERR_LOCK.release()


def _calamine_error(exc: BaseException) -> CannotCheck:
    text = _short(exc)
    low = text.lower()
    if "password" in low or "encrypt" in low:
        return EncryptedWorkbook(_ENCRYPTED_MSG)
    if "cell limit" in low:
        return TooLarge(f"工作簿的表格区域过大，已拒绝读取（{text}）")
    return CorruptWorkbook(f"工作簿已损坏，无法读取（{text}）")


# --- small helpers ----------------------------------------------------------------------------


def _zip_entry_count(data: bytes) -> int | None:
    """Entry count from the end-of-central-directory record, read before zipfile builds one
    object per entry (a crafted directory can list millions)."""
    tail_start = max(0, len(data) - (65535 + 22))
    pos = data.rfind(b"PK\x05\x06", tail_start)
    if pos < 0 or pos + 22 > len(data):
        return None
    count = struct.unpack_from("<H", data, pos + 10)[0]
    if count != 0xFFFF:
        return count
    loc = pos - 20  # zip64 end-of-central-directory locator
    if loc >= 0 and data[loc:loc + 4] == b"PK\x06\x07":
        off = struct.unpack_from("<Q", data, loc + 8)[0]
        if off + 40 <= len(data) and data[off:off + 4] == b"PK\x06\x06":
            return int(struct.unpack_from("<Q", data, off + 32)[0])
    return count


def _too_big_file(size: int) -> str:
    return f"文件过大（{size / (1024 * 1024):.0f} MB），超过 {MAX_FILE_BYTES // (1024 * 1024)} MB 上限"


def _where(label: str) -> str:
    if label.startswith("sheet:"):
        return f"工作表「{printable(label[6:], 60)}」"
    return f"工作簿部件 {printable(label, 80)} " if label else "工作表"


def _too_big_sheet(label: str, rows: int, cols: int) -> str:
    return (f"{_where(label)}的数据区域至少 {rows:,} 行 × {cols:,} 列，远超自评表的合理范围"
            f"（上限 {MAX_ROWS:,} 行、{MAX_COLS} 列），已拒绝读取；请删除多余的行列后再提交")


def _os_error_text(exc: OSError) -> str:
    import errno

    known = {errno.ENOENT: "文件不存在", errno.EACCES: "没有读取权限", errno.EPERM: "没有读取权限",
             errno.EISDIR: "这是一个文件夹", errno.ENAMETOOLONG: "文件名过长", errno.ELOOP: "符号链接循环"}
    return known.get(exc.errno or -1, f"系统错误（{exc.strerror or type(exc).__name__}）")


def _col_index(letters: str) -> int:
    if len(letters) > 7:  # garbage; still "very far right", never truncated to something small
        return 26**7
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def _unescape(s: str) -> str:
    return (s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&apos;", "'")
            .replace("&amp;", "&"))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return printable(text, 120)  # calamine quotes file content in its messages
