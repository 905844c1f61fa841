"""The straight pipeline for one file: read -> locate -> model (normalize inside) -> ...

Later stages (check, score, report) take the `WorkbookModel` this returns.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CannotCheck, EmptyWorkbook, NoAnnexFound, TimedOut, guard
from .explanations import (
    RESULT_SHEET,
    apply_explanations,
    read_explanations,
    report_sheet_kind,
    without_report_sheets,
)
from .locate import locate
from .model import WorkbookModel, build
from .read import read_bytes, read_path
from .result import FileResult

if TYPE_CHECKING:
    from .check import Pack
    from .findings import Finding
    from .score import ScoreReview


def load_model(path: str | Path) -> WorkbookModel:
    """Read and model one workbook. Raises `CannotCheck` subclasses with Chinese messages."""
    # A resubmitted annotated copy carries our 审核结果/评分复核 sheets: never annexes.
    return _model(locate(without_report_sheets(read_path(path))))


def load_model_bytes(data: bytes, source: str = "") -> WorkbookModel:
    return _model(locate(without_report_sheets(read_bytes(data, source))))


def _model(located) -> WorkbookModel:  # type: ignore[no-untyped-def]
    model = build(located)
    if model.empty:
        raise NoAnnexFound("未在工作簿中找到附件一、附件二或附件三（按表格标题和表头识别）；"
                           "请确认使用的是部门整体支出绩效自评的官方模板")
    return model


Explanations = dict[tuple[str, str, str], str]


def load(path: str | Path) -> tuple[WorkbookModel, Explanations]:
    """Stages read -> locate -> model for one file, plus the 审核说明 of a resubmitted annotated
    copy (read from our own 审核结果 sheet, which is then set aside). Raises `CannotCheck`."""
    grid = read_path(path)
    explanations: Explanations = {}
    if any(report_sheet_kind(s) is not None for s in grid.sheets):
        explanations = read_explanations(grid)
        grid = without_report_sheets(grid)
    return _model(locate(grid)), explanations


def load_with_copies(path: str | Path, copies: Iterable[str | Path]) -> tuple[WorkbookModel, Explanations, Explanations]:
    """`load`, plus the 审核说明 the unit typed into an earlier annotated copy of the file, which
    the new copy replaces (`copies`: where one may be). Returns (model, the explanations to apply,
    those of them carried over from the copies); the file's own win on the same key."""
    model, own = load(path)
    carried = earlier_explanations(path, copies, own)
    return model, ({**carried, **own} if carried else own), carried


def earlier_explanations(source: str | Path, copies: Iterable[str | Path], own: Explanations) -> Explanations:
    """The 审核说明 of every copy in `copies` that exists (each file once, never `source` itself),
    minus the keys of `own`; on the same key the copy saved last wins (a unit's correction). A
    copy that cannot be read is ignored: it never costs the check (only the time limit goes
    through). Costs one stat per copy that does not exist."""
    found: list[tuple[int, Explanations]] = []
    seen: list[os.stat_result] = []
    for copy in copies:
        try:
            st = os.stat(copy)
            if not seen:
                seen.append(os.stat(source))
            if any(os.path.samestat(st, s) for s in seen):
                continue
            seen.append(st)
            with guard():
                found.append((st.st_mtime_ns, _copy_explanations(copy)))
        except TimedOut:
            raise
        except (OSError, CannotCheck):  # missing, locked, corrupt, not a workbook, ...
            continue
    out: Explanations = {}
    for _mtime, notes in sorted(found, key=lambda x: x[0]):  # oldest first: the newer overwrite
        out.update(notes)
    return {key: text for key, text in out.items() if key not in own}


def _copy_explanations(copy: str | Path) -> Explanations:
    """The 审核说明 of an annotated copy. Ours names its table sheet 审核结果: that sheet alone is
    read (a copy is mostly the unit's annexes); the whole copy when a unit renamed it."""
    try:
        grid = read_path(copy, only=_may_be_result_sheet)
        if any(report_sheet_kind(s) == RESULT_SHEET for s in grid.sheets):
            return read_explanations(grid)
    except EmptyWorkbook:  # no sheet of that name
        pass
    return read_explanations(read_path(copy))


def _may_be_result_sheet(name: str) -> bool:
    return RESULT_SHEET in name


def carried_count(findings: Iterable[Finding], carried: Explanations) -> int:
    """How many of the `carried` explanations found their finding (shown in the new copy)."""
    return len({f.key for f in findings}.intersection(carried)) if carried else 0


def judge(models: Sequence[WorkbookModel], explanations: Sequence[Explanations], pack: Pack,
          profile: str | None = None) -> list[tuple[list[Finding], ScoreReview]]:
    """Stages check -> score for several models at once (the pack's pandera schemas validate
    them all in one call), then the units' explanations. (findings, review) per model."""
    from .check import check_models
    from .score import score_file_model

    out: list[tuple[list[Finding], ScoreReview]] = []
    for model, findings, notes in zip(models, check_models(models, pack), explanations, strict=True):
        review, scored = score_file_model(model, pack=pack, profile=profile)
        findings = findings + scored
        # Last, after every stage that adds findings: explained warnings count apart.
        apply_explanations(findings, notes)
        out.append((findings, review))
    return out


def check_file(path: str | Path, *, pack: Pack | None = None,
               rules: str | Path | Sequence[str | Path] | None = None, profile: str | None = None,
               copies: Iterable[str | Path] = ()) -> FileResult:
    """Read, model, check and score one file with a rule pack (`pack`, else loaded from `rules`,
    else the built-in default), counting the 审核说明 of earlier annotated copies at `copies`
    (see `load_with_copies`). A file that cannot be checked gives a result with `failure_code`
    set; an unusable rule pack raises `check.PackError` (load the pack once, before the files)."""
    from .check import load_pack

    if pack is None:
        pack = load_pack(rules)
    try:
        with guard():
            model, notes, carried = load_with_copies(path, copies)
            [(findings, review)] = judge([model], [notes], pack, profile)
    except CannotCheck as exc:
        return FileResult(path=str(path), failure_code=exc.code, failure_message=exc.message)
    return FileResult(path=str(path), model=model, findings=findings, review=review,
                      carried=carried_count(findings, carried))
