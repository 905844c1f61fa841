"""Imported by the batch's forkserver only (`batch._context`). Every worker is forked from the
server, so what is done here once is done for all of them:

- the default rule pack is loaded and its pandera schemas built (~0.1-0.3 s per worker);
- the bundled example workbooks (in a source checkout: workbook_templates/ beside rules/)
  are checked once, which pays what a worker's first files
  cost beyond the others (lazy imports inside pandas, pandera and numpy, compiled patterns,
  the label and value caches): about a fifth more for a worker's first chunk.
"""

from __future__ import annotations

import contextlib
from itertools import cycle, islice
from pathlib import Path

WARM_UP_MODELS = 8  # enough for the batch's vector screen (check.engine.SCREEN_MIN_MODELS)


def example_workbooks() -> list[Path]:
    """The bundled examples (workbook_templates/ beside the built-in rule packs)."""
    from .check.rulepack import builtin_roots

    for root in builtin_roots():
        found = examples_in(root.parent / "workbook_templates")
        if found:
            return found
    return []


def examples_in(folder: Path) -> list[Path]:
    """示例_*.xlsx in `folder`, without the annotated copies that the README's first command
    leaves beside them."""
    from .batch import is_candidate

    return sorted(p for p in folder.glob("示例_*.xlsx") if is_candidate(p.name, folder))


def warm_up(paths: list[Path]) -> int:
    """Check `paths` as a batch worker would (nothing is written); the number of models checked."""
    from .batch import worker_pack
    from .errors import CannotCheck
    from .pipeline import judge, load

    loaded = []
    for p in islice(cycle(paths), WARM_UP_MODELS if paths else 0):
        with contextlib.suppress(CannotCheck):
            loaded.append(load(p))
    if loaded:
        judge([m for m, _ in loaded], [n for _, n in loaded], worker_pack(None))
    return len(loaded)


# A failure here must not stop the forkserver: the worker then loads the pack itself and
# reports the problem the usual way.
with contextlib.suppress(Exception):
    from .batch import worker_pack
    from .check import prepare

    prepare(worker_pack(None))
    warm_up(example_workbooks())
