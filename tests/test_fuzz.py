"""Issue 7 §4: hypothesis mutates the example workbook — zip bytes, XML of the parts, cell values
and types — and the tool must always answer: a model, or a `CannotCheck` with a Chinese message.
Never another exception, never a hang. In-process through the library for speed, plus a few
runs of the real CLI. The mutators are those of the offline run (bench/fuzz_run.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import fuzz_run  # noqa: E402
from jixiao.errors import CannotCheck, InternalError, TimedOut  # noqa: E402
from jixiao.pipeline import load_model_bytes  # noqa: E402

TIME_BOUND = 10.0  # seconds for one input, in-process (typical: well under 0.2 s)
CORPUS = fuzz_run.build_corpus()
STAGES = fuzz_run.Stages(CORPUS)
FUZZ = settings(max_examples=80, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def answer(data: bytes) -> tuple[str, float]:
    """The tool's answer for one input: "ok" or the CannotCheck code. Anything else fails."""
    t0 = time.perf_counter()
    try:
        model = load_model_bytes(data, "fuzz.xlsx")
    except (InternalError, TimedOut):
        raise
    except CannotCheck as exc:
        assert exc.message and any("\u4e00" <= ch <= "\u9fff" for ch in exc.message), exc.message
        return exc.code, time.perf_counter() - t0
    for _name, fn in STAGES.extra:  # check and score, when they work on the unmutated example
        fn(model)
    return "ok", time.perf_counter() - t0


@settings(FUZZ, max_examples=250)
@given(mutator=st.sampled_from(sorted(fuzz_run.MUTATORS)), rnd=st.randoms(use_true_random=False))
def test_any_mutation_gets_an_answer(mutator: str, rnd: object) -> None:
    data = fuzz_run.MUTATORS[mutator](rnd, CORPUS)  # type: ignore[arg-type]
    _, seconds = answer(data)
    assert seconds < TIME_BOUND


_SHEET_CELLS = [(name, ref) for name in CORPUS.sheets
                for ref in fuzz_run._REF.findall(CORPUS.members[name])][:400]


def _with_cell(sheet: str, ref: bytes, cell: bytes) -> bytes:
    members = dict(CORPUS.members)
    xml = members[sheet]
    for m in fuzz_run._CELL.finditer(xml):
        if b'r="' + ref + b'"' in m.group(0)[:40]:
            members[sheet] = xml[:m.start()] + cell + xml[m.end():]
            break
    return fuzz_run.rezip(members)


def _xml_text(s: str) -> bytes:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode("utf-8", "surrogatepass")


@FUZZ
@given(where=st.sampled_from(_SHEET_CELLS), text=st.text(max_size=60))
def test_any_text_in_any_cell(where: tuple[str, bytes], text: str) -> None:
    sheet, ref = where
    cell = b'<c r="' + ref + b'" t="inlineStr"><is><t xml:space="preserve">' + _xml_text(text) + b"</t></is></c>"
    answer(_with_cell(sheet, ref, cell))


@FUZZ
@given(where=st.sampled_from(_SHEET_CELLS),
       value=st.one_of(st.floats(), st.integers(min_value=-(10**30), max_value=10**30),
                       st.sampled_from(["1e999", "-0", "NaN", "", "0x10", "1,5"])),
       kind=st.sampled_from(["n", "str", "b", "e", "d", "formula", "formula_no_value"]))
def test_any_number_or_type_in_any_cell(where: tuple[str, bytes], value: object, kind: str) -> None:
    sheet, ref = where
    v = _xml_text(repr(value) if isinstance(value, float) else str(value))
    cell = {
        "n": b'<c r="' + ref + b'"><v>' + v + b"</v></c>",
        "str": b'<c r="' + ref + b'" t="str"><v>' + v + b"</v></c>",
        "b": b'<c r="' + ref + b'" t="b"><v>' + v + b"</v></c>",
        "e": b'<c r="' + ref + b'" t="e"><v>' + v + b"</v></c>",
        "d": b'<c r="' + ref + b'" t="d"><v>' + v + b"</v></c>",
        "formula": b'<c r="' + ref + b'"><f>SUM(A1:A2)</f><v>' + v + b"</v></c>",
        "formula_no_value": b'<c r="' + ref + b'"><f>SUM(A1:A2)</f></c>',
    }[kind]
    answer(_with_cell(sheet, ref, cell))


