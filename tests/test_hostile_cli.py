"""Issue 7 §1/§3 at the command line: never a traceback, a bug in one file does not stop the
others, a closed pipe ends quietly, inputs stay byte-identical and no partial output is left."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from jixiao.atomic import write_atomic, write_bytes_atomic
from jixiao.errors import CannotCheck, InternalError, guard, internal_error

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "workbook_templates" / "示例_衡山县人民政府办公室_2023.xlsx"


def env() -> dict[str, str]:
    e = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    e.pop("JIXIAO_DEBUG", None)
    return e


def cli(*args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jixiao", *map(str, args)], capture_output=True, text=True,
                          encoding="utf-8", timeout=timeout, env=env(), cwd=ROOT)


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


# --- guard / internal errors ------------------------------------------------------------------


def test_guard_passes_cannot_check_and_wraps_the_rest() -> None:
    with pytest.raises(CannotCheck) as info, guard():
        raise CannotCheck("文件不对", code="X")
    assert info.value.code == "X"
    with pytest.raises(InternalError) as info2, guard():
        {}["missing"]  # the bug under test
    assert info2.value.code == "INTERNAL"
    assert info2.value.message.startswith("内部错误：KeyError")
    assert info2.value.message.endswith("（请将文件发送给维护人员）")
    with pytest.raises(KeyboardInterrupt), guard():
        raise KeyboardInterrupt


def test_internal_error_message_is_one_line() -> None:
    msg = internal_error(ValueError("first line\nsecond line")).message
    assert "\n" not in msg and "first line" in msg


def test_cannot_check_survives_pickling() -> None:
    import pickle

    exc = pickle.loads(pickle.dumps(CannotCheck("消息", code="CUSTOM")))
    assert (type(exc), exc.code, exc.message) == (CannotCheck, "CUSTOM", "消息")


BOOM = """
import sys
import jixiao.pipeline as p
real = p.locate
def locate(grid):
    if "boom" in grid.source:
        raise ZeroDivisionError("simulated bug")
    return real(grid)
p.locate = locate
from jixiao.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_cli_bug_in_one_file_is_reported_and_the_others_run(tmp_path: Path) -> None:
    boom = tmp_path / "boom.xlsx"
    boom.write_bytes(EXAMPLE.read_bytes())
    good = tmp_path / "good.xlsx"
    good.write_bytes(EXAMPLE.read_bytes())
    proc = subprocess.run([sys.executable, "-c", BOOM, "--dump", str(boom), str(good)], capture_output=True,
                          text=True, encoding="utf-8", timeout=120, env=env(), cwd=ROOT)
    assert proc.returncode == 3
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "boom.xlsx" in proc.stderr and "内部错误：ZeroDivisionError" in proc.stderr
    assert "请将文件发送给维护人员" in proc.stderr
    assert '"source": "good.xlsx"' in proc.stdout  # the next file was still checked


def test_cli_bug_in_default_action_has_no_traceback(tmp_path: Path) -> None:
    boom = tmp_path / "boom.xlsx"
    boom.write_bytes(EXAMPLE.read_bytes())
    proc = subprocess.run([sys.executable, "-c", BOOM, str(boom)], capture_output=True, text=True,
                          encoding="utf-8", timeout=120, env=env(), cwd=ROOT)
    assert proc.returncode == 3
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "内部错误" in proc.stdout + proc.stderr


# --- closed stdout ----------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [["--dump"], []])
def test_cli_closed_pipe_is_quiet(extra: list[str]) -> None:
    """`check-workbook … | head`: the reader goes away, we end without a word on stderr."""
    files = [str(EXAMPLE)] * 8  # far more than a pipe buffer of output
    proc = subprocess.Popen([sys.executable, "-m", "jixiao", *extra, *files], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env(), cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(100)
    proc.stdout.close()
    err = proc.stderr.read().decode("utf-8", "replace")
    code = proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err
    assert code in (0, 1, 2, 3, 141)


def test_cli_head_in_a_shell() -> None:
    if sys.platform == "win32":
        pytest.skip("POSIX shell")
    cmd = f'"{sys.executable}" -m jixiao --dump "{EXAMPLE}" "{EXAMPLE}" "{EXAMPLE}" "{EXAMPLE}" | head -n 3'
    proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, encoding="utf-8", timeout=120,
                          env=env(), cwd=ROOT)
    assert proc.stdout.count("\n") == 3
    assert proc.stderr == ""


