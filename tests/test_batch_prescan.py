"""The read stage's fast path for the pre-scan (added for batch speed): it may only skip the
exact tag-by-tag scan when that scan would find nothing to refuse and no formula."""

from __future__ import annotations

import pytest

from jixiao import read as R
from jixiao.errors import CannotCheck


def _sheet(cells: str) -> bytes:
    return (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            + cells.encode() + b"</sheetData></worksheet>")


PLAIN = _sheet('<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c><c r="B1"><v>1</v></c></row>'
               '<row r="24"><c r="I24" s="3"/></row>')


def test_plain_sheet_takes_the_fast_path() -> None:
    assert R._plainly_within_limits(PLAIN)
    assert R._scan_xlsx_part(PLAIN, "sheet:x") == set()


@pytest.mark.parametrize("xml", [
    _sheet('<row r="1"><c r="A1"><f>SUM(B1:B2)</f><v></v></c></row>'),  # formula: exact scan
    _sheet('<row r="1"><c t="n"><v>1</v></c></row>'),  # a cell without an address
    _sheet('<row r="1"><c s="1" r="A1"><v>1</v></c></row>'),  # address not first
    _sheet('<x:row r="1"><x:c r="A1"><x:v>1</x:v></x:c></x:row>'),  # prefixed tags
    _sheet(f'<row r="{R.MAX_ROWS + 1}"><c r="A{R.MAX_ROWS + 1}"><v>1</v></c></row>'),  # too far down
    _sheet('<row r="1"><c r="ZZZ1"><v>1</v></c></row>'),  # too far right
])
def test_anything_unusual_takes_the_exact_scan(xml: bytes) -> None:
    assert not R._plainly_within_limits(xml)


def test_exact_scan_still_refuses_what_the_fast_path_declines() -> None:
    far = _sheet(f'<row r="{R.MAX_ROWS + 1}"><c r="A{R.MAX_ROWS + 1}"><v>1</v></c></row>')
    with pytest.raises(CannotCheck):
        R._scan_xlsx_part(far, "sheet:x")
    formula = _sheet('<row r="1"><c r="B2"><f>1+1</f></c></row>')
    assert R._scan_xlsx_part(formula, "sheet:x") == {(1, 1)}  # formula without a cached value
