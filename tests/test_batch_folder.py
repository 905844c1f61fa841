"""`check-workbook DIR`: a folder of good, defective and broken workbooks, through the real
CLI (a subprocess) and through the library, ends with the right roll-up."""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from jixiao import pipeline
from jixiao.batch import Options, discover, process_file, run_batch
from jixiao.errors import EXIT_UNCHECKABLE
from jixiao.report.rollup import summarize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workbook_templates"))

import build_templates as bt  # noqa: E402

HAS_CHECK = hasattr(pipeline, "check_file")
EVIL_UNIT = '=HYPERLINK("http://evil.example","点我")'


def write_unit(path: Path, unit: str, *, break_sangong: bool = False) -> Path:
    """The seed example under another unit name; optionally with a broken 三公经费 sum (BDT-3)."""
    a1, a2 = copy.deepcopy(bt.SEED_ANNEX1), copy.deepcopy(bt.SEED_ANNEX2)
    project = copy.deepcopy(bt.SEED_PROJECT)
    a2["unit"] = unit
    project["impl"] = unit
    if break_sangong:
        a1["expense_rows"][0][1] = 12.5  # 三公经费 上年决算: 4 + 6.29 = 10.29, not 12.5
    wb = Workbook()
    ws = wb.active
    ws.title = "附件一"
    bt.write_annex1(ws, data=a1)
    bt.write_annex2(wb.create_sheet("附件二"), data=a2)
    bt.write_annex3(wb.create_sheet("附件三"), project=project)
    for sheet in wb.worksheets:  # openpyxl takes text starting with "=" for a formula: keep it text
        for row in sheet.iter_rows():
            for c in row:
                if c.value == unit:
                    c.data_type = "s"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("county")
    write_unit(d / "01_衡山县人民政府办公室.xlsx", "衡山县人民政府办公室")
    write_unit(d / "乡镇" / "02_萱洲镇人民政府.xlsx", "萱洲镇人民政府")
    write_unit(d / "乡镇" / "03_开云镇人民政府.xlsx", "开云镇人民政府", break_sangong=True)
    write_unit(d / "04_evil.xlsx", EVIL_UNIT)
    (d / "05_不是表格.xlsx").write_text("单位,金额\n财政局,1\n", encoding="utf-8")  # CSV renamed
    good = (d / "01_衡山县人民政府办公室.xlsx").read_bytes()
    (d / "乡镇" / "06_截断.xlsx").write_bytes(good[: len(good) // 2])  # copy interrupted
    (d / "07_空文件.xls").write_bytes(b"")
    (d / "~$01_衡山县人民政府办公室.xlsx").write_bytes(b"\x00" * 165)  # Excel's lock file
    (d / ".~lock.02.xlsx#").write_text("user,host", encoding="utf-8")
    (d / ".隐藏").mkdir()
    write_unit(d / ".隐藏" / "08_hidden.xlsx", "不应被检查")
    (d / "说明.txt").write_text("不是工作簿", encoding="utf-8")
    _resubmitted(d / "乡镇" / "09_说明后重报.xlsx", d / "乡镇" / "02_萱洲镇人民政府.xlsx")
    return d


def _resubmitted(target: Path, source: Path) -> None:
    """The unit's annotated copy, every warning explained in 审核说明, submitted again."""
    if not HAS_CHECK:
        shutil.copyfile(source, target)
        return
    from jixiao.explanations import RESULT_SHEET
    from jixiao.report.annotate import annotate

    done = annotate(pipeline.check_file(source), target=target.with_suffix(".tmp.xlsx"))
    assert done is not None
    wb = load_workbook(done.path)
    ws = wb[RESULT_SHEET]
    hr = next(r for r in range(1, 40) if ws.cell(r, 1).value == "序号")
    cols = {ws.cell(hr, c).value: c for c in range(1, 12)}
    for r in range(hr + 1, ws.max_row + 1):
        if ws.cell(r, cols["严重程度"]).value == "提示":
            ws.cell(r, cols["审核说明"]).value = "已核实，情况属实"
    wb.save(target)
    done.path.unlink()


EXPECTED_FILES = ["01_衡山县人民政府办公室.xlsx", "04_evil.xlsx", "05_不是表格.xlsx", "07_空文件.xls",
                  "乡镇/02_萱洲镇人民政府.xlsx", "乡镇/03_开云镇人民政府.xlsx", "乡镇/06_截断.xlsx",
                  "乡镇/09_说明后重报.xlsx"]
BROKEN = {"05_不是表格.xlsx", "07_空文件.xls", "乡镇/06_截断.xlsx"}
SAME_UNIT = {"乡镇/02_萱洲镇人民政府.xlsx", "乡镇/09_说明后重报.xlsx"}  # 09 is 02's copy, resubmitted
COUNT_COLUMNS = ("错误数（强制）", "提示数", "信息数", "已说明提示数")


def _hashes(d: Path) -> dict[str, str]:
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))


