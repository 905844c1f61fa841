"""Outputs in a shared county folder: every output gets the permissions any new file gets (the
umask), and a run stopped with Ctrl-C leaves no temporary files and no worker behind."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbooks import EXAMPLE, ROOT

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions and signals")


def _env() -> dict[str, str]:
    e = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    e.pop("JIXIAO_DEBUG", None)
    return e


def _cli(*args: str | Path, umask: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jixiao", *map(str, args)], capture_output=True, text=True,
                          encoding="utf-8", timeout=180, env=_env(), cwd=ROOT, umask=umask)


def _modes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): oct(stat.S_IMODE(p.stat().st_mode))
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _inputs(folder: Path, names: list[str]) -> None:
    for name in names:
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(EXAMPLE.read_bytes())
        p.chmod(0o644)


@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["022", "027"])
def test_folder_outputs_get_the_mode_of_a_new_file(tmp_path: Path, umask: int) -> None:
    """Annotated copies and the roll-up: 0o666 & ~umask (mkstemp made them 0o600), also where an
    output of an earlier run with another mode is replaced."""
    folder, out = tmp_path / "in", tmp_path / "out"
    _inputs(folder, ["单位甲.xlsx", "乡镇/单位乙.xlsx"])
    out.mkdir()
    earlier = out / "汇总.json"  # as an earlier version left it
    earlier.write_text("{}", encoding="utf-8")
    earlier.chmod(0o600)
    proc = _cli(folder, "--out", out, "--annotate", "always", "--jobs", "2", umask=umask)
    assert proc.returncode == 2, proc.stdout + proc.stderr  # the example has errors
    want = oct(0o666 & ~umask)
    assert _modes(out) == {"乡镇/单位乙.审核.xlsx": want, "单位甲.审核.xlsx": want,
                           "汇总.csv": want, "汇总.json": want, "汇总.xlsx": want}


def test_drop_folder_outputs_get_the_mode_of_a_new_file(tmp_path: Path) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    _inputs(inbox, ["单位甲.xlsx"])
    proc = _cli("--watch", inbox, "--out", outbox, "--annotate", "always", "--settle", "0.2", "--jobs", "1",
                "--watch-exit-after", "1", "--watch-seconds", "120", umask=0o027)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _modes(outbox) == dict.fromkeys([".jixiao-state.json", "单位甲.审核.xlsx", "单位甲.结果.json",
                                            "汇总.csv", "汇总.json", "汇总.xlsx"], "0o640")


def _alive_in_group(pgid: int) -> list[int]:
    """Processes of group `pgid` that are not zombies (a zombie waits for a reaper, it runs nothing)."""
    if not Path("/proc/self/stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    alive = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # state, ppid, pgrp
            alive.append(int(stat_file.parent.name))
    return alive


def test_ctrl_c_leaves_no_temporary_files_and_no_workers(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the process group) while annotated copies are being written: exit 130 at
    once, and the copies in progress are removed, not left as `.~tmp-*` files."""
    folder, out = tmp_path / "in", tmp_path / "out"
    _inputs(folder, [f"单位{i:02d}.xlsx" for i in range(48)])
    proc = subprocess.Popen([sys.executable, "-m", "jixiao", str(folder), "--out", str(out), "--annotate",
                             "always", "--jobs", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, encoding="utf-8", env=_env(), cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # copies done and one being written
            if out.is_dir() and any(out.glob("*.审核.xlsx")) and any(out.glob(".~tmp-*")):
                break
            time.sleep(0.005)
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
        stopped_in = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert err.strip().endswith("已中断") and "Traceback" not in err
    assert stopped_in < 3.0
    assert not [p.name for p in out.rglob(".~tmp-*")]
    assert len(list(out.glob("*.审核.xlsx"))) < 48  # it was stopped mid-run
    deadline = time.monotonic() + 10  # the forkserver ends once it notices the run has ended
    while _alive_in_group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _alive_in_group(proc.pid) == []
