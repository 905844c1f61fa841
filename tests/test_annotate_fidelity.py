"""Fidelity (issue #5, part 5): what the annotated copy cannot keep is found before saving and
named in one Chinese line; what openpyxl can keep (images, rich text) is kept."""

from __future__ import annotations

import io
import re
import sys
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.drawing.image import Image
from PIL import Image as PILImage

from jixiao import pipeline
from jixiao.findings import Finding, Severity
from jixiao.report import fidelity
from jixiao.report.annotate import NOTICE_CODE, annotate
from jixiao.result import FileResult

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workbook_templates"))

import build_templates as bt  # noqa: E402

X14_VALIDATION = (
    '<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}" '
    'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
    '<x14:dataValidations count="1" xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main">'
    '<x14:dataValidation type="list" allowBlank="1" showInputMessage="1" showErrorMessage="1">'
    "<x14:formula1><xm:f>清单!$A$1:$A$3</xm:f></x14:formula1><xm:sqref>C3</xm:sqref>"
    "</x14:dataValidation></x14:dataValidations></ext></extLst>"
)
XDR = "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"
SHAPE = (
    '<xdr:twoCellAnchor><xdr:from><xdr:col>9</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>1</xdr:row>'
    "<xdr:rowOff>0</xdr:rowOff></xdr:from><xdr:to><xdr:col>12</xdr:col><xdr:colOff>0</xdr:colOff>"
    "<xdr:row>5</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:to>"
    '<xdr:sp macro="" textlink=""><xdr:nvSpPr><xdr:cNvPr id="9" name="文本框 1"/><xdr:cNvSpPr txBox="1"/>'
    '</xdr:nvSpPr><xdr:spPr><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></xdr:spPr>'
    "<xdr:txBody><a:bodyPr/><a:p><a:r><a:t>单位盖章处</a:t></a:r></a:p></xdr:txBody></xdr:sp>"
    "<xdr:clientData/></xdr:twoCellAnchor>"
)


def _png() -> io.BytesIO:
    buf = io.BytesIO()
    PILImage.new("RGB", (40, 20), (200, 30, 30)).save(buf, format="PNG")
    buf.seek(0)
    return buf


def _sheet_part(zf: zipfile.ZipFile, title: str) -> str:
    wb_xml = zf.read("xl/workbook.xml").decode()
    rid = re.search(rf'<sheet[^>]*name="{title}"[^>]*r:id="([^"]+)"', wb_xml).group(1)
    rels = zf.read("xl/_rels/workbook.xml.rels").decode()
    target = re.search(rf'<Relationship[^>]*Id="{rid}"[^>]*Target="([^"]+)"', rels) or \
        re.search(rf'<Relationship[^>]*Target="([^"]+)"[^>]*Id="{rid}"', rels)
    t = target.group(1).lstrip("/")
    return t if t.startswith("xl/") else "xl/" + t


@pytest.fixture(scope="module")
def crafted(tmp_path_factory) -> Path:
    """The example plus what Excel/WPS write and openpyxl cannot keep: an x14 list validation
    pointing at another sheet, a text box, a formula with its cached value; and what it can
    keep: a PNG image and a rich-text cell."""
    d = tmp_path_factory.mktemp("crafted")
    base = bt.build_example(d / "base.xlsx")
    wb = load_workbook(base)
    lists = wb.create_sheet("清单")
    for i, v in enumerate(("合格", "基本合格", "不合格"), start=1):
        lists.cell(i, 1, v)
    a2 = wb["附件二"]
    img = Image(_png())
    a2.add_image(img, "K2")
    a2["K10"] = "=1+1"
    a2["K12"] = CellRichText([TextBlock(InlineFont(b=True), "加粗"), "普通"])
    wb.save(base)

    src = zipfile.ZipFile(base)
    part = _sheet_part(src, "附件二")
    out = d / "crafted.xlsx"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == part:
                xml = data.decode()
                xml = re.sub(r"<f>1\+1</f>(<v\s*/>|<v></v>)?", "<f>1+1</f><v>2</v>", xml)
                xml = xml.replace("</worksheet>", X14_VALIDATION + "</worksheet>")
                data = xml.encode()
            elif info.filename.startswith("xl/drawings/drawing") and info.filename.endswith(".xml"):
                # openpyxl writes the drawing namespace unprefixed; Excel uses xdr:, as SHAPE does.
                xml = data.decode().replace("<wsDr ", f'<wsDr xmlns:xdr="{XDR}" ', 1)
                data = xml.replace("</wsDr>", SHAPE + "</wsDr>").encode()
            dst.writestr(info, data)
    return out


