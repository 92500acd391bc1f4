"""One exception type for bad input, so the CLI can print one clear line and exit non-zero."""
from __future__ import annotations


class SpecError(ValueError):
    """A malformed or contradictory input file (params.yaml, paper.yaml) or an unknown name.

    The message always names the file, the key and the reason (and the line when known).
    """

    def __init__(self, file: str, key: str, reason: str, line: int | None = None) -> None:
        self.file, self.key, self.reason, self.line = file, key, reason, line
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key}: {reason}")


class DataMissingError(SpecError):
    """A data set (or part of one) that is not on disk; the message says what is missing and how to get it:
    the command that fetches it, or what the user must place where when there is no public download."""

    def __init__(self, path: str, dataset: str, remedy: str) -> None:
        super().__init__(path, dataset, f"missing; {remedy}")


class ChecksumError(SpecError):
    """A downloaded file whose checksum is not the published one."""

    def __init__(self, path: str, algorithm: str, expected: str, actual: str) -> None:
        super().__init__(path, algorithm, f"checksum mismatch: expected {expected}, got {actual}")
