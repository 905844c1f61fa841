"""Issue 7 §1: every way a file can be wrong gets a clear Chinese answer, exit code 3 for that
file, no traceback — each case with a real crafted file, in-process and through the CLI."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import Workbook

from jixiao.errors import CannotCheck, EmptyWorkbook, NoAnnexFound
from jixiao.pipeline import load_model, load_model_bytes
from jixiao.read import MAX_CELL_CHARS, MAX_ROWS, read_bytes

from workbooks import rewrite_zip

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import fuzz_run  # noqa: E402

EXAMPLE = ROOT / "workbook_templates" / "示例_衡山县人民政府办公室_2023.xlsx"
SHEET1 = "xl/worksheets/sheet1.xml"  # 附件一 in the example


rewrite = rewrite_zip


def append_rows(xml: bytes, rows: bytes) -> bytes:
    return xml.replace(b"</sheetData>", rows + b"</sheetData>")


def example_bytes() -> bytes:
    return EXAMPLE.read_bytes()


def xls_from(xlsx: Path) -> bytes:
    """A real BIFF8 .xls with the example's cells and merged ranges (xlwt)."""
    return fuzz_run.xls_of(fuzz_run.cells_of(xlsx.read_bytes()))


def encrypted(data: bytes) -> bytes:
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(data)).encrypt("mima123", out)
    return out.getvalue()


def docx_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/'
                   'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("word/document.xml", '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.'
                   'org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>部门整体支出绩效自评报告</w:t></w:r></w:p>'
                   "</w:body></w:document>")
    return out.getvalue()


