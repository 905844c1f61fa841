"""The drop folder: files checked once they stop changing, results in OUTBOX, restart-safe."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jixiao.batch import run_batch
from jixiao.watch import STATE_FILE, STATE_VERSION, State, print_result, watch

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "workbook_templates" / "示例_衡山县人民政府办公室_2023.xlsx"
SETTLE = 1.5


def _write_slowly(path: Path, data: bytes, pieces: int = 8, pause: float = 0.08) -> None:
    """Like an upload or a network copy: the file grows in pieces."""
    step = len(data) // pieces + 1
    with open(path, "wb") as f:
        for i in range(0, len(data), step):
            f.write(data[i:i + step])
            f.flush()
            os.fsync(f.fileno())
            time.sleep(pause)


def _run_in_thread(**kwargs: object) -> tuple[threading.Thread, dict[str, object]]:
    box: dict[str, object] = {}

    def target() -> None:
        box["result"] = watch(**kwargs)  # type: ignore[arg-type]

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, box


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_drop_folder_end_to_end(tmp_path: Path) -> None:
    inbox, outbox = tmp_path / "收件箱", tmp_path / "结果"
    inbox.mkdir()
    data = EXAMPLE.read_bytes()
    (inbox / "早到的.xlsx").write_bytes(data)  # there before the watcher starts
    common = dict(inbox=inbox, outbox=outbox, settle=SETTLE, jobs=1, timeout=30, install_signals=False)

    t, box = _run_in_thread(**common, max_results=3, max_seconds=90)
    time.sleep(0.3)
    (inbox / "~$单位甲.xlsx").write_bytes(b"\x00" * 165)  # Excel's lock file, while "editing"
    (inbox / "损坏.xlsx").write_bytes(b"PK\x03\x04 this zip is cut short")
    (inbox / "乡镇").mkdir()
    _write_slowly(inbox / "乡镇" / "单位甲.xlsx", data)
    t.join(120)
    assert not t.is_alive()
    first = box["result"]
    assert first.checked == 3  # type: ignore[attr-defined]
    files = sorted(s.file for s in first.results)  # type: ignore[attr-defined]
    assert files == ["乡镇/单位甲.xlsx", "损坏.xlsx", "早到的.xlsx"]  # once each: never the half-written file

    ok = json.loads((outbox / "乡镇" / "单位甲.结果.json").read_text(encoding="utf-8"))
    assert ok["file"] == "乡镇/单位甲.xlsx" and ok["files"][0]["checked"] is True
    bad = json.loads((outbox / "损坏.结果.json").read_text(encoding="utf-8"))
    assert bad["exit_code"] == 3 and bad["files"][0]["checked"] is False
    assert bad["files"][0]["failure"]["message"]
    if ok["files"][0]["findings"]:  # annotated copy only for a file with findings (--annotate auto)
        assert (outbox / "乡镇" / "单位甲.审核.xlsx").is_file()
    assert not (outbox / "损坏.审核.xlsx").exists()
    assert not [p for p in outbox.rglob("*") if "~$" in p.name]  # nothing for the lock file
    rollup = json.loads((outbox / "汇总.json").read_text(encoding="utf-8"))
    assert [f["file"] for f in rollup["files"]] == ["乡镇/单位甲.xlsx", "损坏.xlsx", "早到的.xlsx"]
    assert [f["status"].split("：")[0] for f in rollup["files"]][1] == "无法检查"
    assert (outbox / "汇总.xlsx").is_file() and (outbox / "汇总.csv").is_file()
    state = json.loads((outbox / STATE_FILE).read_text(encoding="utf-8"))
    assert state["files"]["乡镇/单位甲.xlsx"]["sha256"] == _sha(inbox / "乡镇" / "单位甲.xlsx")
    assert _sha(inbox / "乡镇" / "单位甲.xlsx") == hashlib.sha256(data).hexdigest()  # input untouched

    # Restart: nothing is checked again, even a file that was touched but not changed.
    os.utime(inbox / "早到的.xlsx", None)
    t, box = _run_in_thread(**common, max_seconds=SETTLE * 3)
    t.join(60)
    again = box["result"]
    assert again.checked == 0 and again.skipped == 3  # type: ignore[attr-defined]

    # A changed file (and one that arrived while stopped) is checked after a restart.
    (inbox / "早到的.xlsx").write_bytes(b"now it is broken")
    (inbox / "新来的.xlsx").write_bytes(data)
    t, box = _run_in_thread(**common, max_results=2, max_seconds=60)
    t.join(90)
    third = box["result"]
    assert sorted(s.file for s in third.results) == ["新来的.xlsx", "早到的.xlsx"]  # type: ignore[attr-defined]
    rollup = json.loads((outbox / "汇总.json").read_text(encoding="utf-8"))
    by_file = {f["file"]: f for f in rollup["files"]}
    assert len(by_file) == 4 and by_file["早到的.xlsx"]["exit_code"] == 3  # the newest result wins


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_cli_watch_stops_on_sigterm(tmp_path: Path) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.Popen([sys.executable, "-m", "jixiao", "--watch", str(inbox), "--out", str(outbox),
                             "--settle", "0.5", "--jobs", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, encoding="utf-8", env=env)
    try:
        (inbox / "a.xlsx").write_bytes(EXAMPLE.read_bytes())
        deadline = time.monotonic() + 60
        while not (outbox / "a.结果.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (outbox / "a.结果.json").exists()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "已检查 a.xlsx" in out
    told = err.splitlines()
    stopping = "正在停止：等待正在检查的文件完成并保存结果…（再按一次 Ctrl-C 立即退出）"
    assert stopping in told  # at once, before the wait
    assert told.index(stopping) < len(told) - 1
    assert told[-1].startswith("已停止")
    assert (outbox / STATE_FILE).is_file()


def test_outbox_may_be_the_inbox(tmp_path: Path) -> None:
    """Results next to the inputs: our own outputs are never taken for new inputs."""
    box = tmp_path / "共用"
    box.mkdir()
    t, holder = _run_in_thread(inbox=box, outbox=box, settle=0.5, jobs=1, timeout=30, install_signals=False,
                               max_seconds=12)
    time.sleep(0.3)
    (box / "a.xlsx").write_bytes(EXAMPLE.read_bytes())
    t.join(60)
    res = holder["result"]
    assert [s.file for s in res.results] == ["a.xlsx"]  # type: ignore[attr-defined]
    assert (box / "a.结果.json").is_file() and (box / "汇总.xlsx").is_file()
    rollup = json.loads((box / "汇总.json").read_text(encoding="utf-8"))
    assert [f["file"] for f in rollup["files"]] == ["a.xlsx"]


def _wait_for(what: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not what():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _rollup_rows(outbox: Path) -> dict[str, dict[str, object]]:
    try:
        return {f["file"]: f for f in json.loads((outbox / "汇总.json").read_text(encoding="utf-8"))["files"]}
    except (OSError, ValueError):
        return {}


def test_a_file_gone_from_the_inbox_leaves_the_rollup_but_not_its_outputs(tmp_path: Path) -> None:
    """Deleted or moved away, live or while the watcher is stopped: its row and state entry go,
    its annotated copy and result JSON stay (a copy may hold a unit's 审核说明)."""
    inbox, outbox = tmp_path / "收件箱", tmp_path / "结果"
    (inbox / "乡镇").mkdir(parents=True)
    data = EXAMPLE.read_bytes()
    for name in ("甲.xlsx", "乙.xlsx", "乡镇/丙.xlsx"):
        (inbox / name).write_bytes(data)
    stop = threading.Event()
    common = dict(inbox=inbox, outbox=outbox, settle=0.5, jobs=1, timeout=30, install_signals=False)
    t, first = _run_in_thread(**common, stop=stop, max_seconds=120)
    try:
        _wait_for(lambda: len(_rollup_rows(outbox)) == 3)
        assert (outbox / "甲.审核.xlsx").is_file()  # the example has findings

        # a newer version that cannot be checked: 无法检查, and the earlier copy is said to be out of date
        (inbox / "甲.xlsx").write_bytes(b"PK\x03\x04 broken now")
        _wait_for(lambda: _rollup_rows(outbox)["甲.xlsx"]["exit_code"] == 3)
        assert _rollup_rows(outbox)["甲.xlsx"]["notes"] == [
            "现有的审核副本是以前检查的结果，已过时（本次无法检查，未生成新副本）"]
        with open(outbox / "汇总.csv", encoding="utf-8-sig", newline="") as f:
            rows = {r["文件"]: r for r in csv.DictReader(f)}
        assert rows["甲.xlsx"]["状态"] == "无法检查"
        assert rows["甲.xlsx"]["备注"] == (  # the reason first, then the note
            "文件是损坏或不完整的压缩包（可能下载或复制不完整）；现有的审核副本是以前检查的结果，已过时（本次无法检查，未生成新副本）")
        assert (outbox / "甲.审核.xlsx").is_file()

        (inbox / "乙.xlsx").unlink()
        (inbox / "乡镇").rename(tmp_path / "别处")  # a folder moved out of INBOX whole
        _wait_for(lambda: sorted(_rollup_rows(outbox)) == ["甲.xlsx"])
        state = json.loads((outbox / STATE_FILE).read_text(encoding="utf-8"))
        assert sorted(state["files"]) == ["甲.xlsx"]
    finally:
        stop.set()
        t.join(60)
    assert not t.is_alive()
    broken = first["result"].results[-1]  # type: ignore[attr-defined]
    out = io.StringIO()
    print_result(broken, out)  # the console says it too
    assert out.getvalue().splitlines()[1] == "  现有的审核副本是以前检查的结果，已过时（本次无法检查，未生成新副本）"
    for kept in ("乙.审核.xlsx", "乙.结果.json", "乡镇/丙.审核.xlsx", "乡镇/丙.结果.json"):
        assert (outbox / kept).is_file(), kept

    (inbox / "甲.xlsx").unlink()  # while stopped
    t, box = _run_in_thread(**common, max_seconds=2)
    t.join(60)
    assert box["result"].checked == 0  # type: ignore[attr-defined]
    assert json.loads((outbox / "汇总.json").read_text(encoding="utf-8"))["files"] == []
    assert json.loads((outbox / STATE_FILE).read_text(encoding="utf-8"))["files"] == {}
    with open(outbox / "汇总.csv", encoding="utf-8-sig", newline="") as f:
        assert len(list(csv.reader(f))) == 1  # the header only
    assert (outbox / "甲.审核.xlsx").is_file() and (outbox / "甲.结果.json").is_file()


def test_an_earlier_batch_output_folder_in_the_inbox_is_not_taken_for_inputs(tmp_path: Path) -> None:
    """INBOX/旧结果 holds a batch's roll-up and annotated copies: neither at start-up nor when a
    copy is added there are they checked, as `check-workbook INBOX` would not check them."""
    inbox, outbox = tmp_path / "收件箱", tmp_path / "结果"
    inbox.mkdir()
    data = EXAMPLE.read_bytes()
    (inbox / "甲.xlsx").write_bytes(data)
    assert run_batch([inbox / "甲.xlsx"], root=inbox, out_dir=inbox / "旧结果", jobs=1).rollup.exit_code == 2
    assert (inbox / "旧结果" / "甲.审核.xlsx").is_file()
    t, box = _run_in_thread(inbox=inbox, outbox=outbox, settle=0.5, jobs=1, timeout=30, install_signals=False,
                            max_seconds=6)
    time.sleep(1.5)
    (inbox / "旧结果" / "乙.审核.xlsx").write_bytes(data)
    t.join(60)
    assert [s.file for s in box["result"].results] == ["甲.xlsx"]  # type: ignore[attr-defined]
    assert sorted(_rollup_rows(outbox)) == ["甲.xlsx"]
def test_state_of_an_earlier_version_counts_warnings_as_the_report_does(tmp_path: Path) -> None:
    """Version 1 counted explained warnings in `warnings`: read back, they are taken out, so an
    upgrade neither re-checks every known file nor keeps the old counts in the roll-up."""
    def row(file: str, warnings: int, explained: int) -> dict[str, object]:
        return {"sha256": "0" * 64, "size": 1, "mtime_ns": 1,
                "summary": {"file": file, "unit": "单位", "warnings": warnings, "explained": explained,
                            "exit_code": 1 if warnings > explained else 0}}

    files = {"a.xlsx": row("a.xlsx", 15, 1), "b.xlsx": row("b.xlsx", 47, 47), "c.xlsx": row("c.xlsx", 2, 0)}
    (tmp_path / STATE_FILE).write_text(json.dumps({"version": 1, "files": files}), encoding="utf-8")
    got = {s.file: (s.warnings, s.explained) for s in State(tmp_path).summaries()}
    assert got == {"a.xlsx": (14, 1), "b.xlsx": (0, 47), "c.xlsx": (2, 0)}

    state = State(tmp_path)
    state.save()
    saved = json.loads((tmp_path / STATE_FILE).read_text(encoding="utf-8"))
    assert saved["version"] == STATE_VERSION == 2
    assert {s.file: s.warnings for s in State(tmp_path).summaries()} == {"a.xlsx": 14, "b.xlsx": 0, "c.xlsx": 2}
