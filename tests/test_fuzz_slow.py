"""Issue 7 §4, at scale: the offline fuzz run of ≥ 10,000 mutations (bench/fuzz_run.py).

Marked slow (several minutes on two cores); deselect with ``-m "not slow"``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import fuzz_run  # noqa: E402


@pytest.mark.slow
def test_offline_fuzz_10k(tmp_path: Path) -> None:
    report = fuzz_run.run(count=10_000, seed=0, save=tmp_path / "failures", progress=False)
    assert report.count == 10_000
    assert not report.failures, [(f["seed"], f["mutator"], f["detail"]) for f in report.failures[:10]]
    assert report.by_status["ok"] > 1000  # the mutations do reach the later stages
