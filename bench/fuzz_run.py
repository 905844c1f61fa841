"""Offline fuzz run (issue 7): mutate the bundled example workbook thousands of ways and prove
that every mutation ends in a model or a `CannotCheck` — never another exception, never a dead
process, never a hang.

Run from the repository root::

    .venv/bin/python bench/fuzz_run.py                       # 10,000 mutations, all CPUs
    .venv/bin/python bench/fuzz_run.py --count 500 --seed 7 --jobs 1
    .venv/bin/python bench/fuzz_run.py --replay 1234         # one seed, in-process, with traceback

Each mutation is fully determined by its seed (``--seed`` + index), so any failure can be
replayed. Seeds of failures are printed and the failing inputs are written to
``--save-failures`` (default bench/fuzz_failures/) for a regression test.

Mutation families (``MUTATORS``):

* ``zip_bytes``   raw byte edits of the .xlsx or .xls file (flips, overwrites, cuts, splices)
* ``zip_header``  edits of zip local/central header fields (sizes, method, flags, name length)
* ``xml_text``    text edits of one part's XML (delete/duplicate/swap ranges, inserted tokens,
                  extreme numbers in attributes), re-zipped so the zip itself stays valid
* ``cell_values`` cells replaced by generated ones: numbers, extreme floats, Chinese money and
                  percentage texts, NA tokens, comparators, control characters, long texts,
                  formulas with and without cached values, errors, booleans, dates
* ``cell_types``  type/style/position attributes changed, cells duplicated, moved, unreferenced
* ``structure``   package edits: members removed, sheets renamed/duplicated/hidden, merges added
                  (overlapping, huge), dimensions and relationships changed
* ``ods_xml``     text and cell edits of an .ods rendering of the example
* ``xls_bytes``   byte edits inside the BIFF stream of an .xls rendering of the example

Stages run per mutation: read → locate → model (``load_model_bytes``), then the check and
score stages when they work on the unmutated example (a stage still under construction is
skipped and reported, not counted as a fuzz failure).

Workers run under an address-space cap (``--mem-mb``) and a per-mutation time limit
(``--time-limit``); a worker that dies is replaced and the mutation it was on is a failure.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import os
import random
import re
import struct
import sys
import time
import traceback
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
EXAMPLE = ROOT / "workbook_templates" / "示例_衡山县人民政府办公室_2023.xlsx"
DEFAULT_FAILURES = ROOT / "bench" / "fuzz_failures"

# --- the seed corpus ---------------------------------------------------------------------------


@dataclass(slots=True)
class Corpus:
    xlsx: bytes
    xlsx_sst: bytes  # the same with a shared-string table, as Excel/WPS write it
    xls: bytes
    ods: bytes
    members: dict[str, bytes] = field(default_factory=dict)  # xlsx_sst parts
    sheets: list[str] = field(default_factory=list)  # worksheet part names


def build_corpus() -> Corpus:
    xlsx = EXAMPLE.read_bytes()
    sst = to_shared_strings(xlsx)
    zf = zipfile.ZipFile(io.BytesIO(sst))
    members = {n: zf.read(n) for n in zf.namelist()}
    sheets = sorted(n for n in members if n.startswith("xl/worksheets/") and n.endswith(".xml"))
    cells = cells_of(xlsx)
    return Corpus(xlsx=xlsx, xlsx_sst=sst, xls=xls_of(cells), ods=_ods_of(cells), members=members, sheets=sheets)


def put(z: zipfile.ZipFile, name: str, body: bytes | str, compress_type: int = zipfile.ZIP_DEFLATED) -> None:
    """`z.writestr` with a fixed time stamp: a seed's mutation is the same bytes on every run."""
    z.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), body, compress_type=compress_type)


def rezip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in members.items():
            put(z, name, body)
    return out.getvalue()


