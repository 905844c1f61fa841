"""Issue 7 §2: entity attacks, decompression bombs, nothing executed or fetched, output names
that cannot escape — each with a real crafted file."""

from __future__ import annotations

import http.server
import io
import os
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
import python_calamine as pc

from jixiao.errors import CannotCheck
from jixiao.pipeline import load_model, load_model_bytes
from jixiao.read import MAX_UNCOMPRESSED_TOTAL, read_bytes

from workbooks import rewrite_zip

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from fuzz_run import to_shared_strings  # noqa: E402

EXAMPLE = ROOT / "workbook_templates" / "示例_衡山县人民政府办公室_2023.xlsx"
SHEET1 = "xl/worksheets/sheet1.xml"


rewrite = rewrite_zip


@pytest.fixture(scope="module")
def with_shared_strings() -> bytes:
    """The example with a shared-string table, checked to read exactly like the original."""
    data = to_shared_strings(EXAMPLE.read_bytes())
    assert b"inlineStr" not in zipfile.ZipFile(io.BytesIO(data)).read(SHEET1)
    got, want = load_model_bytes(data).to_json(), load_model(EXAMPLE).to_json()
    got.pop("source")
    want.pop("source")
    assert got == want
    return data


def cli(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "jixiao", *map(str, args)], capture_output=True, text=True,
                          encoding="utf-8", timeout=timeout, env=env, cwd=ROOT)


# --- XML entities ---------------------------------------------------------------------------

LAUGHS = ('<!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
          + "]>")


def _with_doctype(xml: bytes, doctype: str, entity: str) -> bytes:
    """Insert a DOCTYPE after the XML declaration and use `entity` in the first text node."""
    if xml.startswith(b"<?xml"):
        decl_end = xml.index(b"?>") + 2
        head, body = xml[:decl_end], xml[decl_end:]
    else:
        head, body = b"", xml
    body = body.replace(b"<t>", b"<t>" + entity.encode(), 1) if b"<t>" in body else body.replace(
        b"<t xml:space=\"preserve\">", b"<t xml:space=\"preserve\">" + entity.encode(), 1)
    return head + doctype.encode() + body


def _sheet_with_entity(xml: bytes, doctype: str, entity: str) -> bytes:
    xml = xml.replace(b"</sheetData>", b'<row r="40"><c r="A40" t="inlineStr"><is><t>' + entity.encode()
                      + b"</t></is></c></row></sheetData>")
    return _with_doctype(xml, doctype, "")


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("xxe") / "secret.txt"
    p.write_text("TOP-SECRET-31415", encoding="utf-8")
    return p


def crafted_entity_files(sst: bytes, secret: Path) -> dict[str, bytes]:
    xxe = f'<!DOCTYPE x [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
    return {
        "laughs_in_shared_strings": rewrite(sst, {"xl/sharedStrings.xml": lambda x: _with_doctype(x, LAUGHS, "&lol9;")}),
        "laughs_in_sheet": rewrite(sst, {SHEET1: lambda x: _sheet_with_entity(x, LAUGHS, "&lol9;")}),
        "xxe_in_shared_strings": rewrite(sst, {"xl/sharedStrings.xml": lambda x: _with_doctype(x, xxe, "&xxe;")}),
        "xxe_in_sheet": rewrite(sst, {SHEET1: lambda x: _sheet_with_entity(x, xxe, "&xxe;")}),
    }


def test_entity_files_are_real(with_shared_strings: bytes, secret: Path) -> None:
    """The crafted members are live attacks: a plain parser resolves them (shown at a harmless
    depth for the laughs, and for the external entity with an expat that loads it)."""
    import xml.etree.ElementTree as ET

    files = crafted_entity_files(with_shared_strings, secret)
    sst = zipfile.ZipFile(io.BytesIO(files["laughs_in_shared_strings"])).read("xl/sharedStrings.xml")
    shallow = sst.replace(b"&lol9;", b"&lol3;")
    assert "lol" * 1000 in "".join(ET.fromstring(shallow).itertext())
    assert b"&lol9;" in sst and LAUGHS.encode() in sst


@pytest.mark.parametrize("case", ["laughs_in_shared_strings", "laughs_in_sheet", "xxe_in_shared_strings",
                                  "xxe_in_sheet"])