def _oracle(folder: Path, rel: str) -> dict[str, object]:
    """The single-file answer (the CLI's own path for one file), for comparison with the batch row:
    the counts as `--format json` gives them (提示数 the unexplained warnings, as the console)."""
    path = str(folder / rel)
    if HAS_CHECK:
        from jixiao.report.json_report import file_json

        result = pipeline.check_file(path)
        s = summarize(result, rel)
        n = file_json(result)["counts"]
        counts = (n["error"], n["warning"], n["info"], n["warning_explained"])
    else:
        s = process_file(path, rel, Options(root=str(folder), out_dir="/nonexistent", annotate="never"))
        counts = (s.errors, s.warnings, s.infos, s.explained)
    return {"counts": counts, "status": s.status, "unit": s.unit, "rules": sorted(s.rules)}


def test_cli_batch_over_folder(folder: Path, tmp_path: Path) -> None:
    before = _hashes(folder)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run([sys.executable, "-m", "jixiao", str(folder), "--out", str(out), "--jobs", "2"],
                          capture_output=True, text=True, encoding="utf-8", env=env, timeout=300)
    assert proc.returncode == EXIT_UNCHECKABLE, proc.stderr  # worst over the batch: broken files
    assert "共检查 8 个文件" in proc.stdout
    assert _hashes(folder) == before  # inputs untouched, nothing written next to them

    rows = _csv_rows(out / "汇总.csv")
    json_rows = {f["file"]: f for f in json.loads((out / "汇总.json").read_text(encoding="utf-8"))["files"]}
    assert [r["文件"] for r in rows] == EXPECTED_FILES
    by_file = {r["文件"]: r for r in rows}
    for rel in BROKEN:  # 状态 one of four values; the reason in 备注; no counts (not "0 errors")
        row, reason = by_file[rel], json_rows[rel]["failure_message"]
        assert row["状态"] == "无法检查" and len(reason) > 2 and row["备注"] == reason
        assert [row[c] for c in COUNT_COLUMNS] == ["", "", "", ""]
        assert [json_rows[rel][k] for k in ("errors", "warnings", "infos", "explained")] == [None] * 4
        assert json_rows[rel]["status"] == "无法检查"
    assert "不是 Excel 工作簿" in by_file["05_不是表格.xlsx"]["备注"]
    assert by_file["04_evil.xlsx"]["单位"] == "'" + EVIL_UNIT  # CSV injection neutralised
    for rel in set(EXPECTED_FILES) - BROKEN:
        want = _oracle(folder, rel)
        row = by_file[rel]
        got = {"counts": tuple(int(row[c]) for c in COUNT_COLUMNS),
               "status": row["状态"], "unit": row["单位"].removeprefix("'"),
               "rules": sorted(tuple(r) for r in json_rows[rel]["rules"])}
        assert got == want, rel
        assert row["自评总分"] == "90"  # 附件二 总分 as reported
        assert row["复核总分"] and row["等级"] in ("优", "良", "中", "差")
    assert by_file["乡镇/02_萱洲镇人民政府.xlsx"]["单位"] == "萱洲镇人民政府"
    if HAS_CHECK:  # the explained warnings of the resubmitted copy count as explained
        again, first = by_file["乡镇/09_说明后重报.xlsx"], by_file["乡镇/02_萱洲镇人民政府.xlsx"]
        assert int(again["已说明提示数"]) == int(first["提示数"]) > 0
        assert int(first["已说明提示数"]) == 0
        assert again["提示数"] == "0" and again["状态"] == first["状态"].replace("有提示", "通过")
    # the resubmitted copy names the same unit: both rows say so, and the console too
    assert by_file["乡镇/02_萱洲镇人民政府.xlsx"]["备注"] == "同一单位另有文件：乡镇/09_说明后重报.xlsx"
    assert by_file["乡镇/09_说明后重报.xlsx"]["备注"] == "同一单位另有文件：乡镇/02_萱洲镇人民政府.xlsx"
    assert json_rows["乡镇/09_说明后重报.xlsx"]["same_unit_files"] == ["乡镇/02_萱洲镇人民政府.xlsx"]
    assert "same_unit_files" not in json_rows["01_衡山县人民政府办公室.xlsx"]
    assert [r["备注"] for r in rows if r["文件"] not in BROKEN | SAME_UNIT] == ["", "", ""]
    assert ("  同一单位有 2 个文件：萱洲镇人民政府（乡镇/02_萱洲镇人民政府.xlsx、乡镇/09_说明后重报.xlsx）"
            in proc.stdout.splitlines())

    wb = load_workbook(out / "汇总.xlsx")
    assert [c.value for c in wb["汇总"]["B"]][1:] == EXPECTED_FILES
    assert wb["汇总"]["A3"].value == EVIL_UNIT and wb["汇总"]["A3"].data_type == "s"
    broken = [c.value for c in wb["汇总"][5]]  # 07_空文件.xls
    assert broken[1] == "07_空文件.xls" and broken[5:9] == [None] * 4 and broken[9] == "无法检查"
    assert broken[10] == json_rows["07_空文件.xls"]["failure_message"]
    data = json.loads((out / "汇总.json").read_text(encoding="utf-8"))
    assert data["status_counts"]["无法检查"] == 3
    assert data["exit_code"] == EXIT_UNCHECKABLE
    if HAS_CHECK:
        defective = by_file["乡镇/03_开云镇人民政府.xlsx"]
        assert int(defective["错误数（强制）"]) >= 1 and defective["状态"] == "有错误"
        rules = {r["rule"]: r for r in data["rules"]}
        assert rules["BDT-3"]["files"] == 1


