"""Non-xlsx inputs (issue #5, part 4): .xls, .ods and an .xlsx openpyxl refuses all give an
.xlsx annotated copy with the same values, merges and column widths."""

from __future__ import annotations

import io
import re
import sys
import zipfile
from pathlib import Path

import pytest
import xlwt
from openpyxl import load_workbook
from python_calamine import CalamineWorkbook

from jixiao import pipeline
from jixiao.explanations import RESULT_SHEET
from jixiao.findings import Finding, Severity
from jixiao.report.annotate import COLORS, annotate
from jixiao.report.rebuild import column_widths
from jixiao.result import FileResult

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workbook_templates"))

import build_templates as bt  # noqa: E402

SHEETS = ("附件一", "附件二", "附件三")
WIDTHS = {0: 12.0, 1: 14.0, 2: 14.0, 3: 22.0}


def grids(path: Path) -> dict[str, tuple[list[list], set]]:
    wb = CalamineWorkbook.from_path(str(path))
    out = {}
    for name in wb.sheet_names:
        s = wb.get_sheet_by_name(name)
        rows = [[_norm(v) for v in r] for r in s.to_python(skip_empty_area=False)]
        out[name] = (rows, {tuple(map(tuple, m)) for m in s.merged_cell_ranges or []})
    return out


