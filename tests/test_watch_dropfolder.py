"""The drop folder: files checked once they stop changing, results in OUTBOX, restart-safe."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jixiao.watch import STATE_FILE, watch

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
    assert "已停止" in err
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
