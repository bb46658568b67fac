"""Data problems that name file, ticker, row and rule, and the error that carries them."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

MAX_LISTED = 25


@dataclass(frozen=True)
class DataProblem:
    file: str
    rule: str
    detail: str
    ticker: str | None = None
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.ticker is not None:
            where.append(f"ticker {self.ticker}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: [{self.rule}] {self.detail}"


class DataValidationError(ValueError):
    """Input data that cannot be used; lists every problem found (the first MAX_LISTED in full)."""

    def __init__(self, problems: list[DataProblem]):
        self.problems = problems
        shown = "\n".join(f"  - {p}" for p in problems[:MAX_LISTED])
        more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        super().__init__(f"{len(problems)} data problem(s):\n{shown}{more}")

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([p.__dict__ for p in self.problems])