def openpyxl_bytes(fill: Callable[[Workbook], None]) -> bytes:
    wb = Workbook()
    fill(wb)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def corrupt_deflate(data: bytes, member: str = SHEET1) -> bytes:
    """Flip bytes inside one member's compressed stream; the zip directory stays intact."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(member)
    local = data[info.header_offset:info.header_offset + 30]
    start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
    b = bytearray(data)
    for i in range(start + 50, start + min(info.compress_size - 10, 600)):
        b[i] ^= 0x5A
    return bytes(b)


def many_rows(n: int) -> bytes:
    rows = b"".join(b'<row r="%d"><c r="A%d"><v>%d</v></c><c r="B%d" t="inlineStr"><is><t>x</t></is></c></row>'
                    % (r, r, r, r) for r in range(40, 40 + n))
    return rewrite(example_bytes(), {SHEET1: lambda x: append_rows(x, rows)})


def long_text(n: int) -> bytes:
    cell = b'<row r="40"><c r="A40" t="inlineStr"><is><t>' + "长".encode() * n + b"</t></is></c></row>"
    return rewrite(example_bytes(), {SHEET1: lambda x: append_rows(x, cell)})


# name -> (bytes builder, expected code, a phrase the Chinese message must contain)
REFUSED: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "random_bytes.xlsx": (lambda: __import__("random").Random(7).randbytes(20_000), "NOT_A_WORKBOOK", "不是 Excel 工作簿"),
    "empty_file.xlsx": (lambda: b"", "NOT_A_WORKBOOK", "文件为空"),
    "word.xlsx": (docx_bytes, "NOT_A_WORKBOOK", "Word 文档"),
    "table.xlsx": (lambda: "项目,金额\n办公费,1.5\n".encode("gbk"), "NOT_A_WORKBOOK", "CSV"),
    "truncated.xlsx": (lambda: example_bytes()[: len(example_bytes()) // 2], "CORRUPT", "不完整"),
    "bad_deflate.xlsx": (lambda: corrupt_deflate(example_bytes()), "CORRUPT", "无法解压"),
    "password.xlsx": (lambda: encrypted(example_bytes()), "ENCRYPTED", "密码"),
    "empty_workbook.xlsx": (lambda: openpyxl_bytes(lambda wb: None), "EMPTY", "空的"),
    "no_annex.xlsx": (lambda: openpyxl_bytes(lambda wb: wb.active.append(["序号", "物品", "数量"])), "NO_ANNEX",
                      "未在工作簿中找到附件"),
    "rows_100k.xlsx": (lambda: many_rows(100_000), "TOO_LARGE", "行"),
    "text_1m.xlsx": (lambda: long_text(1_000_000), "TOO_LARGE", "A40"),
    "far_cell.xlsx": (lambda: rewrite(example_bytes(), {SHEET1: lambda x: append_rows(
        x, b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')}), "TOO_LARGE", "1,048,576 行"),
}


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    for name, (build, _, _) in REFUSED.items():
        (d / name).write_bytes(build())
    return d


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_in_process(hostile_dir: Path, name: str) -> None:
    _, code, phrase = REFUSED[name]
    t0 = time.perf_counter()
    with pytest.raises(CannotCheck) as info:
        load_model(hostile_dir / name)
    assert info.value.code == code, info.value.message
    assert phrase in info.value.message
    assert any("\u4e00" <= ch <= "\u9fff" for ch in info.value.message)  # Chinese
    assert time.perf_counter() - t0 < 5, "a hostile file must be answered quickly"


def run_cli(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("JIXIAO_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "jixiao", *map(str, args)], capture_output=True, text=True,
                          encoding="utf-8", timeout=timeout, env=env, cwd=ROOT)


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_cli_each_refused_file_exit_3_named_no_traceback(hostile_dir: Path) -> None:
    """One CLI run over all of them: the run goes on after each failure, every file is named
    with its problem, the exit code is 3, and no input is touched."""
    files = [hostile_dir / n for n in sorted(REFUSED)]
    before = {p: sha(p) for p in files}
    proc = run_cli(*files)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 3
    assert "Traceback" not in out
    for p in files:
        message = _message_of(p)
        line = next((ln for ln in out.splitlines() if p.name in ln), None)
        assert line is not None, f"{p.name} not named in the output"
        assert message[:20] in out, f"{p.name}: {message!r} missing"
    assert {p: sha(p) for p in files} == before


@pytest.mark.parametrize("name", ["password.xlsx", "truncated.xlsx", "rows_100k.xlsx"])
def test_cli_single_refused_file_exit_3(hostile_dir: Path, name: str) -> None:
    proc = run_cli(hostile_dir / name)
    assert proc.returncode == 3
    assert name in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def _message_of(p: Path) -> str:
    try:
        load_model(p)
    except CannotCheck as exc:
        return exc.message
    raise AssertionError(f"{p} was accepted")


def test_empty_workbook_is_a_no_annex_case() -> None:
    assert issubclass(EmptyWorkbook, NoAnnexFound)  # callers that handle NO_ANNEX need no change


# --- read by content, not by name -------------------------------------------------------------


def test_xls_renamed_xlsx_is_read_by_content(tmp_path: Path) -> None:
    target = tmp_path / "old_format.xlsx"
    target.write_bytes(xls_from(EXAMPLE))
    assert read_bytes(target.read_bytes()).format == "xls"
    got, want = load_model(target).to_json(), load_model(EXAMPLE).to_json()
    got.pop("source")
    want.pop("source")
    assert got == want  # the same model as the .xlsx: same cells, merges, numbers
    proc = run_cli(target)
    assert proc.returncode in (0, 1, 2), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_xlsx_renamed_xls_and_no_extension_are_read(tmp_path: Path) -> None:
    for name in ("renamed.xls", "no_extension", "weird.TXT"):
        (tmp_path / name).write_bytes(example_bytes())
        assert load_model(tmp_path / name).annex2 is not None


# --- very large sheets ------------------------------------------------------------------------


def test_dimension_of_whole_sheet_is_harmless() -> None:
    """<dimension ref="A1:XFD1048576"/> is only a claim: calamine does not allocate from it,
    and neither do we. The file is read normally, quickly, with little memory."""
    data = rewrite(example_bytes(), {SHEET1: lambda x: x.replace(b'<dimension ref="A1:G28" />',
                                                                 b'<dimension ref="A1:XFD1048576" />')})
    assert b"XFD1048576" in zipfile.ZipFile(io.BytesIO(data)).read(SHEET1)
    t0 = time.perf_counter()
    model = load_model_bytes(data, "dim.xlsx")
    assert time.perf_counter() - t0 < 2
    assert model.annex1 is not None and model.annex2 is not None
    assert max(s.height for s in read_bytes(data).sheets) < 100


def test_far_cell_never_reaches_calamine(tmp_path: Path) -> None:
    """One value at XFD1048576 makes calamine request 512 GB and abort the whole process.
    The pre-scan must refuse it first; proven in a child process capped at 1 GB, where an
    allocation attempt would kill the child instead of raising."""
    p = tmp_path / "far.xlsx"
    p.write_bytes(REFUSED["far_cell.xlsx"][0]())
    code = ("import resource,sys;resource.setrlimit(resource.RLIMIT_AS,(1<<30,1<<30));"
            "from jixiao.pipeline import load_model\n"
            "try:\n load_model(sys.argv[1])\nexcept Exception as e:\n print(e.code)")
    proc = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.strip() == "TOO_LARGE"


@pytest.mark.parametrize("rows", [MAX_ROWS - 100])
def test_many_rows_below_the_limit_are_read(rows: int) -> None:
    """The limit is on the used range, not a guess: a long sheet under it still works."""
    t0 = time.perf_counter()
    grid = read_bytes(many_rows(rows))
    assert time.perf_counter() - t0 < 10
    assert max(s.height for s in grid.sheets) == 40 + rows - 1


def test_style_only_cells_far_away_do_not_refuse() -> None:
    """Formatted empty cells (no value) do not enter calamine's range, so they are no reason
    to refuse a real file."""
    data = rewrite(example_bytes(), {SHEET1: lambda x: append_rows(
        x, b'<row r="1048576" s="1" customFormat="1"><c r="XFD1048576" s="1"/></row>')})
    assert load_model_bytes(data).annex1 is not None


MANIFEST = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
            'opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type='
            '"application/vnd.oasis.opendocument.spreadsheet"/></manifest:manifest>')


def test_ods_repeats_are_bounded() -> None:
    """ODS writes repeated rows/cells by count; a 1 KB file can ask for billions of cells."""
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet>'
               '<table:table table:name="附件二"><table:table-row table:number-rows-repeated="1000000">'
               '<table:table-cell table:number-columns-repeated="1000" office:value-type="float" office:value="1">'
               "<text:p>1</text:p></table:table-cell></table:table-row>"
               # LibreOffice's usual trailing filler: empty repeats, must not count
               '<table:table-row table:number-rows-repeated="1048000"><table:table-cell '
               'table:number-columns-repeated="1024"/></table:table-row>'
               "</table:table></office:spreadsheet></office:body></office:document-content>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(CannotCheck) as info:
        read_bytes(out.getvalue())
    assert info.value.code == "TOO_LARGE" and "附件二" in info.value.message
    # the filler alone is fine
    small = content.replace('number-rows-repeated="1000000"', 'number-rows-repeated="3"')
    small = small.replace('number-columns-repeated="1000"', 'number-columns-repeated="4"')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", small, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", MANIFEST)
    grid = read_bytes(out.getvalue())
    assert grid.format == "ods" and grid.sheets[0].height == 3


def test_xls_far_cell_refused() -> None:
    """In .xls a single cell at the last row/column costs calamine ~1 GB: refused from the
    BIFF records before parsing."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("附件三")
    ws.write(0, 0, "项目支出绩效自评表")
    ws.write(65535, 255, 1)
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(CannotCheck) as info:
        read_bytes(out.getvalue())
    assert info.value.code == "TOO_LARGE" and "附件三" in info.value.message