def to_shared_strings(data: bytes) -> bytes:
    """Inline strings (as openpyxl writes them) moved into xl/sharedStrings.xml, the way Excel and
    WPS store them; the tests use it too."""
    table: list[bytes] = []
    index: dict[bytes, int] = {}

    def swap(m: re.Match[bytes]) -> bytes:
        text = m.group(2)
        if text not in index:
            index[text] = len(table)
            table.append(text)
        return m.group(1) + b' t="s"><v>%d</v></c>' % index[text]

    cell = re.compile(rb'(<c\b[^>]*?) t="inlineStr"><is><t(?: xml:space="preserve")?>(.*?)</t></is></c>', re.S)
    zf = zipfile.ZipFile(io.BytesIO(data))
    members = {n: zf.read(n) for n in zf.namelist()}
    for n in members:
        if n.startswith("xl/worksheets/sheet"):
            members[n] = cell.sub(swap, members[n])
    members["xl/sharedStrings.xml"] = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="http://schemas.openxmlformats.org/'
        b'spreadsheetml/2006/main" count="%d" uniqueCount="%d">' % (len(table), len(table))
        + b"".join(b'<si><t xml:space="preserve">' + t + b"</t></si>" for t in table) + b"</sst>")
    members["xl/_rels/workbook.xml.rels"] = members["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>", b'<Relationship Id="rIdSst" Type="http://schemas.openxmlformats.org/officeDocument/'
        b'2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
    members["[Content_Types].xml"] = members["[Content_Types].xml"].replace(
        b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
        b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    return rezip(members)


SheetCells = list[tuple[str, list[list[Any]], list[tuple[tuple[int, int], tuple[int, int]]]]]


def cells_of(xlsx: bytes) -> SheetCells:
    """Each sheet's name, values and merged ranges, as calamine reads them."""
    import python_calamine as pc

    wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(xlsx))
    out = []
    for name in wb.sheet_names:
        sh = wb.get_sheet_by_name(name)
        out.append((name, sh.to_python(skip_empty_area=False), list(sh.merged_cell_ranges or [])))
    return out


def xls_of(cells: SheetCells) -> bytes:
    """A real BIFF8 .xls with these cells and merged ranges (xlwt); the tests use it too."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    for name, rows, merges in cells:
        ws = book.add_sheet(name)
        covered: set[tuple[int, int]] = set()
        for (r0, c0), (r1, c1) in merges:
            ws.write_merge(r0, r1, c0, c1, rows[r0][c0] if rows[r0][c0] != "" else None)
            covered |= {(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)}
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if (r, c) not in covered and v not in ("", None):
                    ws.write(r, c, v)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _ods_of(cells: SheetCells) -> bytes:
    """A minimal but real OpenDocument spreadsheet with the example's cells and merges."""
    tables = []
    for name, rows, merges in cells:
        spans = {(r0, c0): (r1 - r0 + 1, c1 - c0 + 1) for (r0, c0), (r1, c1) in merges}
        covered = {(r, c) for (r0, c0), (r1, c1) in merges for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)
                   if (r, c) != (r0, c0)}
        body = []
        for r, row in enumerate(rows):
            cells_xml = []
            for c, v in enumerate(row):
                if (r, c) in covered:
                    cells_xml.append("<table:covered-table-cell/>")
                    continue
                span = spans.get((r, c))
                attrs = (f' table:number-rows-spanned="{span[0]}" table:number-columns-spanned="{span[1]}"'
                         if span else "")
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    cells_xml.append(f'<table:table-cell{attrs} office:value-type="float" office:value="{v!r}">'
                                     f"<text:p>{v!r}</text:p></table:table-cell>")
                elif v not in ("", None):
                    cells_xml.append(f'<table:table-cell{attrs} office:value-type="string"><text:p>{_esc(str(v))}'
                                     "</text:p></table:table-cell>")
                else:
                    cells_xml.append(f"<table:table-cell{attrs}/>")
            body.append("<table:table-row>" + "".join(cells_xml) + "</table:table-row>")
        tables.append(f'<table:table table:name="{_esc(name)}">' + "".join(body) + "</table:table>")
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
               "<office:body><office:spreadsheet>" + "".join(tables)
               + "</office:spreadsheet></office:body></office:document-content>")
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
                'opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type='
                '"application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path='
                '"content.xml" manifest:media-type="text/xml"/></manifest:manifest>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        put(z, "mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        put(z, "content.xml", content)
        put(z, "META-INF/manifest.xml", manifest)
    return out.getvalue()


# --- generated values ---------------------------------------------------------------------------

TEXTS = [
    "", " ", "\u3000", "——", "—", "-", "/", "无", "不适用", "n/a", "…", "0", "-0", "0.0", "1,435.09", "１４３５．０９",
    "91.17%", "９１.１７％", "≥95%", "≤482.29万元", "不低于95%", ">=100", "=", "≥", "%", "万元", "1e308", "-1e308",
    "1e-320", "NaN", "nan", "inf", "-inf", "Infinity", "1/0", "(1,234.5)", "12.3.4", "1,2,3", "..5", "+-1", "∞",
    "2642次", "100分", "95％以上", "≧95", "﹦1", "合计", "总分", "其中：", "1、业务工作经费", "（1）", "一、",
    "三公经费:", "年度资金总额", "一级指标", "产出指标(50 分)", "效益指标（30分）", "满意度指标(999999999999分)",
    "填表人：张三 填报日期：2024-01-01 联系电话：123 单位负责人签字：", "2023年度部门整体支出绩效自评表",
    "附件二", "项目支出绩效自评表", "预算部门、单位名称", "../../etc/passwd", "CON", "\u202egpj.exe",
    "a\u0000b", "\u0007", "\ud7ff", "\ufffe", "😀", "𠀀", "ꙮ", "\u200b", "<script>", "&amp;", "]]>", "'\"",
    "=1+1", "=WEBSERVICE(\"http://127.0.0.1:9/x\")", "@SUM(A1)", "+cmd|'/c calc'!A0", "%s%s%n", "{0}", "\\x00",
]


