"""Errors that name the stage, the field and the fix.

Every error a user can cause (bad config, bad data, a corrupt artifact) is a
:class:`PortflowError`. Its message always reads::

    [stage] field: problem. Fix: what to do.

so that a failed run tells the user where to look without a traceback.
"""

from __future__ import annotations


class PortflowError(Exception):
    """An error caused by the user's input or environment, not by a bug.

    Parameters
    ----------
    stage : str
        Pipeline stage (or ``"config"``, ``"store"``) where the problem was found.
    field : str
        Config path, column or ticker the problem is about.
    problem : str
        What is wrong, with the offending values (a few of them when there are many).
    fix : str
        What the user can do about it.
    """

    def __init__(self, stage: str, field: str, problem: str, fix: str) -> None:
        self.stage = stage
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"[{stage}] {field}: {problem}. Fix: {fix}")

    def __reduce__(self):
        # Rebuilt from its four parts when it crosses a process boundary (a process pool).
        return type(self), (self.stage, self.field, self.problem, self.fix)


class DataError(PortflowError):
    """Input data violates a stage's contract (missing ticker, NaN price, duplicate date…)."""


class ArtifactError(PortflowError):
    """An artifact is missing, corrupt or unreadable."""


def preview(values, limit: int = 5) -> str:
    """Render the first ``limit`` offending values, with a count of the rest.

    >>> preview(["a", "b", "c"], limit=2)
    'a, b (+1 more)'
    """
    values = [str(v) for v in values]
    head = ", ".join(values[:limit])
    rest = len(values) - limit
    return f"{head} (+{rest} more)" if rest > 0 else head
