#!/usr/bin/env bash
# Render the annotated copy of a workbook (default: the bundled example) to PNG pages, to see
# what a user sees: LibreOffice headless -> PDF -> pdftoppm -> PNG (one PNG per printed page).
#
#   scripts/render_annotated.sh [WORKBOOK] [OUT_DIR]      (OUT_DIR default: out/render)
#
# Needs Debian packages:
#   apt-get update && apt-get install -y libreoffice-calc poppler-utils fonts-noto-cjk
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKBOOK="${1:-$ROOT/workbook_templates/示例_衡山县人民政府办公室_2023.xlsx}"
OUT="${2:-$ROOT/out/render}"  # /out/ is git-ignored
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY=python3

missing=()
command -v soffice >/dev/null || missing+=(libreoffice-calc)
command -v pdftoppm >/dev/null || missing+=(poppler-utils)
fc-list 2>/dev/null | grep -i "noto sans cjk\|noto serif cjk" >/dev/null || missing+=(fonts-noto-cjk)  # not -q: pipefail
if [ ${#missing[@]} -gt 0 ]; then
    echo "缺少渲染所需的软件包：${missing[*]}" >&2
    echo "请先安装：apt-get update && apt-get install -y libreoffice-calc poppler-utils fonts-noto-cjk" >&2
    exit 2
fi

mkdir -p "$OUT"
rm -f "$OUT"/*.png "$OUT"/*.pdf
COPY="$(PYTHONPATH="$ROOT/src" "$PY" "$ROOT/scripts/render_annotated.py" "$WORKBOOK" --out "$OUT")"
# A private profile: a desktop LibreOffice that is already running would otherwise swallow the job.
PROFILE="$(mktemp -d)"
trap 'rm -rf "$PROFILE"' EXIT
soffice -env:UserInstallation="file://$PROFILE" --headless --convert-to pdf --outdir "$OUT" "$COPY" >/dev/null \
    2> >(grep -v javaldx >&2)  # LibreOffice complains about Java it does not need
PDF="$OUT/$(basename "${COPY%.*}").pdf"
pdftoppm -r 100 -png "$PDF" "$OUT/page"
ls -1 "$OUT"/page*.png