def gen_text(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.55:
        return rng.choice(TEXTS)
    if roll < 0.65:
        return rng.choice(TEXTS) + rng.choice(TEXTS)
    if roll < 0.75:
        return "".join(chr(rng.choice([rng.randint(0x20, 0x7E), rng.randint(0x4E00, 0x9FFF), rng.randint(0, 0x2FFFF)]))
                       for _ in range(rng.randint(1, 30)))
    if roll < 0.85:
        return f"{rng.choice(['', '≥', '≤', '不低于', '>', '约'])}{gen_number(rng)}{rng.choice(['', '%', '万元', '元', '亿元', '次', '‰'])}"
    if roll < 0.95:
        return rng.choice(["长", "因疫情影响项目延期。", "a"]) * rng.choice([1000, 32_767 // 10, 32_767, 32_768, 40_000])
    return "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(1, 20)))


def gen_number(rng: random.Random) -> str:
    choice = rng.random()
    if choice < 0.3:
        return str(rng.randint(-10, 10_000))
    if choice < 0.6:
        return f"{rng.uniform(-1e6, 1e6):.{rng.randint(0, 8)}f}"
    if choice < 0.8:
        return repr(rng.choice([0.0, -0.0, 1e308, -1e308, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, 1e15, 1e16,
                                123456789012345678, 2**53 + 1, 0.9117, 91.17, 100.0, 99.995]))
    return rng.choice(["NaN", "INF", "-INF", "1e999", "-1e999", "0x1F", "1_000", "١٢٣", "", " ", "1e", "e5",
                       "--1", "9" * 400, "0." + "0" * 400 + "1"])


def xml_escape(s: str, rng: random.Random) -> str:
    if rng.random() < 0.1:
        return s  # sometimes raw: broken XML on purpose
    return _esc(s)


FORMULAS = ["SUM(B5:B8)", "A1/0", 'WEBSERVICE("http://127.0.0.1:9/")', "1+", "[1]Sheet1!A1"]


def gen_cell(rng: random.Random, ref: str) -> bytes:
    kind = rng.choice(["n", "s_inline", "str", "b", "e", "d", "formula", "formula_blank", "empty", "garbage"])
    s_attr = f' s="{rng.choice([0, 1, 3, 7, 99999, -1])}"' if rng.random() < 0.3 else ""
    r_attr = f' r="{ref}"' if rng.random() > 0.05 else ""
    if kind == "n":
        body = f"<c{r_attr}{s_attr}><v>{gen_number(rng)}</v></c>"
    elif kind == "s_inline":
        body = f'<c{r_attr}{s_attr} t="inlineStr"><is><t xml:space="preserve">{xml_escape(gen_text(rng), rng)}</t></is></c>'
    elif kind == "str":
        body = f'<c{r_attr}{s_attr} t="str"><v>{xml_escape(gen_text(rng), rng)}</v></c>'
    elif kind == "b":
        body = f'<c{r_attr} t="b"><v>{rng.choice(["0", "1", "2", "true", "", "-1"])}</v></c>'
    elif kind == "e":
        body = f'<c{r_attr} t="e"><v>{rng.choice(["#DIV/0!", "#N/A", "#REF!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!", "#GETTING_DATA", "bad"])}</v></c>'
    elif kind == "d":
        body = f'<c{r_attr} t="d"><v>{rng.choice(["2023-12-31", "2023-12-31T23:59:59", "9999-99-99", "", "x", "-1", "1900-02-29"])}</v></c>'
    elif kind == "formula":
        formula = xml_escape(rng.choice(FORMULAS), rng)
        body = f"<c{r_attr}><f>{formula}</f><v>{gen_number(rng)}</v></c>"
    elif kind == "formula_blank":
        t_attr = rng.choice(["", ' t="str"', ' t="n"'])
        body = f'<c{r_attr}{t_attr}><f>SUM(B5:B8)</f>{rng.choice(["", "<v></v>", "<v/>"])}</c>'
    elif kind == "empty":
        body = f"<c{r_attr}{s_attr}/>"
    else:
        body = rng.choice(["<c", "<c r=\"A1\">", "</c>", "<c r=\"\"><v>1</v></c>", "<c r=\"1A\"><v>1</v></c>",
                           "<c r=\"$A$1\"><v>1</v></c>", "<c r=\"a1\"><v>1</v></c>", f"<c r=\"{ref}\" t=\"s\"><v>99999</v></c>",
                           f"<c r=\"{ref}\" t=\"s\"><v>-1</v></c>", f"<c r=\"{ref}\" t=\"s\"><v>x</v></c>"])
    return body.encode("utf-8", "surrogatepass")


# --- mutators ---------------------------------------------------------------------------------------

Mutator = Callable[[random.Random, Corpus], bytes]


def _byte_edits(rng: random.Random, data: bytes, lo: int = 0) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        if not b:
            break
        op = rng.random()
        i = rng.randrange(lo, len(b)) if lo < len(b) else rng.randrange(len(b))
        n = rng.choice([1, 1, 2, 4, 16, 256])
        if op < 0.35:
            b[i] ^= 1 << rng.randrange(8)
        elif op < 0.55:
            b[i:i + n] = bytes(rng.randrange(256) for _ in range(min(n, len(b) - i)))
        elif op < 0.65:
            del b[rng.randrange(len(b)):]
        elif op < 0.75:
            del b[i:i + n]
        elif op < 0.85:
            j = rng.randrange(len(b))
            b[i:i] = b[j:j + n]
        elif op < 0.95:
            b[i:i] = bytes(rng.randrange(256) for _ in range(n))
        else:
            b[i:i + 4] = rng.choice([b"\xff\xff\xff\xff", b"\0\0\0\0", b"\xff\xff\xff\x7f", b"PK\x03\x04"])
    return bytes(b)


def zip_bytes(rng: random.Random, corpus: Corpus) -> bytes:
    return _byte_edits(rng, rng.choice([corpus.xlsx, corpus.xlsx_sst]))


def zip_header(rng: random.Random, corpus: Corpus) -> bytes:
    data = bytearray(rng.choice([corpus.xlsx, corpus.xlsx_sst]))
    heads = [m.start() for m in re.finditer(rb"PK\x01\x02|PK\x03\x04|PK\x05\x06", bytes(data))]
    for _ in range(rng.randint(1, 3)):
        h = rng.choice(heads)
        sig = bytes(data[h:h + 4])
        # field offsets (size) of local (PK0304), central (PK0102) and end (PK0506) records
        fields = {b"PK\x03\x04": [(6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2)],
                  b"PK\x01\x02": [(8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2), (42, 4)],
                  b"PK\x05\x06": [(8, 2), (10, 2), (12, 4), (16, 4), (20, 2)]}[sig]
        off, size = rng.choice(fields)
        value = rng.choice([0, 1, 0xFF, 0xFFFF, 0xFFFFFFFF, 8, 12, 14, 99, rng.randrange(1 << (8 * size))])
        struct.pack_into("<H" if size == 2 else "<I", data, h + off, value & ((1 << (8 * size)) - 1))
    return bytes(data)


TOKENS = [
    b"<", b">", b"/>", b"</c>", b"</row>", b"</sheetData>", b"<c>", b"<v>", b"</v>", b"<row>", b"<row r=\"0\">",
    b"<row r=\"-5\">", b"<row r=\"1048577\">", b"<row r=\"99999999999999999999\">", b"<c r=\"XFE1\"><v>1</v></c>",
    b"<c r=\"AAAA1\"><v>1</v></c>", b"<c r=\"A0\"><v>1</v></c>", b"<c r=\"ZZ19999\"><v>1</v></c>",
    b"<c r=\"A20001\"><v>1</v></c>", b"<mergeCell ref=\"A1:XFD1048576\"/>", b"<mergeCell ref=\"A1:SZ20000\"/>",
    b"<mergeCell ref=\"B2:A1\"/>", b"<mergeCell ref=\"A1\"/>", b"<mergeCell ref=\"\"/>", b"&amp;", b"&#0;", b"&#xD800;",
    b"&#x10FFFF;", b"&unknown;", b"<![CDATA[<c r=\"A1\">]]>", b"<!-- <c r=\"XFD1048576\"><v>1</v></c> -->",
    b"<?pi x?>", b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"\xe4\xb8", b"<f>SUM(A1)</f>", b" t=\"e\"", b" t=\"d\"",
    b" t=\"s\"", b" t=\"b\"", b" t=\"inlineStr\"", b" s=\"99999\"", b" r=\"A1\"", b"<is><t>x</t></is>",
    b"<dimension ref=\"A1:XFD1048576\"/>", "<sheet name=\"附件一\" sheetId=\"9\" r:id=\"rId1\"/>".encode(),
    b"<sheet name=\"\" sheetId=\"9\" r:id=\"rId99\"/>", b"<x:c r=\"B1\"><x:v>1</x:v></x:c>", b"<si><t>x</t></si>",
    b"<table:table-row table:number-rows-repeated=\"99999999\"><table:table-cell office:value-type=\"float\" "
    b"office:value=\"1\"/></table:table-row>",
    b"<table:table-cell table:number-columns-repeated=\"99999\" office:value-type=\"string\"><text:p>x</text:p>"
    b"</table:table-cell>",
    b"<table:table-cell table:number-columns-spanned=\"99999\" table:number-rows-spanned=\"99999\"/>",
]
_NUM_ATTR = re.compile(rb'="(-?\d+)"')


def _xml_edits(rng: random.Random, xml: bytes) -> bytes:
    b = bytearray(xml)
    for _ in range(rng.randint(1, 4)):
        if not b:
            break
        op = rng.random()
        tags = [m.start() for m in re.finditer(rb"<", bytes(b))] or [0]
        i = rng.choice(tags) if rng.random() < 0.8 else rng.randrange(len(b))
        if op < 0.3:
            b[i:i] = rng.choice(TOKENS)
        elif op < 0.45:
            del b[i:i + rng.choice([1, 5, 20, 200, 2000])]
        elif op < 0.55:
            j = rng.choice(tags)
            b[i:i] = b[j:j + rng.choice([10, 60, 300])]
        elif op < 0.7:
            nums = list(_NUM_ATTR.finditer(bytes(b)))
            if nums:
                m = rng.choice(nums)
                new = rng.choice([b"0", b"-1", b"1048576", b"1048577", b"16384", b"4294967296", b"99999999999999999999",
                                  str(int(m.group(1)) * rng.randint(2, 1000)).encode()])
                b[m.start(1):m.end(1)] = new
        elif op < 0.8:
            refs = list(re.finditer(rb'r="([A-Z]+)(\d+)"', bytes(b)))
            if refs:
                m = rng.choice(refs)
                col = rng.choice([b"A", b"Z", b"SZ", b"SG", b"ZZ", b"XFD", b"XFE", b"AAAA"])
                row = rng.choice([b"1", b"999", b"19999", b"20000", b"20001", b"1048576", b"0"])
                b[m.start(1):m.end(2)] = col + row
        elif op < 0.9:
            del b[rng.randrange(len(b)):]
        else:
            j = rng.randrange(len(b))
            k = rng.randrange(len(b))
            lo, hi = sorted((j, k))
            n = min(hi - lo, 100)
            b[lo:lo + n], b[hi:hi + n] = b[hi:hi + n], b[lo:lo + n]
    return bytes(b)


def xml_text(rng: random.Random, corpus: Corpus) -> bytes:
    members = dict(corpus.members)
    names = corpus.sheets * 4 + [n for n in members if n.endswith((".xml", ".rels"))]
    for _ in range(rng.randint(1, 2)):
        name = rng.choice(names)
        members[name] = _xml_edits(rng, members[name])
    return rezip(members)


_CELL = re.compile(rb"<c\b[^>]*?(?:/>|>.*?</c>)", re.S)
_REF = re.compile(rb'r="([A-Z]+\d+)"')


def cell_values(rng: random.Random, corpus: Corpus) -> bytes:
    members = dict(corpus.members)
    for _ in range(rng.randint(1, 8)):
        name = rng.choice(corpus.sheets)
        xml = members[name]
        cells = list(_CELL.finditer(xml))
        if not cells:
            continue
        m = rng.choice(cells)
        ref = _REF.search(m.group(0))
        new = gen_cell(rng, ref.group(1).decode() if ref else "A1")
        members[name] = xml[:m.start()] + new + xml[m.end():]
    if rng.random() < 0.3 and "xl/sharedStrings.xml" in members:
        sst = members["xl/sharedStrings.xml"]
        items = list(re.finditer(rb"<si>.*?</si>", sst, re.S))
        if items:
            m = rng.choice(items)
            text = xml_escape(gen_text(rng), rng).encode("utf-8", "surrogatepass")
            members["xl/sharedStrings.xml"] = sst[:m.start()] + b"<si><t>" + text + b"</t></si>" + sst[m.end():]
    return rezip(members)


def cell_types(rng: random.Random, corpus: Corpus) -> bytes:
    members = dict(corpus.members)
    name = rng.choice(corpus.sheets)
    xml = members[name]
    cells = list(_CELL.finditer(xml))
    edits: list[tuple[int, int, bytes]] = []
    for m in rng.sample(cells, k=min(len(cells), rng.randint(1, 12))):
        cell = m.group(0)
        op = rng.random()
        if op < 0.3:
            t = rng.choice([b"n", b"s", b"str", b"inlineStr", b"b", b"e", b"d", b"x", b""])
            cell = re.sub(rb' t="[^"]*"', b"", cell, count=1)
            cell = cell.replace(b"<c ", b'<c t="' + t + b'" ', 1)
        elif op < 0.45:
            cell = re.sub(rb' s="\d+"', b' s="%d"' % rng.choice([0, 5, 255, 65535, 999999999]), cell, count=1)
        elif op < 0.6:
            cell = re.sub(rb' r="[^"]*"', b"", cell, count=1)
        elif op < 0.75:
            cell = cell + cell  # the same reference twice
        elif op < 0.9:
            cell = re.sub(rb' r="[A-Z]+(\d+)"', lambda mm: b' r="%s%s"' % (
                rng.choice([b"A", b"H", b"Z", b"AZ", b"SF"]), mm.group(1)), cell, count=1)
        else:
            cell = b""
        edits.append((m.start(), m.end(), cell))
    for start, end, new in sorted(edits, reverse=True):
        xml = xml[:start] + new + xml[end:]
    if rng.random() < 0.2:  # shuffle the cells of one row
        rows = list(re.finditer(rb"(<row\b[^>]*>)(.*?)(</row>)", xml, re.S))
        if rows:
            m = rng.choice(rows)
            parts = _CELL.findall(m.group(2))
            rng.shuffle(parts)
            xml = xml[:m.start(2)] + b"".join(parts) + xml[m.end(2):]
    members[name] = xml
    return rezip(members)


def structure(rng: random.Random, corpus: Corpus) -> bytes:
    members = dict(corpus.members)
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        if op < 0.15:
            members.pop(rng.choice(list(members)), None)
        elif op < 0.35 and "xl/workbook.xml" in members:
            wb = members["xl/workbook.xml"]
            names = re.findall(rb'name="([^"]*)"', wb)
            if names:
                old = rng.choice(names)
                new = rng.choice([b"", b"\xe9\x99\x84\xe4\xbb\xb6\xe4\xb8\x80", b"A" * 300, b"a/b", b"[x]:*?", b"&lt;&gt;",
                                  b"\xe9\x99\x84\xe4\xbb\xb6\xe4\xba\x8c", b"Sheet1", b"&amp;", b"&bad;"])
                members["xl/workbook.xml"] = wb.replace(b'name="' + old + b'"', b'name="' + new + b'"', 1)
        elif op < 0.45 and "xl/workbook.xml" in members:
            members["xl/workbook.xml"] = members["xl/workbook.xml"].replace(
                b'state="visible"', rng.choice([b'state="hidden"', b'state="veryHidden"', b'state="x"']), 1)
        elif op < 0.65:
            name = rng.choice(corpus.sheets)
            if name in members:
                merges = b"".join(b'<mergeCell ref="%s"/>' % rng.choice([
                    b"A1:G28", b"A1:XFD1048576", b"A1:SZ20000", b"B5:B5", b"C3:A1", b"A1:A1048576", b"A1:XFD1",
                    b"D10:F12", b"A1:ZZ19999", b"H100:H90"]) for _ in range(rng.randint(1, 5)))
                xml = members[name]
                if b"<mergeCells" in xml:
                    xml = re.sub(rb"(<mergeCells[^>]*>)", lambda m, extra=merges: m.group(1) + extra, xml, count=1)
                else:
                    xml = xml.replace(b"</sheetData>", b"</sheetData><mergeCells>" + merges + b"</mergeCells>", 1)
                members[name] = xml
        elif op < 0.75 and "xl/_rels/workbook.xml.rels" in members:
            rels = members["xl/_rels/workbook.xml.rels"]
            targets = re.findall(rb'Target="([^"]*)"', rels)
            if len(targets) >= 2:
                a, b = rng.sample(targets, 2)
                rels = rels.replace(b'Target="' + a + b'"', b'Target="\0"').replace(b'Target="' + b + b'"',
                                                                                  b'Target="' + a + b'"')
                members["xl/_rels/workbook.xml.rels"] = rels.replace(b'Target="\0"', b'Target="' + b + b'"')
            elif targets:
                members["xl/_rels/workbook.xml.rels"] = rels.replace(targets[0], rng.choice(
                    [b"/xl/worksheets/sheet1.xml", b"../../../etc/passwd", b"worksheets/SHEET1.XML", b"",
                     b"worksheets\\sheet1.xml", b"http://127.0.0.1:9/x.xml"]))
        elif op < 0.85:
            name = rng.choice(corpus.sheets)
            if name in members:
                members[name] = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="%s"' % rng.choice(
                    [b"A1:XFD1048576", b"A1", b"", b"Z9:A1", b"A1:A99999999999"]), members[name], count=1)
        else:
            src = rng.choice(corpus.sheets)
            if src in members:
                members[rng.choice(corpus.sheets)] = members[src]  # two sheets, one content
    return rezip(members)


def ods_xml(rng: random.Random, corpus: Corpus) -> bytes:
    zf = zipfile.ZipFile(io.BytesIO(corpus.ods))
    members = {n: zf.read(n) for n in zf.namelist()}
    content = members["content.xml"]
    if rng.random() < 0.5:
        content = _xml_edits(rng, content)
    else:
        cells = list(re.finditer(rb"<table:table-cell\b[^>]*?(?:/>|>.*?</table:table-cell>)", content, re.S))
        for _ in range(rng.randint(1, 6)):
            if not cells:
                break
            m = rng.choice(cells)
            v = gen_number(rng) if rng.random() < 0.5 else xml_escape(gen_text(rng), rng)
            typ = rng.choice(["float", "string", "percentage", "currency", "date", "boolean", "time", "x"])
            rep = rng.choice(["", ' table:number-columns-repeated="3"', ' table:number-columns-repeated="600"',
                              ' table:number-rows-repeated="30000"'])
            new = (f'<table:table-cell office:value-type="{typ}" office:value="{v}" office:date-value="{v}" '
                   f'office:boolean-value="{v}"{rep}><text:p>{v}</text:p></table:table-cell>').encode(
                       "utf-8", "surrogatepass")
            content = content[:m.start()] + new + content[m.end():]
            cells = list(re.finditer(rb"<table:table-cell\b[^>]*?(?:/>|>.*?</table:table-cell>)", content, re.S))
    members["content.xml"] = content
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for n, body in members.items():
            put(z, n, body, zipfile.ZIP_STORED if n == "mimetype" else zipfile.ZIP_DEFLATED)
    return out.getvalue()


def xls_bytes(rng: random.Random, corpus: Corpus) -> bytes:
    # edits after the 512-byte OLE header, where the BIFF records live; sometimes in the header
    return _byte_edits(rng, corpus.xls, lo=0 if rng.random() < 0.15 else 512)


MUTATORS: dict[str, Mutator] = {
    "zip_bytes": zip_bytes, "zip_header": zip_header, "xml_text": xml_text, "cell_values": cell_values,
    "cell_types": cell_types, "structure": structure, "ods_xml": ods_xml, "xls_bytes": xls_bytes,
}
WEIGHTS = {"zip_bytes": 1, "zip_header": 1, "xml_text": 3, "cell_values": 3, "cell_types": 2, "structure": 2,
           "ods_xml": 1, "xls_bytes": 1}


def mutation(seed: int, corpus: Corpus) -> tuple[str, bytes]:
    """The mutation of one seed: (mutator name, bytes)."""
    rng = random.Random(seed)
    name = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    return name, MUTATORS[name](rng, corpus)


# --- running one input --------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    status: str  # "ok", "refused", "failure"
    detail: str  # CannotCheck code, or the failure's exception type and message
    stage: str = ""
    seconds: float = 0.0
    trace: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "failure"


class Stages:
    """read→model always; check and score only when they work on the pristine example."""

    def __init__(self, corpus: Corpus) -> None:
        self.extra: list[tuple[str, Callable[[Any], Any]]] = []
        self.skipped: dict[str, str] = {}
        from jixiao.pipeline import load_model_bytes

        base = load_model_bytes(corpus.xlsx, "example.xlsx")
        for name, fn in self._candidates():
            try:
                fn(base)
            except Exception as exc:
                self.skipped[name] = f"{type(exc).__name__}: {str(exc)[:150]}"
            else:
                self.extra.append((name, fn))

    @staticmethod
    def _candidates() -> list[tuple[str, Callable[[Any], Any]]]:
        out: list[tuple[str, Callable[[Any], Any]]] = []
        try:
            from jixiao.check.engine import check_model

            out.append(("check", check_model))
        except Exception as exc:  # the stage does not import yet
            out.append(("check", _unavailable(exc)))
        try:
            from jixiao.score import score_file_model

            out.append(("score", score_file_model))
        except Exception as exc:
            out.append(("score", _unavailable(exc)))
        return out


def _unavailable(exc: Exception) -> Callable[[Any], Any]:
    def fail(_: Any) -> Any:
        raise exc

    return fail


def run_input(data: bytes, stages: Stages | None = None, source: str = "fuzz.xlsx") -> Outcome:
    """One input through the pipeline, in-process. Never raises (except KeyboardInterrupt)."""
    from jixiao.errors import CannotCheck, InternalError, TimedOut
    from jixiao.pipeline import load_model_bytes

    t0 = time.perf_counter()
    stage = "load"
    try:
        model = load_model_bytes(data, source)
        for name, fn in stages.extra if stages else []:
            stage = name
            fn(model)
    except (InternalError, TimedOut) as exc:
        return Outcome("failure", f"{exc.code}: {exc.message}", stage, time.perf_counter() - t0,
                       traceback.format_exc())
    except CannotCheck as exc:
        if stage != "load":  # later stages get a model; refusing it is a bug there
            return Outcome("failure", f"CannotCheck in {stage}: {exc.code}", stage, time.perf_counter() - t0,
                           traceback.format_exc())
        return Outcome("refused", exc.code, stage, time.perf_counter() - t0)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # includes pyo3 PanicException
        return Outcome("failure", f"{type(exc).__name__}: {str(exc)[:200]}", stage, time.perf_counter() - t0,
                       traceback.format_exc())
    return Outcome("ok", "", stage, time.perf_counter() - t0)


# --- the run: worker processes, each replaced when it dies ----------------------------------------


def _worker(conn: Connection, seeds: list[int], mem_mb: int, time_limit: float) -> None:
    from jixiao.safety import limit_current_process
    from jixiao.safety import time_limit as alarm

    limit_current_process(mem_bytes=mem_mb << 20 if mem_mb else None)
    corpus = build_corpus()
    stages = Stages(corpus)
    conn.send(("stages", [n for n, _ in stages.extra], stages.skipped))
    for seed in seeds:
        conn.send(("start", seed))
        name, data = mutation(seed, corpus)
        try:
            with alarm(time_limit):
                outcome = run_input(data, stages)
        except Exception as exc:  # TimedOut raised between stages
            outcome = Outcome("failure", f"timeout/{type(exc).__name__}: {exc}"[:200], "", time_limit)
        conn.send(("done", seed, name, outcome.status, outcome.detail, outcome.stage, outcome.seconds, outcome.trace))
    conn.send(("end",))
    conn.close()


@dataclass(slots=True)
class Report:
    count: int = 0
    seconds: float = 0.0
    by_status: Counter[str] = field(default_factory=Counter)
    by_mutator: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)
    slowest: list[tuple[float, int, str]] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    skipped_stages: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"count": self.count, "seconds": round(self.seconds, 1), "status": dict(self.by_status),
                "mutators": dict(self.by_mutator), "refused": dict(self.refused.most_common()),
                "failures": self.failures, "slowest": self.slowest[:10], "stages": self.stages,
                "skipped_stages": self.skipped_stages}


