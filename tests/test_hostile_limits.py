"""Issue 7 §2: one file's time and memory are bounded (jixiao.safety helpers for batch workers)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jixiao.errors import CannotCheck, InternalError, NotAWorkbook, TimedOut, TooLarge
from jixiao.model import WorkbookModel
from jixiao.pipeline import load_model
from jixiao.safety import run_isolated, time_limit

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "workbook_templates" / "示例_衡山县人民政府办公室_2023.xlsx"

posix_only = pytest.mark.skipif(os.name != "posix", reason="resource limits are POSIX")


def _allocate(n: int) -> int:
    return len(bytearray(n))


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def _bug() -> None:
    raise KeyError("oops")


def test_run_isolated_returns_the_model() -> None:
    model = run_isolated(load_model, EXAMPLE, timeout_s=60)
    assert isinstance(model, WorkbookModel) and model.annex2 is not None


def test_run_isolated_reraises_cannot_check(tmp_path: Path) -> None:
    p = tmp_path / "x.xlsx"
    p.write_bytes(b"not a workbook")
    with pytest.raises(NotAWorkbook) as info:
        run_isolated(load_model, p, timeout_s=60)
    assert info.value.code == "NOT_A_WORKBOOK"


def test_run_isolated_timeout() -> None:
    t0 = time.monotonic()
    with pytest.raises(TimedOut) as info:
        run_isolated(_spin, 30, timeout_s=0.5)
    assert time.monotonic() - t0 < 10
    assert "超时" in info.value.message


@posix_only
def test_run_isolated_memory_cap() -> None:
    with pytest.raises(TooLarge) as info:
        run_isolated(_allocate, 3 << 30, timeout_s=60, mem_bytes=1 << 30)
    assert "内存" in info.value.message


@posix_only
def test_run_isolated_native_crash() -> None:
    with pytest.raises(CannotCheck) as info:
        run_isolated(os.abort, timeout_s=30)
    assert "异常退出" in info.value.message and "SIGABRT" in info.value.message


def test_run_isolated_bug_becomes_internal_error() -> None:
    with pytest.raises(InternalError) as info:
        run_isolated(_bug, timeout_s=30)
    assert "KeyError" in info.value.message and "维护人员" in info.value.message


@posix_only
def test_time_limit_interrupts_python_work() -> None:
    t0 = time.monotonic()
    with pytest.raises(TimedOut), time_limit(0.3):
        _spin(10)
    assert time.monotonic() - t0 < 3
    with time_limit(5):  # finished in time: the alarm is cancelled
        _spin(0.05)
    time.sleep(0.1)


@posix_only
def test_limit_current_process_in_a_worker() -> None:
    code = ("from jixiao.safety import limit_current_process\n"
            "limit_current_process(mem_bytes=1 << 30)\n"
            "try:\n    bytearray(3 << 30)\nexcept MemoryError:\n    print('capped')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "capped", proc.stderr