# --- long texts ---------------------------------------------------------------------------------


def test_long_text_at_excel_limit_is_checked_normally() -> None:
    """Up to Excel's own limit (32,767 characters) a text is real content: read in full, fast."""
    text = "因疫情影响部分项目延期实施。" * (MAX_CELL_CHARS // 14)
    text = text[:MAX_CELL_CHARS]
    data = rewrite(example_bytes(), {SHEET1: lambda x: append_rows(
        x, b'<row r="40"><c r="A40" t="inlineStr"><is><t>' + text.encode() + b"</t></is></c></row>")})
    t0 = time.perf_counter()
    grid = read_bytes(data)
    model = load_model_bytes(data)
    assert time.perf_counter() - t0 < 3
    assert grid.sheets[0].raw(39, 0) == text  # nothing cut
    assert model.annex1 is not None


def test_text_over_excel_limit_names_the_cell() -> None:
    with pytest.raises(CannotCheck) as info:
        read_bytes(long_text(MAX_CELL_CHARS + 1))
    assert "附件一" in info.value.message and "A40" in info.value.message


# --- formula cells without cached values -----------------------------------------------------


def test_formula_without_cached_value_is_reported(tmp_path: Path) -> None:
    """openpyxl (and some generators) write formulas without results; calamine reads them as
    empty. They must come out as notices with the cell, never as silently blank values."""
    from openpyxl import load_workbook

    wb = load_workbook(EXAMPLE)
    wb["附件一"]["B4"] = "=60+8"  # 编制数
    p = tmp_path / "formula.xlsx"
    wb.save(p)
    model = load_model(p)
    assert [(n.code, n.sheet, n.cell) for n in model.notices] == [("FORMULA_NO_VALUE", "附件一", "B4")]
    v = model.annex1.staffing["编制数"]
    assert v.formula_without_value and v.number is None
    proc = run_cli("--dump", p)
    assert "FORMULA_NO_VALUE" in proc.stdout and "B4" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    proc = run_cli(p, "--out", tmp_path / "out")  # the console report shows the notice too
    shown = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "B4" in ln and "公式" in ln]
    assert shown, proc.stdout[-3000:]