def test_entities_refused_by_us(with_shared_strings: bytes, secret: Path, case: str) -> None:
    data = crafted_entity_files(with_shared_strings, secret)[case]
    t0 = time.perf_counter()
    with pytest.raises(CannotCheck) as info:
        load_model_bytes(data, f"{case}.xlsx")
    assert time.perf_counter() - t0 < 2
    assert info.value.code == "UNSAFE"
    assert "实体" in info.value.message
    assert "TOP-SECRET" not in info.value.message


@pytest.mark.parametrize("case", ["laughs_in_shared_strings", "laughs_in_sheet", "xxe_in_shared_strings",
                                  "xxe_in_sheet"])
def test_entities_refused_by_calamine_itself(with_shared_strings: bytes, secret: Path, case: str,
                                            tmp_path: Path) -> None:
    """Second line: even without our pre-scan, calamine refuses rather than expands.
    (from_path: with from_filelike the refusal surfaces as "Cannot detect file format".)"""
    p = tmp_path / "x.xlsx"
    p.write_bytes(crafted_entity_files(with_shared_strings, secret)[case])
    with pytest.raises(pc.CalamineError) as info:
        wb = pc.CalamineWorkbook.from_path(str(p))
        for name in wb.sheet_names:
            wb.get_sheet_by_name(name).to_python()
    assert "entity" in str(info.value).lower()


def test_openpyxl_uses_defusedxml() -> None:
    """The annotated copy is written with openpyxl: it must parse through defusedxml."""
    import openpyxl.xml

    assert openpyxl.xml.DEFUSEDXML is True
    assert os.environ.get("OPENPYXL_DEFUSEDXML", "True") == "True"


@pytest.mark.parametrize("case", ["laughs_in_shared_strings", "laughs_in_sheet", "xxe_in_shared_strings",
                                  "xxe_in_sheet"])
@pytest.mark.parametrize("read_only", [False, True])
def test_openpyxl_refuses_rather_than_expands(with_shared_strings: bytes, secret: Path, case: str,
                                              read_only: bool) -> None:
    data = crafted_entity_files(with_shared_strings, secret)[case]
    tracemalloc.start()
    try:
        with pytest.raises(Exception) as info:  # openpyxl wraps defusedxml errors differently per part
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=read_only)
            for ws in wb.worksheets:
                for row in ws.iter_rows(values_only=True):
                    assert not any(isinstance(v, str) and ("TOP-SECRET" in v or "lollollol" in v) for v in row)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    chain = []
    exc: BaseException | None = info.value
    while exc is not None:
        chain.append(type(exc).__name__)
        exc = exc.__cause__ or exc.__context__
    assert any(n in ("EntitiesForbidden", "DTDForbidden", "ExternalReferenceForbidden") for n in chain), chain
    assert peak < 100 * 1024 * 1024  # nothing was expanded


# --- decompression bombs ---------------------------------------------------------------------


def zeros_member_zip(size: int) -> bytes:
    """A workbook-looking zip with one member of `size` zero bytes, written streaming."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        src = zipfile.ZipFile(EXAMPLE)
        for info in src.infolist():
            z.writestr(info.filename, src.read(info.filename))
        with z.open("xl/media/padding.bin", "w", force_zip64=True) as fh:
            chunk = b"\0" * (1 << 20)
            for _ in range(size >> 20):
                fh.write(chunk)
    return out.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = zeros_member_zip(300 << 20)
    assert len(data) < 2 << 20  # 300 MB of zeros in well under 2 MB
    return data


def test_bomb_refused_before_inflating(bomb: bytes) -> None:
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(CannotCheck) as info:
            read_bytes(bomb, "bomb.xlsx")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.code == "UNSAFE" and "压缩炸弹" in info.value.message
    assert time.perf_counter() - t0 < 3  # generous; the memory peak below is the real proof
    assert peak < 3 * len(bomb) + (16 << 20)  # and would need 300 MB


def test_bomb_refused_via_cli(bomb: bytes, tmp_path: Path) -> None:
    p = tmp_path / "bomb.xlsx"
    p.write_bytes(bomb)
    proc = cli(p)
    assert proc.returncode == 3 and "压缩炸弹" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout


def _patch_central_sizes(data: bytes, member: str, usize: int) -> bytes:
    """Rewrite one member's declared uncompressed size in the central directory only."""
    b = bytearray(data)
    i = 0
    while (i := b.find(b"PK\x01\x02", i)) >= 0:
        nlen = struct.unpack_from("<H", b, i + 28)[0]
        if b[i + 46:i + 46 + nlen] == member.encode():
            struct.pack_into("<I", b, i + 24, usize)
        i += 4
    return bytes(b)