@pytest.mark.skipif(not HAS_CHECK, reason="needs the check stage")
def test_drop_folder_line_shows_explained_warnings(folder: Path) -> None:
    """The resubmitted copy has every warning explained: its line says so, not "提示 N"."""
    from jixiao.report.json_report import file_json
    from jixiao.watch import print_result

    rel = "乡镇/09_说明后重报.xlsx"
    result = pipeline.check_file(str(folder / rel))
    n = file_json(result)["counts"]
    assert n["warning"] == 0 and n["warning_explained"] > 0
    out = io.StringIO()
    print_result(summarize(result, rel), out)
    status = "有错误" if n["error"] else "通过"
    assert out.getvalue() == (f"已检查 {rel}：{status}（强制 {n['error']}，提示 0，"
                              f"已说明提示 {n['warning_explained']}，信息 {n['info']}）\n")


def test_library_batch_matches_and_skips_own_outputs(folder: Path, tmp_path: Path) -> None:
    work = tmp_path / "county"
    for p in folder.rglob("*"):  # a private copy: this run writes its outputs into the folder itself
        if p.is_file():
            target = work / p.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(p.read_bytes())
    before = _hashes(work)
    seen: list[str] = []
    res = run_batch(discover(work), root=work, jobs=2, on_result=lambda s: seen.append(s.file))
    assert sorted(seen) == sorted(EXPECTED_FILES)
    assert res.exit_code == EXIT_UNCHECKABLE
    assert (work / "汇总.xlsx").is_file() and (work / "汇总.csv").is_file()
    after = _hashes(work)
    assert {k: v for k, v in after.items() if k in before} == before  # inputs unchanged
    new = set(after) - set(before)
    assert {"汇总.xlsx", "汇总.csv", "汇总.json"} <= new
    assert all(n.startswith("汇总.") or n.endswith(".审核.xlsx") for n in new)
    # A second run over the same folder does not check its own outputs.
    again = run_batch(discover(work), root=work, jobs=1)
    assert [s.file for s in again.rollup.sorted_rows()] == EXPECTED_FILES
    assert again.rollup.counts() == res.rollup.counts()


def test_annotate_modes(folder: Path, tmp_path: Path) -> None:
    try:
        from jixiao.report import annotate  # noqa: F401
    except ImportError:
        pytest.skip("annotation stage (issue 5) not available yet")
    paths = discover(folder)
    never = run_batch(paths, root=folder, out_dir=tmp_path / "never", jobs=2, annotate="never")
    assert not list((tmp_path / "never").rglob("*.审核.xlsx"))
    auto = run_batch(paths, root=folder, out_dir=tmp_path / "auto", jobs=2, annotate="auto")
    made = sorted(p.relative_to(tmp_path / "auto").as_posix() for p in (tmp_path / "auto").rglob("*.审核.xlsx"))
    with_findings = sorted(s.file.rsplit(".", 1)[0] + ".审核.xlsx" for s in auto.rollup.sorted_rows()
                           if s.errors + s.warnings + s.explained + s.infos and not s.failure_code)
    assert made == with_findings
    assert never.rollup.counts() == auto.rollup.counts()
