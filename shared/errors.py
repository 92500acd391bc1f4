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