def run(count: int = 10_000, seed: int = 0, jobs: int | None = None, mem_mb: int = 4096, time_limit: float = 30.0,
        save: Path | None = DEFAULT_FAILURES, progress: bool = True) -> Report:
    jobs = jobs or os.cpu_count() or 1
    seeds = list(range(seed, seed + count))
    chunks = [seeds[i::jobs] for i in range(jobs)]
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    report = Report()
    t0 = time.perf_counter()
    live: dict[Connection, tuple[Any, list[int], int | None]] = {}
    started: dict[Connection, float] = {}

    def start(todo: list[int]) -> None:
        if not todo:
            return
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(send, todo, mem_mb, time_limit), daemon=True)
        proc.start()
        send.close()
        live[recv] = (proc, todo, None)

    for chunk in chunks:
        start(chunk)
    corpus: Corpus | None = None
    last_print = 0.0
    while live:
        for conn in wait(list(live), timeout=time_limit * 3):
            proc, todo, current = live[conn]
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                del live[conn]
                proc.join(5)
                if current is not None:  # died on this seed: a native crash or the memory cap
                    corpus = corpus or build_corpus()
                    name, data = mutation(current, corpus)
                    report.count += 1
                    report.by_status["failure"] += 1
                    report.by_mutator[name] += 1
                    _record_failure(report, current, name, f"worker died (exit {proc.exitcode})", "native", "",
                                    data, save)
                    rest = todo[todo.index(current) + 1:]
                    start(rest)
                continue
            kind = msg[0]
            if kind == "stages":
                report.stages, report.skipped_stages = msg[1], msg[2]
            elif kind == "start":
                live[conn] = (proc, todo, msg[1])
                started[conn] = time.monotonic()
            elif kind == "done":
                _, s, name, status, detail, stage, secs, trace = msg
                live[conn] = (proc, todo, None)
                report.count += 1
                report.by_status[status] += 1
                report.by_mutator[name] += 1
                if status == "refused":
                    report.refused[detail] += 1
                report.slowest.append((round(secs, 3), s, name))
                report.slowest = sorted(report.slowest, reverse=True)[:10]
                if status == "failure":
                    corpus = corpus or build_corpus()
                    _record_failure(report, s, name, detail, stage, trace, mutation(s, corpus)[1], save)
            elif kind == "end":
                del live[conn]
                proc.join(5)
        if progress and time.perf_counter() - last_print > 5:
            last_print = time.perf_counter()
            print(f"  {report.count:,}/{count:,}  failures {report.by_status['failure']}  "
                  f"{last_print - t0:.0f}s", file=sys.stderr, flush=True)
        # a worker silent for too long is stuck (native code ignores the alarm): kill it, blame its seed
        for conn, (proc, todo, current) in list(live.items()):
            if current is not None and time.monotonic() - started.get(conn, time.monotonic()) > time_limit * 2:
                proc.kill()
                proc.join(5)
                del live[conn]
                corpus = corpus or build_corpus()
                name, data = mutation(current, corpus)
                report.count += 1
                report.by_status["failure"] += 1
                report.by_mutator[name] += 1
                _record_failure(report, current, name, "hang: no answer within the time limit", "native", "",
                                data, save)
                start(todo[todo.index(current) + 1:])
    report.seconds = time.perf_counter() - t0
    return report


