"""审核说明 typed into an earlier annotated copy are never lost: the next check of the same file
(single file, folder batch, drop folder) counts them and writes them into the new copy."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from openpyxl import load_workbook

from jixiao import pipeline
from jixiao.explanations import RESULT_SHEET, read_explanations
from jixiao.read import read_path
from jixiao.report.json_report import file_json
from jixiao.watch import watch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workbook_templates"))

import build_templates as bt  # noqa: E402

NOTE = "已沿用此前审核副本中填写的 {} 条审核说明"
Key = tuple[str, str, str]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "jixiao", *args], capture_output=True, text=True,
                          encoding="utf-8", env=env, timeout=300)


def _annotated(folder: Path, *out: str) -> tuple[Path, Path]:
    """The seed example in `folder` and its annotated copy, made by the real tool."""
    src = bt.build_example(folder / "示例.xlsx")
    proc = _run(str(src), *out)
    assert proc.returncode == 2, proc.stderr  # the example has errors
    copy = Path(out[1] if out else folder) / "示例.审核.xlsx"
    assert copy.is_file()
    return src, copy


def _fill(copy: Path, text: str, *, severity: str | None = None, only: int | None = None) -> dict[Key, str]:
    """Type `text` (+ the row number) into the 审核说明 cells of the copy's 审核结果 rows (of one
    severity, at most `only` rows), as an accountant in Excel would; the explanations as read back."""
    wb = load_workbook(copy)
    ws = wb[RESULT_SHEET]
    hr = next(r for r in range(1, 40) if ws.cell(r, 1).value == "序号")
    cols = {ws.cell(hr, c).value: c for c in range(1, 12)}
    filled = 0
    for r in range(hr + 1, ws.max_row + 1):
        if not ws.cell(r, cols["规则"]).value or (only is not None and filled >= only):
            continue
        if severity is None or str(ws.cell(r, cols["严重程度"]).value).startswith(severity):
            ws.cell(r, cols["审核说明"]).value = f"{text}{r}"
            filled += 1
    wb.save(copy)
    notes = read_explanations(read_path(copy))
    assert notes and len(notes) <= filled
    return notes


def _warnings(notes: dict[Key, str], src: Path) -> int:
    """How many warnings of `src` the explanations `notes` explain."""
    res = pipeline.check_file(src)
    return sum(1 for f in res.findings if f.severity.value == "warning" and f.key in notes)


def test_folder_batch_counts_and_keeps_the_copys_explanations(tmp_path: Path) -> None:
    folder = tmp_path / "单位"
    folder.mkdir()
    src, copy = _annotated(folder)
    notes = _fill(copy, "已核实，情况属实")
    explained = _warnings(notes, src)
    assert explained > 0

    proc = _run(str(folder), "--jobs", "1")
    assert proc.returncode == 2, proc.stderr
    rows = json.loads((folder / "汇总.json").read_text(encoding="utf-8"))["files"]
    assert [r["file"] for r in rows] == ["示例.xlsx"]  # the copy itself is still not an input
    assert rows[0]["explained"] == explained
    assert rows[0]["notes"] == [NOTE.format(len(notes))]
    assert f"示例.xlsx：{NOTE.format(len(notes))}" in proc.stdout
    assert read_explanations(read_path(copy)) == notes  # the rewritten copy still holds every text
    table = list(csv.reader(io.StringIO((folder / "汇总.csv").read_text(encoding="utf-8-sig"))))
    assert table[1][table[0].index("备注")] == NOTE.format(len(notes))


def test_single_file_with_out(tmp_path: Path) -> None:
    src, copy = _annotated(tmp_path, "--out", str(tmp_path / "审核"))
    notes = _fill(copy, "口径不同，已说明")
    explained = _warnings(notes, src)

    proc = _run(str(src), "--out", str(tmp_path / "审核"), "--format", "json")
    assert proc.returncode == 2, proc.stderr
    counts = json.loads(proc.stdout)["files"][0]["counts"]
    assert counts["warning_explained"] == explained > 0
    assert f"示例.xlsx：{NOTE.format(len(notes))}" in proc.stderr.splitlines()
    assert read_explanations(read_path(copy)) == notes
    assert not (tmp_path / "示例.审核.xlsx").exists()  # nothing written beside the input


def test_the_files_own_explanations_win(tmp_path: Path) -> None:
    """A resubmitted copy checked again: its own 审核说明 win over an earlier copy's on the same key."""
    _src, copy = _annotated(tmp_path)
    own = _fill(copy, "单位本次填写", only=1)
    resubmitted = tmp_path / "回收" / copy.name
    resubmitted.parent.mkdir()
    resubmitted.write_bytes(copy.read_bytes())
    earlier = _fill(copy, "此前填写")  # every row, the resubmitted copy's one included
    res = pipeline.check_file(resubmitted, copies=[copy])
    shown = {f.key: f.explanation for f in res.findings if f.explanation}
    assert shown == {**earlier, **own}
    assert res.carried == len(earlier) - len(own)


