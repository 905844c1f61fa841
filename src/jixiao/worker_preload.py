"""Imported by the batch's forkserver only (`batch._context`): the default rule pack is loaded
there once, so every worker forked from the server starts with it instead of parsing the YAML
and building the pandera schemas itself (~0.1-0.3 s per worker, a tenth of a 2,000-file run)."""

from __future__ import annotations

import contextlib

# A failure here must not stop the forkserver: the worker then loads the pack itself and
# reports the problem the usual way.
with contextlib.suppress(Exception):
    from .batch import worker_pack
    from .check import prepare

    prepare(worker_pack(None))