def test_declared_huge_member_refused() -> None:
    """A directory that merely claims 4 GB for a member is refused from the directory."""
    data = _patch_central_sizes(EXAMPLE.read_bytes(), SHEET1, 0xFFFF0000)
    with pytest.raises(CannotCheck) as info:
        read_bytes(data)
    assert info.value.code == "UNSAFE"
    assert 0xFFFF0000 > MAX_UNCOMPRESSED_TOTAL


def test_member_larger_than_declared_is_cut_off() -> None:
    """A member that inflates past its declared size is an error for both readers, so the
    directory check cannot be bypassed by under-declaring."""
    ex = EXAMPLE.read_bytes()
    declared = zipfile.ZipFile(io.BytesIO(ex)).getinfo(SHEET1).file_size // 2
    data = _patch_central_sizes(ex, SHEET1, declared)
    with pytest.raises(CannotCheck) as info:
        read_bytes(data)
    assert info.value.code == "CORRUPT"
    with pytest.raises(pc.CalamineError, match="larger than its declared"):
        pc.CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name("附件一")


def test_many_members_refused_before_directory_is_built() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
        for i in range(12_000):
            z.writestr(f"x/{i}", b"")
    with pytest.raises(CannotCheck) as info:
        read_bytes(out.getvalue())
    assert info.value.code == "UNSAFE" and "成员" in info.value.message


def test_duplicate_member_names_refused() -> None:
    """Two members with one name: our scan and calamine could read different ones."""
    src = zipfile.ZipFile(EXAMPLE)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename, src.read(info.filename))
        with pytest.warns(UserWarning, match="Duplicate name"):
            z.writestr(SHEET1, b"<worksheet/>")
    with pytest.raises(CannotCheck) as info:
        read_bytes(out.getvalue())
    assert info.value.code == "UNSAFE" and "重名" in info.value.message


# --- nothing executed, nothing fetched ------------------------------------------------------


@pytest.fixture()
def canary_server() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server that records every request made to it."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server API
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"999")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def linked_workbook(base: str, sentinel: Path) -> bytes:
    """The example plus: a WEBSERVICE formula, a HYPERLINK formula, an external workbook link
    (part + relationship), an external-reference formula, a DDE-style formula and a remote
    image relationship. Each points at the canary server or would create `sentinel`."""
    cells = (
        f'<row r="40"><c r="A40" t="str"><f>WEBSERVICE("{base}/webservice")</f><v>cached</v></c>'
        f'<c r="B40" t="str"><f>HYPERLINK("{base}/hyperlink","x")</f><v>x</v></c>'
        f"<c r=\"C40\"><f>[1]Sheet1!A1</f><v>5</v></c>"
        f"<c r=\"D40\"><f>cmd|'/c touch {sentinel}'!A0</f><v>0</v></c>"
        f"<c r=\"E40\" t=\"str\"><f>FILTERXML(WEBSERVICE(\"{base}/filterxml\"),\"//a\")</f></c></row>"
    ).encode()
    ext = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><externalLink xmlns="http://schemas.openxml'
           'formats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
           'relationships"><externalBook r:id="rId1"><sheetNames><sheetName val="Sheet1"/></sheetNames>'
           '<sheetDataSet><sheetData sheetId="0"><row r="1"><cell r="A1"><v>5</v></cell></row></sheetData>'
           "</sheetDataSet></externalBook></externalLink>")
    ext_rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                f'officeDocument/2006/relationships/externalLinkPath" Target="{base}/external.xlsx" '
                'TargetMode="External"/></Relationships>')
    sheet_rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                  'package/2006/relationships"><Relationship Id="rIdImg" Type="http://schemas.openxmlformats.org/'
                  f'officeDocument/2006/relationships/image" Target="{base}/image.png" TargetMode="External"/>'
                  "</Relationships>")

    def wb(x: bytes) -> bytes:
        return x.replace(b"</sheets>", b'</sheets><externalReferences><externalReference r:id="rIdExt1"/>'
                         b"</externalReferences>")

    def rels(x: bytes) -> bytes:
        return x.replace(b"</Relationships>", b'<Relationship Id="rIdExt1" Type="http://schemas.openxmlformats.org/'
                         b'officeDocument/2006/relationships/externalLink" Target="externalLinks/externalLink1.xml"/>'
                         b"</Relationships>")

    def types(x: bytes) -> bytes:
        return x.replace(b"</Types>", b'<Override PartName="/xl/externalLinks/externalLink1.xml" ContentType='
                         b'"application/vnd.openxmlformats-officedocument.spreadsheetml.externalLink+xml"/></Types>')

    return rewrite(EXAMPLE.read_bytes(), {
        SHEET1: lambda x: x.replace(b"</sheetData>", cells + b"</sheetData>"),
        "xl/workbook.xml": wb, "xl/_rels/workbook.xml.rels": rels, "[Content_Types].xml": types,
    }, add={"xl/externalLinks/externalLink1.xml": ext, "xl/externalLinks/_rels/externalLink1.xml.rels": ext_rels,
            "xl/worksheets/_rels/sheet1.xml.rels": sheet_rels})