def test_formula_scan_details() -> None:
    """Cached results (also an empty string result) are values; prefixed elements and
    self-closing cells do not confuse the scan."""
    from jixiao.read import _scan_xlsx_part

    xml = (b'<worksheet><sheetData><row r="40"><c r="A40"><f>1+1</f><v>2</v></c>'
           b'<c r="B40" t="str"><f>""</f><v></v></c><c r="C40" s="1"/><c r="D40"><f>SUM(A1)</f><v></v></c>'
           b'<c r="E40"><f>1</f></c></row><x:row r="41"><x:c r="A41"><x:f>1</x:f><x:v/></x:c></x:row>'
           b"</sheetData></worksheet>")
    assert _scan_xlsx_part(xml, "t") == {(39, 3), (39, 4), (40, 0)}
    plain = rewrite(example_bytes(), {SHEET1: lambda x: append_rows(
        x, b'<row r="40"><c r="A40"><f>1+1</f><v>2</v></c><c r="B40" s="1"/><c r="C40"><f>1</f></c></row>')})
    assert read_bytes(plain).sheets[0].formula_blanks == {(39, 2)}


# --- .xls containers that make calamine allocate without bound ----------------------------------


def _broken_ole(data: bytes, how: str) -> bytes:
    """The example .xls with its directory's sector chain looping back on itself (calamine
    follows it until the process aborts), or with a declared Workbook stream size of 2 GB."""
    import struct

    b = bytearray(data)
    dir_sector = struct.unpack_from("<I", b, 0x30)[0]
    fat_sector = struct.unpack_from("<I", b, 0x4C)[0]
    for i in range(4):
        entry = (dir_sector + 1) * 512 + i * 128
        name_len = struct.unpack_from("<H", b, entry + 64)[0]
        if bytes(b[entry:entry + name_len - 2]).decode("utf-16-le") == "Workbook":
            break
    if how == "loop":  # the directory's chain points back to itself: it never ends
        struct.pack_into("<I", b, (fat_sector + 1) * 512 + 4 * dir_sector, dir_sector)
    else:
        struct.pack_into("<I", b, entry + 120, 0x7FFFFFFF)
    return bytes(b)


