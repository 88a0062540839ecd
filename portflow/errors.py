"""Errors that name the stage, the field and the fix.

Every error a user can cause (bad config, bad data, a corrupt artifact) is a
:class:`PortflowError`. Its message always reads::

    [stage] field: problem. Fix: what to do.

so that a failed run tells the user where to look without a traceback.
"""

from __future__ import annotations

import logging
import os


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


RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")
"""Where Prefect logs a failed flow or task run, with the exception's traceback."""


class UserErrorTraceback(logging.Filter):
    """Drop the traceback from Prefect's log of a run that failed with a
    :class:`PortflowError`: the message names the stage, the field and the fix, so the
    traceback (about 50 lines per run, twice: the task and the flow) only hides it. The line
    stays, in the terminal and in the Prefect UI. It, and the runs' later lines that repeat
    the error (their final states), are marked ``user_error``, so that the CLI can leave
    them out of the terminal, where it prints the error itself. A bug's traceback stays.
    With ``PORTFLOW_DEBUG=1`` (``portflow --debug``) nothing is changed."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, None] = {}  # messages of the user errors logged, newest last

    def filter(self, record: logging.LogRecord) -> bool:
        if os.environ.get("PORTFLOW_DEBUG"):
            return True
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, PortflowError):
            record.exc_info = record.exc_text = None
            record.user_error = True
            self.seen[str(error)] = None
            while len(self.seen) > 16:
                del self.seen[next(iter(self.seen))]
        elif error is None and any(seen in record.getMessage() for seen in self.seen):
            record.user_error = True
        return True


def quiet_user_error_tracebacks() -> None:
    """Install one :class:`UserErrorTraceback` on Prefect's run loggers (once)."""
    loggers = [logging.getLogger(name) for name in RUN_LOGGERS]
    if any(isinstance(f, UserErrorTraceback) for f in loggers[0].filters):
        return
    quiet = UserErrorTraceback()
    for logger in loggers:
        logger.addFilter(quiet)
