"""The straight pipeline for one file: read -> locate -> model (normalize inside) -> ...

Later stages (check, score, report) take the `WorkbookModel` this returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CannotCheck, NoAnnexFound, guard
from .explanations import apply_explanations, read_explanations, without_report_sheets
from .locate import locate
from .model import WorkbookModel, build
from .read import read_bytes, read_path
from .result import FileResult

if TYPE_CHECKING:
    from .check import Pack


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


def check_file(path: str | Path, *, pack: Pack | None = None,
               rules: str | Path | Sequence[str | Path] | None = None, profile: str | None = None) -> FileResult:
    """Read, model and check one file with a rule pack (`pack`, else loaded from `rules`, else the
    built-in default). A file that cannot be checked gives a result with `failure_code` set;
    an unusable rule pack raises `check.PackError` (load the pack once, before the files)."""
    from .check import check_model, load_pack
    from .score import score_file_model

    if pack is None:
        pack = load_pack(rules)
    try:
        with guard():
            grid = read_path(path)
            explanations = read_explanations(grid)  # 审核说明 filled in a resubmitted annotated copy
            model = _model(locate(without_report_sheets(grid)))
            findings = check_model(model, pack)
            # The score review (issue 4): rubric from the same pack; `profile` picks a §8 variant.
            review, score_findings = score_file_model(model, pack=pack, profile=profile)
    except CannotCheck as exc:
        return FileResult(path=str(path), failure_code=exc.code, failure_message=exc.message)
    result = FileResult(path=str(path), model=model, findings=findings + score_findings, review=review)
    # later stages attach here: the annotated copy
    # Keep last, after every stage that adds findings: explained warnings count apart (issue 5).
    apply_explanations(result.findings, explanations)
    return result