@pytest.mark.parametrize("how", ["loop", "huge_size"])
def test_broken_ole_container_refused_before_calamine(tmp_path: Path, how: str) -> None:
    data = _broken_ole(xls_from(EXAMPLE), how)
    with pytest.raises(CannotCheck) as info:
        read_bytes(data)
    assert info.value.code == "CORRUPT" and "OLE" in info.value.message
    if how != "loop":
        return
    # the reason for the strict check: calamine itself dies on the loop (here under a 1 GB cap)
    p = tmp_path / "broken.xls"
    p.write_bytes(data)
    code = ("import resource,sys,io;resource.setrlimit(resource.RLIMIT_AS,(1<<30,1<<30));"
            "import python_calamine as pc\n"
            "try:\n pc.CalamineWorkbook.from_filelike(io.BytesIO(open(sys.argv[1],'rb').read()))\n"
            "except Exception as e:\n print('refused', e)")
    proc = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0, proc.stdout  # killed by its own allocation failure


def test_valid_ole_containers_pass_the_strict_reader() -> None:
    """The strict OLE reader accepts real containers from two independent writers (xlwt's
    .xls and msoffcrypto's encrypted package, which uses the mini stream)."""
    from jixiao.read import _OleReader

    for data in (xls_from(EXAMPLE), encrypted(example_bytes())):
        ole = _OleReader(data)
        ole.validate()
        assert ole.entries


# --- declared sizes calamine trusts -------------------------------------------------------------


def test_whole_sheet_merge_is_clipped() -> None:
    """A merged range over the whole sheet changes nothing past the last value; kept in full it
    would cost one entry per covered cell (17 billion)."""
    data = rewrite(example_bytes(), {SHEET1: lambda x: x.replace(
        b'<mergeCells count="69">', b'<mergeCells count="70"><mergeCell ref="H1:XFD1048576" />')})
    t0 = time.perf_counter()
    grid = read_bytes(data)
    assert time.perf_counter() - t0 < 2
    sheet = grid.sheets[0]
    assert all(r1 < sheet.height and c1 < sheet.width for _, _, r1, c1 in sheet.merges)
    assert load_model_bytes(data).annex1 is not None


def test_many_overlapping_merges_refused() -> None:
    rows = b"".join(b'<row r="%d"><c r="Z%d"><v>1</v></c></row>' % (r, r) for r in (5000,))
    merges = b"".join(b'<mergeCell ref="A1:Z5000" />' for _ in range(10))
    data = rewrite(example_bytes(), {SHEET1: lambda x: append_rows(x, rows).replace(
        b'<mergeCells count="69">', b'<mergeCells count="79">' + merges)})
    with pytest.raises(CannotCheck) as info:
        read_bytes(data)
    assert info.value.code == "TOO_LARGE" and "合并单元格" in info.value.message