def _record_failure(report: Report, seed: int, mutator: str, detail: str, stage: str, trace: str, data: bytes,
                    save: Path | None) -> None:
    entry = {"seed": seed, "mutator": mutator, "stage": stage, "detail": detail, "trace": trace[-2000:]}
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        p = save / f"seed{seed}_{mutator}.bin"
        p.write_bytes(data)
        entry["file"] = str(p)
    report.failures.append(entry)


# --- command line --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0, help="first seed; seeds are seed..seed+count-1")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--mem-mb", type=int, default=4096, help="address-space cap per worker")
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds per mutation before it is a failure")
    ap.add_argument("--save-failures", type=Path, default=DEFAULT_FAILURES)
    ap.add_argument("--json", type=Path, default=None, help="write the report as JSON here")
    ap.add_argument("--replay", type=int, default=None, help="run one seed in-process and print its outcome")
    args = ap.parse_args(argv)

    if args.replay is not None:
        corpus = build_corpus()
        name, data = mutation(args.replay, corpus)
        out = run_input(data, Stages(corpus))
        print(f"seed {args.replay} ({name}, {len(data)} bytes): {out.status} {out.detail} [{out.seconds:.3f}s]")
        if out.trace:
            print(out.trace)
        return 1 if out.failed else 0

    report = run(args.count, args.seed, args.jobs, args.mem_mb, args.time_limit, args.save_failures)
    data = report.as_json()
    if args.json:
        args.json.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"mutations: {report.count:,}  wall time: {report.seconds:.1f}s  "
          f"({report.count / max(report.seconds, 1e-9):.0f}/s)")
    print(f"outcomes: {dict(report.by_status)}")
    print(f"stages fuzzed: read+locate+model{''.join('+' + s for s in report.stages)}")
    for stage, why in report.skipped_stages.items():
        print(f"  stage skipped (fails on the pristine example): {stage}: {why}")
    print(f"by mutator: {dict(report.by_mutator)}")
    print(f"refusals: {dict(report.refused.most_common())}")
    print(f"slowest: {report.slowest[:5]}")
    for f in report.failures[:30]:
        print(f"FAILURE seed={f['seed']} {f['mutator']} [{f['stage']}] {f['detail']}")
    ok = report.count == args.count and not report.failures
    print("RESULT:", "PASS (no failures)" if ok else f"FAIL ({len(report.failures)} failures)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