# --- nothing lost -------------------------------------------------------------------------------


def _hostile_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "收件"
    (folder / "子目录").mkdir(parents=True)
    ex = EXAMPLE.read_bytes()
    (folder / "好.xlsx").write_bytes(ex)
    (folder / "子目录" / "好2.xlsx").write_bytes(ex)
    (folder / "截断.xlsx").write_bytes(ex[: len(ex) // 3])
    (folder / "乱码.xlsx").write_bytes(os.urandom(4096))
    (folder / "空.xlsx").write_bytes(b"")
    (folder / "文本.xls").write_text("a,b\n1,2\n", encoding="utf-8")
    ro = folder / "只读.xlsx"
    ro.write_bytes(ex)
    ro.chmod(0o444)
    return folder


def test_inputs_byte_identical_after_single_file_runs(tmp_path: Path) -> None:
    folder = _hostile_folder(tmp_path)
    before = tree_digest(folder)
    inputs = sorted(folder.rglob("*.xls*"))
    for p in inputs:
        proc = cli(p)
        assert proc.returncode in (0, 1, 2, 3)
        assert "Traceback" not in proc.stdout + proc.stderr
        proc = cli("--dump", p)
        assert "Traceback" not in proc.stdout + proc.stderr
    after = tree_digest(folder)
    assert {k: after[k] for k in before} == before  # every input byte-identical
    new = sorted(set(after) - set(before))
    assert not [n for n in new if Path(n).name.startswith(".~tmp-")]  # no half-written files
    for failed in ("截断", "乱码", "空", "文本"):  # nothing written for a file that could not be checked
        assert not [n for n in new if Path(n).name.startswith(failed)]


def test_batch_inputs_identical_outputs_whole(tmp_path: Path) -> None:
    """A folder run with annotated copies: inputs untouched, no temp files left, every output
    complete, and nothing written for the files that could not be checked but the roll-up."""
    folder = _hostile_folder(tmp_path)
    out = tmp_path / "结果"
    before = tree_digest(folder)
    proc = cli(folder, "--out", out, "--annotate", "always", "--jobs", "2")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert tree_digest(folder) == before
    produced = [p for p in out.rglob("*") if p.is_file()]
    assert not [p for p in produced if p.name.startswith(".~tmp-")]
    for p in produced:
        if p.suffix == ".xlsx":
            assert zipfile.ZipFile(p).testzip() is None
    stems = {p.name.split(".")[0] for p in produced}
    assert not stems & {"截断", "乱码", "空", "文本"}


def test_killed_batch_leaves_no_partial_output(tmp_path: Path) -> None:
    """Kill a run at an arbitrary moment: whatever carries a final name is complete."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(12):
        (folder / f"单位{i:02d}.xlsx").write_bytes(EXAMPLE.read_bytes())
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "jixiao", str(folder), "--out", str(out), "--annotate", "always",
                             "--jobs", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(),
                            cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out.exists() and any(out.glob("*.审核.xlsx"))):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    for p in out.rglob("*") if out.exists() else []:
        if p.is_file() and not p.name.startswith(".~tmp-"):
            if p.suffix == ".xlsx":
                assert zipfile.ZipFile(p).testzip() is None, p
            elif p.suffix == ".json":
                import json

                json.loads(p.read_text(encoding="utf-8"))


def test_atomic_write_failure_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out" / "报告.xlsx"

    def half(p: Path) -> None:
        p.write_bytes(b"PK\x03\x04 half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomic(target, half)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_atomic_write_failure_keeps_previous_version(tmp_path: Path) -> None:
    target = tmp_path / "报告.json"
    write_bytes_atomic(target, b'{"ok": 1}')

    def half(p: Path) -> None:
        p.write_bytes(b'{"ok"')
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        write_atomic(target, half)
    assert target.read_bytes() == b'{"ok": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["报告.json"]
