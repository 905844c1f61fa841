"""The straight pipeline for one file: read -> locate -> model (normalize inside) -> ...

Later stages (check, score, report) take the `WorkbookModel` this returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CannotCheck, NoAnnexFound, guard
from .explanations import apply_explanations, read_explanations, report_sheet_kind, without_report_sheets
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
               rules: str | Path | Sequence[str | Path] | None = None, profile: str | None = None) -> FileResult:
    """Read, model, check and score one file with a rule pack (`pack`, else loaded from `rules`,
    else the built-in default). A file that cannot be checked gives a result with `failure_code`
    set; an unusable rule pack raises `check.PackError` (load the pack once, before the files)."""
    from .check import load_pack

    if pack is None:
        pack = load_pack(rules)
    try:
        with guard():
            model, notes = load(path)
            [(findings, review)] = judge([model], [notes], pack, profile)
    except CannotCheck as exc:
        return FileResult(path=str(path), failure_code=exc.code, failure_message=exc.message)
    return FileResult(path=str(path), model=model, findings=findings, review=review)
