"""The read stage's shortcuts (issue 6) must change nothing but the time taken: each one is
checked here against the slow path it stands in for."""

from __future__ import annotations

import io
import re
import zipfile
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jixiao import read as R
from jixiao.errors import TooLarge, UnsafeWorkbook

from workbooks import EXAMPLE, rewrite_zip

# --- the cheapest tier of the sheet pre-scan -------------------------------------------------

_CELL_PIECES = [
    '<c r="A1"><v>1</v></c>', '<c r="B12" t="n"/>', '<c r="Z9999"><v>2</v></c>', '<c r="A10000"><v>3</v></c>',
    '<c r="AA1"><v>4</v></c>', '<c r="A0"><v>5</v></c>', '<c r="a1"><v>6</v></c>', '<c t="n"><v>7</v></c>',
    '<c  r="A1"><v>8</v></c>', '<c\tr="A1"/>', '<c/>', '<c>', '<c r="A1" ><f>1+1</f></c>', '<f>SUM(A1)</f>',
    '<x:c r="A1"><x:v>1</x:v></x:c>', '<x:f>1</x:f>', '<c r=\'A1\'><v>9</v></c>', '<c r="XFD1048576"><v>1</v></c>',
    '<c r="A20001"><v>1</v></c>', '<row r="3">', '</row>', '<cols><col min="1" max="2"/></cols>', 'text:c ',
    '<c r="B2"><is><t>x</t></is></c>', '<c r="C3"><f t="shared" si="0"/><v></v></c>', '<c r="A1', 'r="A1"',
]


def _sheet(body: str) -> bytes:
    return (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            + body.encode() + b"</sheetData></worksheet>")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_CELL_PIECES), max_size=12))
def test_cheapest_tier_only_passes_what_the_exact_scan_passes(pieces: list[str]) -> None:
    xml = _sheet("".join(pieces))
    if not R._small_and_plain(xml):
        return
    assert R._plainly_within_limits(xml)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(R, "_plainly_within_limits", lambda _xml: False)
        assert R._scan_xlsx_part(xml, "sheet:x") == set()  # no refusal, no formula


def test_cheapest_tier_takes_the_usual_sheet() -> None:
    assert R._small_and_plain(_sheet('<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c>'
                                     '<c r="Z9999" s="3"/></row>'))
    for odd in ('<c r="AA1"/>', '<c r="A10000"/>', '<f>1</f>', '<x:c r="A1"/>', '<c t="n"/>'):
        assert not R._small_and_plain(_sheet(odd))


# --- members inflated without zipfile --------------------------------------------------------


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("a.xml", b"<a>" + b"x" * 3000 + b"</a>", zipfile.ZIP_DEFLATED)
        zf.writestr("b.xml", b"<b>stored</b>", zipfile.ZIP_STORED)
        zf.writestr("\u8868.xml", "<c>\u8868</c>".encode(), zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _fast(data: bytes, info: zipfile.ZipInfo) -> bytes | None:
    raw = R._raw_member(data, info)
    return None if raw is None else R._inflate_raw(raw, info)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=3))
def test_fast_inflate_returns_what_zipfile_returns_or_steps_aside(flips: list[tuple[int, int]]) -> None:
    data = bytearray(_zip())
    for pos, byte in flips:
        data[pos % len(data)] = byte
    try:
        zf = zipfile.ZipFile(io.BytesIO(bytes(data)))
        infos = zf.infolist()
    except Exception:
        return  # not even a zip directory: open_zip refuses it before any member is read
    for info in infos:
        fast = _fast(bytes(data), info)
        if fast is None:
            continue
        assert zf.read(info) == fast  # and zipfile did not raise


def test_fast_inflate_takes_ordinary_members() -> None:
    data = _zip()
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert all(_fast(data, i) == zf.read(i) for i in zf.infolist())


def test_fast_inflate_stops_at_the_declared_size() -> None:
    data = bytearray(_zip())
    zf = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = zf.getinfo("a.xml")
    info.file_size = 10  # a lying directory: zipfile inflates on, cuts the output there, checks the CRC
    assert _fast(bytes(data), info) is None  # more than declared: zipfile decides
    info.CRC = zlib.crc32(b"<a>" + b"x" * 7)
    assert _fast(bytes(data), info) is None
    assert zf.read(info) == b"<a>" + b"x" * 7


# --- the merge map -----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 3), st.integers(0, 3)), max_size=6))
def test_merge_map_matches_its_definition(spans: list[tuple[int, int, int, int]]) -> None:
    merges = [(r0, c0, r0 + h, c0 + w) for r0, c0, h, w in spans if h or w]
    expected: dict[tuple[int, int], tuple[int, int]] = {}
    for r0, c0, r1, c1 in merges:  # the original cell-by-cell definition
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                if (r, c) != (r0, c0):
                    expected[(r, c)] = (r0, c0)
    sheet = R.Sheet("s", [[None] * 10 for _ in range(10)], merges)
    for r in range(11):
        for c in range(11):
            assert sheet.origin(r, c) == expected.get((r, c), (r, c))
            assert sheet.is_covered(r, c) == ((r, c) in expected)


# --- attribute patterns searched with a space in front ----------------------------------------

_ANCHORED = {
    R._NAME_RE: re.compile(rb"(?:^|\s)name\s*=\s*(?:\"([^\"]*)\"|'([^']*)')"),
    R._RID_RE: re.compile(rb"(?:^|\s)(?:\w+:)?id\s*=\s*\"([^\"]*)\""),
    R._REL_ID_RE: re.compile(rb"(?:^|\s)Id\s*=\s*\"([^\"]*)\""),
    R._REL_TARGET_RE: re.compile(rb"(?:^|\s)Target\s*=\s*\"([^\"]*)\""),
}


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["name", "Id", "id", "r:id", "Target", "=", '"', "'", " ", "\t", "x", "a b",
                                 "sheetId", "\n"]), max_size=10))
def test_padded_attribute_search_finds_what_the_anchored_one_finds(parts: list[str]) -> None:
    attrs = "".join(parts).encode()
    for padded, anchored in _ANCHORED.items():
        m, a = padded.search(b" " + attrs), anchored.search(attrs)
        assert (m is None) == (a is None)
        if m is not None and a is not None:
            assert m.groups() == a.groups()


# --- members remembered across workbooks ------------------------------------------------------


def test_remembered_members_still_meet_changed_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    data = EXAMPLE.read_bytes()
    first = R.read_bytes(data)
    again = R.read_bytes(data)  # every member now remembered as passed
    assert [(s.name, s.rows, s.merges) for s in first.sheets] == [(s.name, s.rows, s.merges) for s in again.sheets]
    monkeypatch.setattr(R, "MAX_ROWS", 5)
    with pytest.raises(TooLarge):
        R.read_bytes(data)


def test_refused_member_is_refused_every_time() -> None:
    bad = rewrite_zip(EXAMPLE.read_bytes(), {"xl/styles.xml": lambda b: b'<!DOCTYPE x [<!ENTITY e "e">]>' + b})
    for _ in range(2):
        with pytest.raises(UnsafeWorkbook):
            R.read_bytes(bad)
