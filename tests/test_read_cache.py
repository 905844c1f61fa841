"""Facts the read stage remembers between workbooks (merged ranges) and per sheet (head text)
must give exactly what computing them afresh gives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jixiao import explanations as E
from jixiao import read as R
from jixiao.errors import TooLarge


class _FakeSheet:
    def __init__(self, height: int, width: int, ranges: list[Any]) -> None:
        self.end = (height - 1, width - 1)
        self._rows = [[""] * width for _ in range(height)]
        self.merged_cell_ranges = ranges

    def to_python(self, skip_empty_area: bool = False) -> list[list[Any]]:
        return [list(r) for r in self._rows]


class _FakeBook:
    def __init__(self, sheet: _FakeSheet) -> None:
        self.sheet = sheet

    def get_sheet_by_name(self, name: str) -> _FakeSheet:
        return self.sheet


def _fresh(name: str, height: int, width: int, ranges: list[Any]) -> tuple[list[Any], dict[Any, Any]]:
    merges, _ = R._clip_merges(name, ranges, height - 1, width - 1)
    return merges, R._origin_map(merges)


_RANGES = st.lists(st.tuples(st.tuples(st.integers(0, 8), st.integers(0, 8)),
                             st.tuples(st.integers(0, 8), st.integers(0, 8))), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(_RANGES, st.lists(st.tuples(st.integers(1, 10), st.integers(1, 10)), min_size=1, max_size=4))
def test_remembered_merges_match_a_fresh_computation(ranges: list[Any], grids: list[tuple[int, int]]) -> None:
    R._MERGES.facts.clear()
    R._MERGES.bytes = 0
    for height, width in grids:  # one set of ranges met again on grids of other sizes
        sheet = R._read_sheet(_FakeBook(_FakeSheet(height, width, list(ranges))), "s", set())  # type: ignore[arg-type]
        merges, origin = _fresh("s", height, width, ranges)
        assert sheet.merges == merges
        assert sheet._origin == origin
        for r in range(height + 1):
            for c in range(width + 1):
                assert sheet.origin(r, c) == origin.get((r, c), (r, c))


def test_remembered_merges_are_not_shared_as_lists_and_refusals_repeat() -> None:
    ranges = [((0, 0), (1, 1)), ((3, 0), (3, 2))]
    a = R._read_sheet(_FakeBook(_FakeSheet(5, 5, list(ranges))), "a", set())  # type: ignore[arg-type]
    b = R._read_sheet(_FakeBook(_FakeSheet(6, 6, list(ranges))), "b", set())  # type: ignore[arg-type]
    assert a.merges == b.merges and a.merges is not b.merges
    huge = [((0, 0), (1999, 299))]  # 600,000 cells, over MAX_MERGED_CELLS
    for _ in range(2):  # a refusal is never remembered as a pass
        with pytest.raises(TooLarge, match="合并单元格"):
            R._read_sheet(_FakeBook(_FakeSheet(2000, 300, list(huge))), "h", set())  # type: ignore[arg-type]


_CELLS = st.one_of(st.sampled_from(["", "核", "审核说明", "x", "复核得分"]), st.floats(allow_nan=False),
                   st.integers(-2, 2), st.booleans(), st.none())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_CELLS, max_size=5), max_size=40))
def test_head_text_test_matches_the_cell_loop(rows: list[list[Any]]) -> None:
    sheet = R.Sheet("s", rows)
    expected = any(isinstance(v, str) and E._HEADER_MARK in v for row in rows[:E._SCAN_ROWS] for v in row)
    assert E._sheet_may_hold_header(sheet) == expected
    assert E._may_hold_header(rows) == expected
    assert sheet.head_text(E._SCAN_ROWS) is sheet.head_text(E._SCAN_ROWS)  # computed once


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 3), st.integers(0, 3)), max_size=6),
       st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=30))
def test_covered_mask_is_is_covered(spans: list[tuple[int, int, int, int]], cells: list[tuple[int, int]]) -> None:
    merges = [(r0, c0, r0 + h, c0 + w) for r0, c0, h, w in spans if h or w]
    sheet = R.Sheet("s", [[None] * 10 for _ in range(10)], merges)
    rows, cols = [r for r, _ in cells], [c for _, c in cells]
    assert sheet.covered_mask(rows, cols) == list(map(sheet.is_covered, rows, cols))