def test_scan_finds_the_silent_losses(crafted):
    found = fidelity.scan_zip(zipfile.ZipFile(crafted))
    assert found.get("shape") == 1 and "formula_cache" in found


def test_one_line_naming_every_loss(crafted, tmp_path):
    res = FileResult(path=str(crafted), model=pipeline.load_model(crafted),
                     findings=[Finding("BDT-3", Severity.ERROR, "附件二", "附件二", "H5", "测试")])
    done = annotate(res, tmp_path / "copy.xlsx")
    line = done.loss
    assert line is not None and "\n" not in line
    assert "扩展数据有效性" in line and "形状/文本框" in line and "公式的已存结果" in line
    assert line.startswith("审核副本未保留原文件中的") and line.endswith("原文件未改动。")
    notices = [n for n in res.model.notices if n.code == NOTICE_CODE]
    assert [n.message for n in notices] == [line]


def test_what_openpyxl_keeps_is_kept(crafted, tmp_path):
    res = FileResult(path=str(crafted), model=pipeline.load_model(crafted))
    done = annotate(res, tmp_path / "copy.xlsx")
    names = zipfile.ZipFile(done.path).namelist()
    assert any(n.startswith("xl/media/") for n in names)  # the image (Pillow is installed)
    wb = load_workbook(done.path, rich_text=True)
    assert isinstance(wb["附件二"]["K12"].value, CellRichText)  # runs not flattened
    assert wb["附件二"]["K10"].value == "=1+1"  # the formula itself stays
    assert wb.sheetnames[-1] == "清单"


def test_clean_file_has_no_line(tmp_path):
    ex = bt.build_example(tmp_path / "ex.xlsx")
    done = annotate(FileResult(path=str(ex), model=pipeline.load_model(ex)), tmp_path / "c.xlsx")
    assert done.loss is None


def test_vba_and_warnings_mapping():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("xl/vbaProject.bin", b"\0" * 10)
        zf.writestr("xl/embeddings/oleObject1.bin", b"\0")
        zf.writestr("xl/threadedComments/threadedComment1.xml", "<x/>")
    found = fidelity.scan_zip(zipfile.ZipFile(buf))
    assert set(found) == {"vba", "ole", "threaded_comment"}

    class W:
        def __init__(self, text: str) -> None:
            self.message = text

    caught = [W("Conditional Formatting extension is not supported and will be removed"),
              W("Ignored Error extension is not supported and will be removed"),
              W("Sparkline Group extension is not supported and will be removed")]
    assert fidelity.from_warnings(caught) == {"x14_conditional": 1, "sparkline": 1}  # type: ignore[arg-type]
    line = fidelity.loss_line({"x14_conditional": 1, "vba": 1})
    assert "扩展条件格式" in line and "宏（VBA）" in line


def test_huge_merged_range_is_annotated_from_the_grid(tmp_path):
    """A crafted merge over 10 million cells (found by the fuzzer) would make openpyxl build one
    object per cell; the copy is rebuilt from the grid instead, whose merges are clipped."""
    import re as _re

    from jixiao.pipeline import check_file
    from jixiao.report.annotate import annotate as _annotate

    from workbooks import EXAMPLE, rewrite_zip

    def widen(xml: bytes) -> bytes:
        return _re.sub(rb'<mergeCell ref="[^"]+"\s*/>', b'<mergeCell ref="A1:SZ20000"/>', xml, count=1)

    src = tmp_path / "huge_merge.xlsx"
    src.write_bytes(rewrite_zip(EXAMPLE.read_bytes(), {"xl/worksheets/sheet2.xml": widen}))
    result = check_file(src)
    assert result.checked
    done = _annotate(result, out_dir=tmp_path / "out")
    assert done is not None and done.path.exists()
    assert done.loss and "重建" in done.loss