def test_the_copy_saved_last_wins(tmp_path: Path) -> None:
    """The --out copy already holds the text carried before; the unit corrects it in the copy
    beside the file: the correction, saved later, is what counts and what the new copy keeps."""
    src, copy = _annotated(tmp_path, "--out", str(tmp_path / "审核"))
    old = _fill(copy, "旧说明", severity="提示", only=1)
    beside = tmp_path / "示例.审核.xlsx"
    beside.write_bytes(copy.read_bytes())
    os.utime(copy, ns=(time.time_ns() - 60 * 10**9,) * 2)  # saved a minute before the correction
    new = _fill(beside, "单位更正后的说明", severity="提示", only=1)
    assert new.keys() == old.keys() and new != old
    res = pipeline.check_file(src, copies=[copy, beside])  # the order `check-workbook --out` uses
    assert {f.key: f.explanation for f in res.findings if f.explanation} == new
    os.utime(beside, ns=(time.time_ns() - 120 * 10**9,) * 2)  # now the --out copy is the newer
    res = pipeline.check_file(src, copies=[copy, beside])
    assert {f.key: f.explanation for f in res.findings if f.explanation} == old


def test_a_renamed_result_sheet_is_still_read(tmp_path: Path) -> None:
    """Only the sheet named 审核结果 is read from an earlier copy, unless the unit renamed it."""
    src, copy = _annotated(tmp_path)
    notes = _fill(copy, "已说明")
    wb = load_workbook(copy)
    wb[RESULT_SHEET].title = "反馈"
    wb.save(copy)
    res = pipeline.check_file(src, copies=[copy])
    assert {f.key: f.explanation for f in res.findings if f.explanation} == notes
    assert res.carried == len(notes)


def test_a_corrupt_copy_is_ignored(tmp_path: Path) -> None:
    clean = file_json(pipeline.check_file(bt.build_example(tmp_path / "对照.xlsx")))["counts"]
    folder = tmp_path / "单位"
    folder.mkdir()
    src = bt.build_example(folder / "示例.xlsx")
    copy = folder / "示例.审核.xlsx"
    copy.write_bytes(b"PK\x03\x04 this zip is cut short")
    proc = _run(str(src), "--format", "json")
    assert proc.returncode == 2 and "已沿用" not in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["files"][0]["counts"] == clean
    assert load_workbook(copy).sheetnames[0] == RESULT_SHEET  # replaced by a good copy
    copy.write_bytes(b"PK\x03\x04 this zip is cut short")
    proc = _run(str(folder), "--jobs", "1")
    assert proc.returncode == 2, proc.stderr
    [row] = json.loads((folder / "汇总.json").read_text(encoding="utf-8"))["files"]
    assert row["exit_code"] == 2 and row["notes"] == [] and row["explained"] == 0


def test_drop_folder(tmp_path: Path) -> None:
    """Explanations typed into the OUTBOX copy count when the original is dropped again (same
    bytes: a touch); a filled copy dropped into INBOX beside its original counts at once."""
    inbox, outbox = tmp_path / "收件箱", tmp_path / "结果"
    inbox.mkdir()
    done: list[object] = []
    box: dict[str, object] = {}

    def run() -> None:
        box["result"] = watch(inbox, outbox, settle=0.5, jobs=1, timeout=60, install_signals=False,
                              max_results=3, max_seconds=150, on_result=done.append)

    def wait_for(n: int) -> None:
        deadline = time.monotonic() + 60
        while len(done) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(done) == n

    t = threading.Thread(target=run, daemon=True)
    t.start()
    src = bt.build_example(tmp_path / "示例.xlsx")
    (inbox / "示例.xlsx").write_bytes(src.read_bytes())
    wait_for(1)
    copy = outbox / "示例.审核.xlsx"
    first = _fill(copy, "OUTBOX 中填写", severity="提示", only=1)
    (inbox / "示例.xlsx").write_bytes(src.read_bytes())  # dropped again, the same bytes
    wait_for(2)
    assert done[1].explained == _warnings(first, src) > 0  # type: ignore[attr-defined]
    assert done[1].notes == [NOTE.format(1)]  # type: ignore[attr-defined]
    assert read_explanations(read_path(copy)) == first

    beside = tmp_path / "示例.审核.xlsx"
    beside.write_bytes(copy.read_bytes())
    second = _fill(beside, "INBOX 中填写", severity="提示")
    beside.replace(inbox / beside.name)  # moved in whole, beside its original
    wait_for(3)
    t.join(60)
    both = {**first, **second}  # the copy saved last wins: INBOX's, written after OUTBOX's
    assert done[2].explained == _warnings(both, src) > done[1].explained  # type: ignore[attr-defined]
    assert done[2].notes == [NOTE.format(len(both))]  # type: ignore[attr-defined]
    assert read_explanations(read_path(copy)) == both
    rows = json.loads((outbox / "汇总.json").read_text(encoding="utf-8"))["files"]
    assert [(r["file"], r["explained"]) for r in rows] == [("示例.xlsx", done[2].explained)]  # type: ignore[attr-defined]
