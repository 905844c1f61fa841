"""openpyxl's binding of merged ranges on load, with its border bookkeeping memoised.

Loading a workbook to annotate spent most of its time here: for every merged range openpyxl
gives the cells along its edges the top-left cell's border (`cell.border += Border(...)`), and
each such assignment hashes a Border, its Sides and Colors field by field to find it in the
workbook's list of borders. The official templates merge ~120 ranges per workbook.

The result of one assignment depends only on the ids of the borders involved (the cell's own
and the top-left cell's, plus which edge), so it is computed once per workbook load and then
set by id. The first computation of each result runs openpyxl's own code, in the same order,
so the workbook's border list and every cell's border id come out exactly as openpyxl makes
them (tests/test_annotate_merged_borders.py compares whole loads and saved copies).

Used only while `annotate` loads a workbook, and only on the openpyxl releases it was compared
with; anything else runs openpyxl unchanged. If the fast load fails, `annotate` loads again
with openpyxl's own code before it falls back to a rebuild.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import openpyxl
from openpyxl.cell.cell import MergedCell
from openpyxl.styles.borders import Border
from openpyxl.styles.cell_style import StyleArray
from openpyxl.worksheet._reader import WorksheetReader
from openpyxl.worksheet.cell_range import MultiCellRange
from openpyxl.worksheet.merge import MergedCellRange

CHECKED_VERSIONS = ("3.1.5",)  # openpyxl releases whose merge binding this mirrors (compared line by line)
_EDGES = ("top", "left", "right", "bottom")


class _MemoMergedRange(MergedCellRange):
    """`MergedCellRange` whose border assignments go through `memo`:
    (cell's border id, what is added) -> resulting border id."""

    def __init__(self, worksheet: Any, coord: str, memo: dict[tuple[Any, ...], int]) -> None:
        self._memo = memo
        super().__init__(worksheet, coord)  # calls _get_borders

    def _add(self, cell: Any, what: tuple[Any, ...], border: Any) -> None:
        """`cell.border += border()`, where `what` identifies the added border."""
        style = _style_of(cell)
        key = (style.borderId, what)
        done = self._memo.get(key)
        if done is None:
            cell.border += border()
            self._memo[key] = style.borderId
        else:
            style.borderId = done

    def _get_borders(self) -> None:
        self.start_cell = self.ws._cells.get((self.min_row, self.min_col))
        if self.start_cell is None:
            self.start_cell = self.ws.cell(row=self.min_row, column=self.min_col)
        end_cell = self.ws._cells.get((self.max_row, self.max_col))
        if end_cell is not None:
            self._add(self.start_cell, ("corner", _style_of(end_cell).borderId),
                      lambda: Border(right=end_cell.border.right, bottom=end_cell.border.bottom))

    def format(self) -> None:
        cells = self.ws._cells
        start_id = _style_of(self.start_cell).borderId
        for name in _EDGES:
            side = getattr(self.start_cell.border, name)
            if side and side.style is None:
                continue  # no border style on this edge
            for coord in getattr(self, name):
                cell = cells.get(coord)
                if cell is None:
                    row, col = coord
                    cell = MergedCell(self.ws, row=row, column=col)
                    cells[(cell.row, cell.column)] = cell
                self._add(cell, (name, start_id), lambda name=name, side=side: Border(**{name: side}))

        protected = self.start_cell.protection is not None
        if protected:  # every cell of the range gets the top-left cell's protection
            key = ("protection", _style_of(self.start_cell).protectionId)
            done = self._memo.get(key)
            protection = copy.copy(self.start_cell.protection) if done is None else None
        for coord in self.cells:
            cell = cells.get(coord)
            if cell is None:
                row, col = coord
                cell = MergedCell(self.ws, row=row, column=col)
                cells[(cell.row, cell.column)] = cell
            if protected:
                if done is None:
                    cell.protection = protection
                    done = self._memo[key] = _style_of(cell).protectionId
                else:
                    _style_of(cell).protectionId = done


def _style_of(cell: Any) -> Any:
    """The cell's style ids, made as openpyxl's style getters make them for a cell read
    without a style (reading `cell.border` has that side effect, so it must happen here too)."""
    style = cell._style
    if not style:
        style = cell._style = StyleArray()
    return style


def _bind_merged_cells(self: Any) -> None:
    """`WorksheetReader.bind_merged_cells`, memoised per worksheet."""
    if not self.parser.merged_cells:
        return
    memo: dict[tuple[Any, ...], int] = {}
    ranges = []
    for cr in self.parser.merged_cells.mergeCell:
        mcr = _MemoMergedRange(self.ws, cr.ref, memo)
        self.ws._clean_merge_range(mcr)
        # what openpyxl keeps is its own class (its __copy__ rebuilds ranges by class)
        del mcr._memo
        mcr.__class__ = MergedCellRange
        ranges.append(mcr)
    self.ws.merged_cells = MultiCellRange(ranges)


@contextlib.contextmanager
def fast_merged_borders() -> Iterator[None]:
    """Within the block, openpyxl loads bind merged ranges through the memo (checked versions
    only). Not thread-safe: it swaps a method of openpyxl's worksheet reader."""
    if openpyxl.__version__ not in CHECKED_VERSIONS:
        yield
        return
    original = WorksheetReader.bind_merged_cells
    WorksheetReader.bind_merged_cells = _bind_merged_cells
    try:
        yield
    finally:
        WorksheetReader.bind_merged_cells = original