def test_shared_string_count_that_lies_is_refused() -> None:
    """calamine reserves 24 bytes per declared shared string before reading one:
    uniqueCount="200000000" makes it request 4.8 GB and abort."""
    sst = (b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
           b'2006/main" count="1" uniqueCount="200000000"><si><t>x</t></si></sst>')
    rels = (b'<Relationship Id="rIdSst" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            b'sharedStrings" Target="sharedStrings.xml"/></Relationships>')
    data = rewrite(example_bytes(), {"xl/_rels/workbook.xml.rels": lambda x: x.replace(b"</Relationships>", rels)},
                   add={"xl/sharedStrings.xml": sst})
    with pytest.raises(CannotCheck) as info:
        read_bytes(data)
    assert info.value.code == "CORRUPT" and "共享字符串" in info.value.message
    honest = rewrite(data, {  # the same table with an honest count is fine
        "xl/sharedStrings.xml": lambda x: x.replace(b'uniqueCount="200000000"', b'uniqueCount="1"')})
    assert read_bytes(honest).sheets


def test_xls_impossible_dimensions_record_refused() -> None:
    """calamine reserves memory from the DIMENSIONS record: 1.5 billion rows aborted it (found
    by the fuzz run, seed 2431). BIFF8 cannot have more than 65,536 rows."""
    import struct

    b = bytearray(xls_from(EXAMPLE))
    i = b.find(b"\x00\x02\x0e\x00")  # DIMENSIONS, BIFF8 length 14
    assert i > 0
    struct.pack_into("<I", b, i + 8, 1_495_793_687)
    with pytest.raises(CannotCheck) as info:
        read_bytes(bytes(b))
    assert info.value.code == "CORRUPT" and "尺寸记录" in info.value.message
    struct.pack_into("<I", b, i + 8, 65_536)  # large but possible (styled blanks count): read
    assert read_bytes(bytes(b)).format == "xls"


def _panicking_xls() -> bytes:
    """The example .xls with its first BOUNDSHEET record cut to 2 bytes: calamine panics (Rust)
    while reading it. pyo3 turns the panic into an exception, but Rust prints first."""
    import struct

    from jixiao.read import _OleReader

    base = xls_from(EXAMPLE)
    stream = _OleReader(base).stream(("workbook",))
    assert stream is not None
    start = base.find(stream[:64])
    pos = 0
    while pos + 4 <= len(stream):
        typ, length = struct.unpack_from("<HH", stream, pos)
        if typ == 0x0085:
            b = bytearray(base)
            struct.pack_into("<H", b, start + pos + 2, 2)
            return bytes(b)
        pos += 4 + length
    raise AssertionError("no BOUNDSHEET record")


def test_native_panic_is_quiet(tmp_path: Path) -> None:
    p = tmp_path / "panic.xls"
    p.write_bytes(_panicking_xls())
    env = {**os.environ, "RUST_BACKTRACE": "1", "PYTHONIOENCODING": "utf-8"}
    raw = subprocess.run([sys.executable, "-c", "import io,sys,python_calamine as pc\ntry:\n pc.CalamineWorkbook."
                          "from_filelike(io.BytesIO(open(sys.argv[1],'rb').read()))\nexcept BaseException:\n pass",
                          str(p)], capture_output=True, text=True, timeout=60, env=env)
    if "panicked" not in raw.stderr:
        pytest.skip("this calamine version no longer panics on the file")
    with pytest.raises(CannotCheck) as info:
        read_bytes(p.read_bytes())
    assert info.value.code == "CORRUPT"
    proc = subprocess.run([sys.executable, "-m", "jixiao", str(p), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, encoding="utf-8", timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 3
    both = proc.stdout + proc.stderr
    assert "panicked" not in both and "stack backtrace" not in both and "Traceback" not in both
    assert "panic.xls" in both


def test_member_name_starting_with_nul_is_corrupt_not_internal(tmp_path: Path) -> None:
    """zipfile cuts a name at its first NUL: "\\0x.xml" becomes "", which made the pre-scan trip
    (IndexError -> INTERNAL). It is a broken package, and says so."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(example_bytes())) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("QnulQ.xml", b"<x/>")
    data = buf.getvalue().replace(b"QnulQ.xml", b"\0nulQ.xml")
    with pytest.raises(CannotCheck) as err:
        read_bytes(data)
    assert err.value.code == "CORRUPT"
    path = tmp_path / "nul.xlsx"
    path.write_bytes(data)
    proc = run_cli(path)
    assert proc.returncode == 3
    assert "无名成员" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
