"""Errors that end the check of one file, each with a Chinese message for the user."""

from __future__ import annotations

# Exit codes (documented in README): 0 clean, 1 warnings only, 2 errors, 3 could not check.
EXIT_CLEAN = 0
EXIT_WARNINGS = 1
EXIT_ERRORS = 2
EXIT_UNCHECKABLE = 3


class CannotCheck(Exception):
    """The file cannot be checked. `code` is a stable ASCII id, `message` is Chinese."""

    code = "UNREADABLE"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def __str__(self) -> str:
        return self.message


class NotAWorkbook(CannotCheck):
    code = "NOT_A_WORKBOOK"


class EncryptedWorkbook(CannotCheck):
    code = "ENCRYPTED"


class CorruptWorkbook(CannotCheck):
    code = "CORRUPT"


class UnsafeWorkbook(CannotCheck):
    code = "UNSAFE"


class TooLarge(CannotCheck):
    code = "TOO_LARGE"


class NoAnnexFound(CannotCheck):
    code = "NO_ANNEX"
