"""The straight pipeline for one file: read -> locate -> model (normalize inside) -> ...

Later stages (check, score, report) take the `WorkbookModel` this returns.
"""

from __future__ import annotations

from pathlib import Path

from .errors import NoAnnexFound
from .locate import locate
from .model import WorkbookModel, build
from .read import read_bytes, read_path


def load_model(path: str | Path) -> WorkbookModel:
    """Read and model one workbook. Raises `CannotCheck` subclasses with Chinese messages."""
    return _model(locate(read_path(path)))


def load_model_bytes(data: bytes, source: str = "") -> WorkbookModel:
    return _model(locate(read_bytes(data, source)))


def _model(located) -> WorkbookModel:  # type: ignore[no-untyped-def]
    model = build(located)
    if model.empty:
        raise NoAnnexFound("未在工作簿中找到附件一、附件二或附件三（按表格标题和表头识别）；"
                           "请确认使用的是部门整体支出绩效自评的官方模板")
    return model