def test_links_and_formulas_never_fetched(canary_server: tuple[str, list[str]], tmp_path: Path) -> None:
    base, hits = canary_server
    sentinel = tmp_path / "pwned"
    p = tmp_path / "linked.xlsx"
    p.write_bytes(linked_workbook(base, sentinel))
    model = load_model(p)  # read + locate + model in-process
    assert model.annex1 is not None
    grid = read_bytes(p.read_bytes())
    assert grid.sheets[0].raw(39, 0) == "cached"  # the cached text, never a fetched one
    assert (39, 4) in grid.sheets[0].formula_blanks  # FILTERXML without a result: reported, not fetched
    wb = openpyxl.load_workbook(p)  # the annotation stage's reader
    wb.save(tmp_path / "copy.xlsx")
    proc = cli(p)
    assert proc.returncode in (0, 1, 2), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    # a batch run writes an annotated copy with openpyxl
    proc = cli(tmp_path, "--out", tmp_path / "out", "--annotate", "always", "--jobs", "1")
    assert "Traceback" not in proc.stdout + proc.stderr
    time.sleep(0.2)
    assert hits == []
    assert not sentinel.exists()


VBA_STUB = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504
            + b"Attribute VB_Name = \"ThisWorkbook\"\r\nSub Workbook_Open()\r\n Shell \"touch SENTINEL\"\r\nEnd Sub\r\n"
            + b"Sub Auto_Open()\r\n Shell \"touch SENTINEL\"\r\nEnd Sub\r\n")


def xlsm_bytes(sentinel: Path) -> bytes:
    def types(x: bytes) -> bytes:
        x = x.replace(b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                      b"application/vnd.ms-excel.sheet.macroEnabled.main+xml")
        return x.replace(b"</Types>", b'<Default Extension="bin" ContentType="application/vnd.ms-office.'
                         b'vbaProject"/></Types>')

    def rels(x: bytes) -> bytes:
        return x.replace(b"</Relationships>", b'<Relationship Id="rIdVba" Type="http://schemas.microsoft.com/'
                         b'office/2006/relationships/vbaProject" Target="vbaProject.bin"/></Relationships>')

    stub = VBA_STUB.replace(b"SENTINEL", str(sentinel).encode())
    return rewrite(EXAMPLE.read_bytes(), {"[Content_Types].xml": types, "xl/_rels/workbook.xml.rels": rels},
                   add={"xl/vbaProject.bin": stub})


def test_macro_workbook_checked_never_run(tmp_path: Path) -> None:
    sentinel = tmp_path / "macro_ran"
    p = tmp_path / "宏.xlsm"
    p.write_bytes(xlsm_bytes(sentinel))
    assert b"vbaProject" in zipfile.ZipFile(p).read("[Content_Types].xml")
    model = load_model(p)
    assert model.annex2 is not None  # still checked like any workbook
    renamed = tmp_path / "宏改名.xlsx"
    renamed.write_bytes(p.read_bytes())
    for path in (p, renamed):
        proc = cli(path)
        assert proc.returncode in (0, 1, 2), proc.stdout + proc.stderr
        assert "Traceback" not in proc.stdout + proc.stderr
    openpyxl.load_workbook(p, keep_vba=True).save(tmp_path / "copy.xlsm")
    assert not sentinel.exists()


