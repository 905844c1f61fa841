"""What an openpyxl load -> save of the input would lose, found before saving.

Two sources, merged into one list of Chinese feature names:
* a scan of the zip parts for things openpyxl drops without a word (shapes and text boxes,
  cached formula results, VBA, OLE objects, form controls, threaded comments);
* openpyxl's own UserWarnings while loading (x14 extensions: data validations, conditional
  formats, sparklines, slicers; unreadable or WMF images).

The result is one line for the console (`loss_line`), so nothing is lost silently.
"""

from __future__ import annotations

import re
import warnings
import zipfile
from collections.abc import Iterable

# Keys are stable codes (also useful in JSON); values the Chinese names shown to the user.
FEATURES = {
    "x14_validation": "扩展数据有效性（下拉列表）",
    "x14_conditional": "扩展条件格式（图标集等）",
    "sparkline": "迷你图",
    "slicer": "切片器/日程表",
    "protected_range": "允许编辑区域",
    "shape": "形状/文本框",
    "image": "部分图片",
    "formula_cache": "公式的已存结果（打开时会重算）",
    "vba": "宏（VBA）",
    "ole": "嵌入对象（OLE）",
    "control": "表单控件",
    "threaded_comment": "新式批注（对话式）",
    "extension": "其他扩展内容",
    # Non-xlsx inputs (and xlsx files openpyxl cannot load) are rebuilt from the cell grid.
    "rebuilt": "格式、公式和图片（副本按单元格的值重建，值、合并单元格和列宽不变）",
    "rebuilt_values": "格式、公式和图片（副本按单元格的值重建，值和合并单元格不变）",
    "rebuilt_widths": "原列宽（已估算）",
}

# openpyxl's extension warning names (openpyxl.xml.constants.EXT_TYPES) -> feature code.
# "Ignored Error" (the green error-check triangles switched off) is deliberately not reported.
_EXT_WARNINGS = {
    "Data Validation": "x14_validation",
    "Conditional Formatting": "x14_conditional",
    "Sparkline Group": "sparkline",
    "Slicer List": "slicer",
    "Timeline Ref": "slicer",
    "Protected Range": "protected_range",
    "Unknown": "extension",
    "Web Extension": "extension",
}
_EXT_RE = re.compile(r"^(.*) extension is not supported and will be removed")

# A shape or text box in a drawing part: <xdr:sp> (not <xdr:spPr>); also connectors.
_SHAPE_RE = re.compile(rb"<(?:\w+:)?(?:sp|cxnSp)[\s>]")
# A formula followed by a non-empty cached value.
_CACHED_RE = re.compile(rb"(?:</f>|<f\b[^>]*/>)\s*<v>[^<]")


def scan_zip(zf: zipfile.ZipFile) -> dict[str, int]:
    """Features of the package openpyxl would drop silently, with a count where it helps."""
    found: dict[str, int] = {}

    def add(code: str, n: int = 1) -> None:
        found[code] = found.get(code, 0) + n

    for info in zf.infolist():
        name = info.filename
        low = name.lower()
        if low.startswith("xl/drawings/") and low.endswith(".xml") and "/_rels/" not in low:
            n = len(_SHAPE_RE.findall(zf.read(name)))
            if n:
                add("shape", n)
        elif low.startswith("xl/worksheets/") and low.endswith(".xml") and "/_rels/" not in low:
            xml = zf.read(name)
            if b"<f" in xml and _CACHED_RE.search(xml):
                add("formula_cache")
        elif low.endswith("vbaproject.bin"):
            add("vba")
        elif low.startswith("xl/embeddings/") or low.startswith("xl/activex/"):
            add("ole")
        elif low.startswith("xl/ctrlprops/"):
            add("control")
        elif low.startswith("xl/threadedcomments/"):
            add("threaded_comment")
        elif low.startswith("xl/media/") and low.endswith((".wmf", ".emf")):
            add("image")
    if _has_images(zf) and not _pillow():
        add("image")
    return found


def _has_images(zf: zipfile.ZipFile) -> bool:
    return any(n.lower().startswith("xl/media/") for n in zf.namelist())


def _pillow() -> bool:
    try:
        import PIL  # noqa: F401
    except ImportError:  # openpyxl then drops every image without a warning
        return False
    return True


def from_warnings(caught: Iterable[warnings.WarningMessage]) -> dict[str, int]:
    """Feature codes from the UserWarnings openpyxl raised while loading."""
    found: dict[str, int] = {}
    for w in caught:
        text = str(w.message)
        m = _EXT_RE.match(text)
        code: str | None = None
        if m:
            code = _EXT_WARNINGS.get(m.group(1), None if m.group(1) == "Ignored Error" else "extension")
        elif "image" in text.lower():
            code = "image"
        elif "Shapes and drawings will be lost" in text:
            code = "shape"
        if code:
            found[code] = found.get(code, 0) + 1
    return found


def merge(*parts: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in parts:
        for k, n in p.items():
            out[k] = out.get(k, 0) + n
    return out


def loss_line(found: dict[str, int]) -> str | None:
    """One short Chinese line naming what the annotated copy could not keep, or None."""
    if not found:
        return None
    names = []
    for code in FEATURES:  # fixed order, most consequential first
        if code in found:
            n = found[code]
            names.append(f"{FEATURES[code]}（{n} 个）" if code == "shape" and n > 1 else FEATURES[code])
    return f"审核副本未保留原文件中的{'、'.join(names)}；原文件未改动。"
