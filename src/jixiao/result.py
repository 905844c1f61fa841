"""The outcome of checking one file, as the report stage and the batch roll-up see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import EXIT_CLEAN, EXIT_ERRORS, EXIT_UNCHECKABLE, EXIT_WARNINGS
from .findings import Finding, Severity
from .model import WorkbookModel


@dataclass(slots=True)
class FileResult:
    path: str
    model: WorkbookModel | None = None
    findings: list[Finding] = field(default_factory=list)
    review: Any = None  # score.ScoreReview, when scoring ran
    failure_code: str | None = None  # CannotCheck.code when the file could not be checked
    failure_message: str | None = None  # Chinese
    outputs: list[str] = field(default_factory=list)  # files written for this input
    carried: int = 0  # 审核说明 taken over from an earlier annotated copy (pipeline.load_with_copies)

    @property
    def checked(self) -> bool:
        return self.failure_code is None

    def count(self, severity: Severity, *, explained: bool | None = None) -> int:
        return sum(1 for f in self.findings if f.severity is severity
                   and (explained is None or f.explained == explained))

    @property
    def exit_code(self) -> int:
        if not self.checked:
            return EXIT_UNCHECKABLE
        if self.count(Severity.ERROR):
            return EXIT_ERRORS
        if self.count(Severity.WARNING, explained=False):
            return EXIT_WARNINGS
        return EXIT_CLEAN
