"""`--format json`: the check results for machines.

One document for all files given: tool and rule-pack identity, the worst exit code, and per
file its counts, findings (cell, rule, severity, expected/actual/diff, interval), the file's
notices and, when scoring ran, `result.review.to_json()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

from .. import __version__
from ..findings import Severity, sort_key
from ..result import FileResult

SCHEMA_VERSION = 1


def file_json(result: FileResult) -> dict[str, Any]:
    d: dict[str, Any] = {"path": result.path, "checked": result.checked, "exit_code": result.exit_code}
    if not result.checked:
        d["failure"] = {"code": result.failure_code, "message": result.failure_message}
        return d
    model = result.model
    if model is not None:
        d["unit"] = model.unit_name or None
        d["year"] = model.year
    d["counts"] = {
        "error": result.count(Severity.ERROR),
        "warning": result.count(Severity.WARNING, explained=False),
        "warning_explained": result.count(Severity.WARNING, explained=True),
        "info": result.count(Severity.INFO),
    }
    d["findings"] = [f.to_json() for f in sorted(result.findings, key=sort_key)]
    notices = list(getattr(model, "notices", None) or [])
    if notices:
        d["notices"] = [{"code": n.code, "message": n.message, "sheet": n.sheet or None, "cell": n.cell or None}
                        for n in notices]
    review = result.review
    to_json = getattr(review, "to_json", None) if review is not None else None
    if callable(to_json):
        d["review"] = to_json()
    if result.outputs:
        d["outputs"] = list(result.outputs)
    return d


def report_json(results: Sequence[FileResult], *, rules: Any = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"tool": "check-workbook", "version": __version__, "schema": SCHEMA_VERSION}
    if rules is not None:
        doc["rules"] = {"id": getattr(rules, "id", ""), "version": getattr(rules, "version", ""),
                        "title": getattr(rules, "title", ""), "lineage": list(getattr(rules, "lineage", []))}
    doc["exit_code"] = max((r.exit_code for r in results), default=0)
    doc["files"] = [file_json(r) for r in results]
    return doc


def write_json(results: Sequence[FileResult], out: TextIO, *, rules: Any = None) -> None:
    import json

    json.dump(report_json(results, rules=rules), out, ensure_ascii=False, indent=1)
    out.write("\n")