def test_fuzz_harness_flags_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness itself: an exception that is not CannotCheck is reported as a failure."""
    import jixiao.pipeline as pipeline

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(pipeline, "load_model_bytes", broken)
    out = fuzz_run.run_input(CORPUS.xlsx)
    assert out.failed and "ZeroDivisionError" in out.detail


def _cli_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("JIXIAO_DEBUG", None)
    return env


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(mutator=st.sampled_from(sorted(fuzz_run.MUTATORS)), rnd=st.randoms(use_true_random=False))
def test_cli_on_mutations(tmp_path: Path, mutator: str, rnd: object) -> None:
    data = fuzz_run.MUTATORS[mutator](rnd, CORPUS)  # type: ignore[arg-type]
    src = tmp_path / f"{mutator}.xlsx"
    src.write_bytes(data)
    out = tmp_path / "out"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "jixiao", str(src), "--out", str(out)], capture_output=True,
                          text=True, encoding="utf-8", errors="replace", timeout=120, env=_cli_env(), cwd=ROOT)
    assert time.perf_counter() - t0 < 60
    both = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1, 2, 3), both[-2000:]
    assert "Traceback" not in both, both[-2000:]
    assert both.strip(), "no message at all"
    assert src.read_bytes() == data  # the input is never touched


# Seeds of bench/fuzz_run.py that once crashed or hung the process, with what they found.
# Each runs in a child process: a regression must fail the test, not kill the test session.
REGRESSIONS = {
    15: "OLE sector chain loop: calamine grew a buffer until the process aborted",
    128: "OLE sector chain loop (as 15)",
    177: "OLE sector chain loop (as 15)",
    2431: "xls DIMENSIONS record with 1.5 billion rows: calamine reserved 538 GB and aborted",
    5448: "sharedStrings uniqueCount of 682 million: calamine reserved 16 GB and aborted",
    6667: "short BIFF record: Rust panic (caught), its message printed on stderr",
    12456: "ODS content.xml ending inside open elements: calamine looped forever",
    128546: "分值 '≤999…9' (80 nines) parsed to inf: OverflowError in the score stage",
}


@pytest.mark.parametrize("seed", sorted(REGRESSIONS))
def test_fuzz_regressions(seed: int) -> None:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import fuzz_run as f\n"
            "c = f.build_corpus(); name, data = f.mutation(int(sys.argv[2]), c)\n"
            "out = f.run_input(data, f.Stages(c))\n"
            "print(out.status, out.detail)")
    env = {**os.environ, "RUST_BACKTRACE": "1"}
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT / "bench"), str(seed)], capture_output=True,
                          text=True, encoding="utf-8", timeout=60, env=env, cwd=ROOT)
    assert proc.returncode == 0, f"{REGRESSIONS[seed]}: exit {proc.returncode}\n{proc.stderr[-1500:]}"
    assert proc.stdout.split()[0] in ("ok", "refused"), proc.stdout
    assert "panicked" not in proc.stderr


def test_overflowing_digits_are_text_not_inf() -> None:
    """Seed 128546: a run of nines overflows float() to inf; that is text, not a number."""
    from jixiao.model import _finite
    from jixiao.normalize import parse_value

    for kind in ("number", "money", "ratio", "target", "auto"):
        p = parse_value("≤" + "9" * 400, kind)
        assert p.number is None and not p.blank
    assert _finite("9" * 400) is None and _finite("30") == 30.0