def _norm(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    return bt.build_example(tmp_path_factory.mktemp("ex") / "示例.xlsx")


@pytest.fixture(scope="module")
def xls(example, tmp_path_factory) -> Path:
    """The example re-written as BIFF8 with xlwt: same values and merges, known widths."""
    book = xlwt.Workbook(encoding="utf-8")
    src = CalamineWorkbook.from_path(str(example))
    for name in SHEETS:
        s = src.get_sheet_by_name(name)
        ws = book.add_sheet(name)
        covered = set()
        for (r0, c0), (r1, c1) in s.merged_cell_ranges or []:
            covered |= {(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)} - {(r0, c0)}
        rows = s.to_python(skip_empty_area=False)
        for (r0, c0), (r1, c1) in s.merged_cell_ranges or []:
            ws.write_merge(r0, r1, c0, c1, rows[r0][c0])
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if v != "" and (r, c) not in covered and not any(
                        (r, c) == tuple(m[0]) for m in s.merged_cell_ranges or []):
                    ws.write(r, c, v)
        for c, w in WIDTHS.items():
            ws.col(c).width = int(w * 256)
    path = tmp_path_factory.mktemp("xls") / "示例.xls"
    book.save(str(path))
    return path


def _findings() -> list[Finding]:
    return [Finding("BDT-3", Severity.ERROR, "附件二", "附件二", "I5", "自评得分与执行率不符"),
            Finding("IND-7", Severity.WARNING, "附件二", "附件二", "F15", "照抄")]


def _annotate(path: Path, out: Path):
    res = FileResult(path=str(path), model=pipeline.load_model(path), findings=_findings())
    return annotate(res, out_dir=out), res


def test_xls_widths_read_from_biff(xls):
    widths = column_widths("xls", xls.read_bytes())
    assert {c: widths["附件二"][c] for c in WIDTHS} == WIDTHS


def test_xls_copy(xls, tmp_path):
    done, _ = _annotate(xls, tmp_path)
    assert done.path.name == "示例.审核.xlsx" and done.path.suffix == ".xlsx"
    assert zipfile.is_zipfile(done.path)
    before, after = grids(xls), grids(done.path)
    for name in SHEETS:
        assert after[name] == before[name], name
    wb = load_workbook(done.path)
    assert wb.sheetnames == [RESULT_SHEET, *SHEETS]
    ws = wb["附件二"]
    assert ws["H5"].fill.fgColor.rgb == COLORS[Severity.ERROR]  # I5 sits in merged H5:I5
    assert "BDT-3" in ws["H5"].comment.text
    assert ws.column_dimensions["D"].width == pytest.approx(22.0)
    assert "按单元格的值重建，值、合并单元格和列宽不变" in done.loss and "估算" not in done.loss


def _ods(rows: list[list], merges: list[tuple[int, int, int, int]], widths_cm: list[float]) -> bytes:
    """A minimal OpenDocument spreadsheet (what LibreOffice writes, cut to the bone)."""
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
          'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
          'xmlns:office-value="urn:oasis:names:tc:opendocument:xmlns:office:1.0"')
    styles = "".join(f'<style:style style:name="co{i}" style:family="table-column">'
                     f'<style:table-column-properties style:column-width="{w}cm"/></style:style>'
                     for i, w in enumerate(widths_cm))
    cols = "".join(f'<table:table-column table:style-name="co{i}"/>' for i in range(len(widths_cm)))
    span = {(r0, c0): (r1 - r0 + 1, c1 - c0 + 1) for r0, c0, r1, c1 in merges}
    covered = {(r, c) for r0, c0, r1, c1 in merges for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)}
    body = []
    for r, row in enumerate(rows):
        cells = []
        for c, v in enumerate(row):
            if (r, c) in covered and (r, c) not in span:
                cells.append("<table:covered-table-cell/>")
                continue
            attrs = ""
            if (r, c) in span:
                attrs = (f' table:number-rows-spanned="{span[(r, c)][0]}"'
                         f' table:number-columns-spanned="{span[(r, c)][1]}"')
            if isinstance(v, (int, float)):
                cells.append(f'<table:table-cell office:value-type="float" office:value="{v}"{attrs}>'
                             f"<text:p>{v}</text:p></table:table-cell>")
            elif v:
                cells.append(f'<table:table-cell office:value-type="string"{attrs}><text:p>{v}</text:p>'
                             "</table:table-cell>")
            else:
                cells.append(f"<table:table-cell{attrs}/>")
        body.append(f"<table:table-row>{''.join(cells)}</table:table-row>")
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} office:version="1.2">'
               f"<office:automatic-styles>{styles}</office:automatic-styles><office:body><office:spreadsheet>"
               f'<table:table table:name="附件二">{cols}{"".join(body)}</table:table>'
               "</office:spreadsheet></office:body></office:document-content>")
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                '<manifest:file-entry manifest:full-path="/" manifest:media-type='
                '"application/vnd.oasis.opendocument.spreadsheet"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                "</manifest:manifest>")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        zf.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def test_ods_copy(example, tmp_path):
    s = CalamineWorkbook.from_path(str(example)).get_sheet_by_name("附件二")
    rows = s.to_python(skip_empty_area=False)
    merges = [(r0, c0, r1, c1) for (r0, c0), (r1, c1) in s.merged_cell_ranges or []]
    src = tmp_path / "示例.ods"
    src.write_bytes(_ods(rows, merges, [2.54, 5.08] + [2.0] * 7))
    assert CalamineWorkbook.from_path(str(src)).sheet_names == ["附件二"]
    done, _ = _annotate(src, tmp_path / "out")
    before, after = grids(src), grids(done.path)
    assert after["附件二"][0] == before["附件二"][0]
    # calamine reports no merges for .ods: compare with the ones written into the file.
    assert after["附件二"][1] == {((r0, c0), (r1, c1)) for r0, c0, r1, c1 in merges}
    ws = load_workbook(done.path)["附件二"]
    assert ws.column_dimensions["A"].width == pytest.approx((96 - 5) / 7, abs=0.01)  # 1 inch
    assert ws["H5"].fill.fgColor.rgb == COLORS[Severity.ERROR]


def test_xlsx_openpyxl_refuses_is_rebuilt(example, tmp_path):
    # No workbook content type: calamine still reads the file, openpyxl does not.
    src = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(example) as zin, zipfile.ZipFile(src, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "[Content_Types].xml":
                data = re.sub(rb'<Override[^>]*PartName="/xl/workbook.xml"[^>]*/>', b"", data)
            zout.writestr(info, data)
    with pytest.raises(Exception):  # noqa: B017 - whatever openpyxl raises
        load_workbook(src)
    done, _ = _annotate(src, tmp_path / "out")
    before, after = grids(src), grids(done.path)
    for name in SHEETS:
        assert after[name] == before[name]
    assert "值和合并单元格不变" in done.loss and "原列宽（已估算）" in done.loss
