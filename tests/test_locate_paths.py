"""The locate stage's shortcuts (issue 6) give exactly what the plain definitions give: row
lookups by a row index instead of bisects, cell refs without bounds tests, and the end of the
indicator table found by one regex pass instead of a look at every row."""

from __future__ import annotations

import random
from typing import Any

from jixiao import locate as L
from jixiao.read import Sheet

WORDS = ["总分", "合计", "总计x", "填表人：张三", "填表人", "一级指标", "三级指标", "分值", "a", " ", "", "\n", 1.5, 0.0, True]


def _random_sheet(rng: random.Random) -> Sheet:
    height, width = rng.randint(1, 10), rng.randint(1, 6)
    rows: list[list[Any]] = [[rng.choice(WORDS) for _ in range(width)] for _ in range(height)]
    for _ in range(rng.randint(0, 2)):  # ragged rows take the checked paths
        r = rng.randrange(height)
        rows[r] = rows[r][:rng.randint(0, width)]
    merges = []
    for _ in range(rng.randint(0, 4)):  # as read gives them: inside the grid, not one cell
        r0, c0 = rng.randrange(height), rng.randrange(width)
        r1, c1 = min(height - 1, r0 + rng.randint(0, 2)), min(width - 1, c0 + rng.randint(0, 2))
        if (r0, c0) != (r1, c1):
            merges.append((r0, c0, r1, c1))
    blanks = {(rng.randrange(height), rng.randrange(width)) for _ in range(rng.randint(0, 2))} if rng.random() < 0.3 else set()
    return Sheet("s", rows, merges, blanks)


def _plain_ref(sheet: Sheet, r: int, c: int) -> L.CellRef:
    r0, c0 = sheet.origin(r, c)
    return L.CellRef(sheet.name, r0, c0, sheet.raw(r0, c0), (r0, c0) in sheet.formula_blanks)


def test_row_lookups_and_refs_match_their_definitions() -> None:
    rng = random.Random(11)
    for _ in range(400):
        sheet = _random_sheet(rng)
        labels = L.SheetLabels(sheet)
        entries = list(zip(labels.rows, labels.cols, labels.keys, strict=True))
        assert all(not sheet.is_covered(r, c) and k for r, c, k in entries)
        region = L.Region(labels, 0, sheet.height)
        cols = {f"n{i}": rng.randrange(sheet.width + 1) for i in range(rng.randint(1, 4))}
        for r in range(-1, sheet.height + 2):
            row = [(c, k) for rr, c, k in entries if rr == r]
            assert labels.row(r) == row
            limit = rng.randint(0, sheet.width + 1)
            assert labels.row_keys(r, limit) == [k for c, k in row if c < limit]
            for c in range(-1, sheet.width + 1):
                assert labels.key(r, c) == dict(row).get(c, "")
            if 0 <= r < sheet.height:
                assert region.row_refs(r, cols) == {n: _plain_ref(sheet, r, c) for n, c in cols.items()}
                c = rng.randrange(sheet.width + 1)
                assert region.ref(r, c) == _plain_ref(sheet, r, c)


def _plain_indicators_end(region: L.Region, hr: int, limit: int) -> tuple[int, bool]:
    for r in range(hr + 1, min(region.bottom, region.sheet.height)):
        keys = region.row_keys(r, limit)
        if not L._TOTAL_LABELS.isdisjoint(keys):
            return r, True
        if any(k.startswith("填表人") for k in keys):
            return r, False
    return min(region.bottom, region.sheet.height), False


def test_indicator_table_end_matches_a_look_at_every_row() -> None:
    rng = random.Random(12)
    for _ in range(600):
        sheet = _random_sheet(rng)
        labels = L.SheetLabels(sheet)
        top = rng.randint(0, sheet.height - 1)
        region = L.Region(labels, top, rng.randint(top + 1, sheet.height))
        hr, limit = rng.randint(top, region.bottom - 1), rng.randint(0, sheet.width + 1)
        assert L._indicators_end(region, hr, limit) == _plain_indicators_end(region, hr, limit)


def _plain_next(sheet: Sheet, r: int, c: int, dr: int, dc: int, stop: int) -> L.CellRef:
    """right_of / below by their definition: step until the origin changes (or `stop`)."""
    here = sheet.origin(r, c)
    r2, c2 = r + dr, c + dc
    while (c2 if dc else r2) < stop and sheet.origin(r2, c2) == here:
        r2, c2 = r2 + dr, c2 + dc
    return _plain_ref(sheet, r2, c2)


def test_origin_lookups_match_sheet_origin() -> None:
    rng = random.Random(13)
    for _ in range(400):
        sheet = _random_sheet(rng)
        region = L.Region(L.SheetLabels(sheet), 0, sheet.height)
        get = sheet.origin_get
        cells = [(rng.randrange(-1, sheet.height + 1), rng.randrange(-1, sheet.width + 1)) for _ in range(rng.randint(0, 6))]
        rows, cols = [r for r, _ in cells], [c for _, c in cells]
        assert sheet.covers_any(rows, cols) == any(sheet.covered_mask(rows, cols))
        for r in range(sheet.height):
            for c in range(sheet.width + 1):
                assert get((r, c), (r, c)) == sheet.origin(r, c)
                assert region.key(r, c) == region._labels.key(*sheet.origin(r, c))
                assert region.right_of(r, c) == _plain_next(sheet, r, c, 0, 1, sheet.width)
                assert region.below(r, c) == _plain_next(sheet, r, c, 1, 0, region.bottom)
