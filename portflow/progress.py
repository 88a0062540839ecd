"""Progress bars in the terminal for the long parts of a run: the optimization sweep (one
step per finished chunk) and the LSTM trainings (one step per epoch of every training).

The flow reports both through listeners (:data:`flows.optimization.SWEEP_PROGRESS`,
:data:`tasks.allocation.LSTM_PROGRESS`); :func:`terminal_progress` sets them around the
flow call and draws them with Rich. Prefect's own log lines are printed through the same
console while the bars are shown, so they scroll above the bars instead of tearing them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

if TYPE_CHECKING:
    from flows.optimization import SweepProgress
    from portflow.quant.allocation.lstm import EpochProgress


class RunProgress:
    """The bars of one run: one per LSTM stage (epochs of all its trainings), one for the
    sweep (chunks, with solves per second)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.bars: dict[str, TaskID] = {}

    def _bar(self, key: str, description: str, total: int) -> TaskID:
        if key not in self.bars:
            self.bars[key] = self.progress.add_task(description, total=total, note="")
        return self.bars[key]

    def sweep(self, event: SweepProgress) -> None:
        """Listener of :data:`flows.optimization.SWEEP_PROGRESS`."""
        bar = self._bar("sweep", "optimization sweep (chunks)", event.chunks)
        rate = event.solves_done / event.seconds if event.seconds > 0 else 0.0
        self.progress.update(
            bar,
            completed=event.chunks_done,
            note=f"{event.solves_done:,} solves, {rate:,.0f}/s",
        )

    def lstm(self, stage: str, event: EpochProgress) -> None:
        """Listener of :data:`tasks.allocation.LSTM_PROGRESS`."""
        bar = self._bar(stage, f"{stage} (LSTM epochs)", event.fits * event.epochs)
        self.progress.update(
            bar, advance=1, note=f"seed {event.seed} to {event.train_end:%Y-%m-%d}"
        )


@contextmanager
def _prefect_logs_through(console: Console) -> Iterator[None]:
    """Print Prefect's console log handlers through ``console`` (the one drawing the bars)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    handlers = {
        handler
        for logger in loggers
        for handler in getattr(logger, "handlers", ())  # placeholders have none
        if isinstance(handler, PrefectConsoleHandler)
    }
    saved = {handler: handler.console for handler in handlers}
    for handler in handlers:
        handler.console = console
    try:
        yield
    finally:
        for handler, original in saved.items():
            handler.console = original


@contextmanager
def terminal_progress(console: Console) -> Iterator[None]:
    """Show the sweep's and the LSTM trainings' progress on ``console`` while the block runs
    (the flow call); nothing when ``console`` is not a terminal (logs and CI keep the
    Prefect log lines, which say the same)."""
    if not console.is_terminal:
        yield
        return
    from flows.optimization import SWEEP_PROGRESS
    from tasks.allocation import LSTM_PROGRESS

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
        console=console,
        transient=False,
    )
    bars = RunProgress(progress)
    sweep_token = SWEEP_PROGRESS.set(bars.sweep)
    lstm_token = LSTM_PROGRESS.set(bars.lstm)
    try:
        with progress, _prefect_logs_through(console):
            yield
    finally:
        LSTM_PROGRESS.reset(lstm_token)
        SWEEP_PROGRESS.reset(sweep_token)