# --- output names -----------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("衡山县人民政府办公室", "衡山县人民政府办公室"),
    ("../../etc/x", "etc_x"),
    ("..\\..\\x", "x"),
    ("a..b", "a_b"),
    ("..", "未命名"),
    (".", "未命名"),
    ("a/b", "a_b"),
    ("a\\b", "a_b"),
    ("C:\\Windows\\x", "C_Windows_x"),
    ("CON", "_CON"),
    ("con.txt", "_con.txt"),
    ("Lpt1", "_Lpt1"),
    ("NUL.审核", "_NUL.审核"),
    ("COM¹", "_COM¹"),
    ("", "未命名"),
    (None, "未命名"),
    ("   ", "未命名"),
    ("a\x00b", "a_b"),
    ("a\nb\tc\r", "a_b_c"),
    ("办公室\u202egpj.exe", "办公室gpj.exe"),  # right-to-left override removed
    ("办\u200b公室", "办公室"),  # zero-width space removed
    ("名称：局（办）", "名称：局（办）"),  # full-width punctuation is fine on every system
    ('a<b>c:"d"|e?f*g', "a_b_c_d_e_f_g"),
    ("trailing. . ", "trailing"),
    ("/", "未命名"),
    ("~/x", "~_x"),
])
def test_safe_filename(raw: object, expected: str) -> None:
    from jixiao.safety import safe_filename

    assert safe_filename(raw) == expected


def test_safe_filename_long_names_fit() -> None:
    from jixiao.safety import MAX_NAME_BYTES, safe_filename

    name = safe_filename("衡山县" * 200)
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert name.startswith("衡山县") and "\ufffd" not in name
    assert len(safe_filename("x" * 1000, max_bytes=50)) == 50


def test_safe_output_path_stays_inside(tmp_path: Path) -> None:
    from jixiao.safety import safe_output_path

    for raw in ("../../etc/passwd", "/etc/passwd", "a/../../b", "..", "CON", "\x00", "x" * 500, "办\n公"):
        target = safe_output_path(tmp_path, raw, ".审核.xlsx")
        assert target.parent == tmp_path.resolve()
        assert target.name.endswith(".审核.xlsx")
    with pytest.raises(ValueError):
        safe_output_path(tmp_path, "x", "/../y")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names")
def test_safe_filename_can_be_created(tmp_path: Path) -> None:
    from jixiao.safety import safe_filename

    for raw in ("../../etc/x", "a/b", "CON", "x" * 400, "\x01\x02", "办公室\u202egpj.exe", "名称：局（办）"):
        p = tmp_path / (safe_filename(raw) + ".审核.xlsx")
        p.write_bytes(b"x")
        assert p.parent == tmp_path
    assert len(list(tmp_path.iterdir())) == 7


# --- text from the file printed on a terminal ------------------------------------------------


def test_printable() -> None:
    from jixiao.safety import printable

    assert printable("衡山县\x1b[2J办公室") == "衡山县\\x1b[2J办公室"
    assert printable("a\u202eb\nc\x00") == "a\\u202eb c\\x00"
    assert printable("正常的中文（全角）") == "正常的中文（全角）"
    assert printable("x" * 50, 10) == "x" * 9 + "…"


def test_refusal_message_escapes_sheet_names() -> None:
    """Sheet names come from the file; a refusal message that names one must not carry
    terminal control or bidi characters."""
    evil = "附件一\u202e\u0007"
    data = rewrite(EXAMPLE.read_bytes(), {
        "xl/workbook.xml": lambda x: x.replace("name=\"附件一\"".encode(), f'name="{evil}"'.encode()),
        SHEET1: lambda x: x.replace(b"</sheetData>", b'<row r="900000"><c r="A900000"><v>1</v></c></row></sheetData>'),
    })
    with pytest.raises(CannotCheck) as info:
        read_bytes(data)
    assert info.value.code == "TOO_LARGE"
    assert "\u202e" not in info.value.message and "\x07" not in info.value.message
    assert "附件一\\u202e" in info.value.message
