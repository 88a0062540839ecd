"""The terminal progress bars: the sweep's and the LSTM trainings' listeners drive them, and
Prefect's log lines print through the bars' console while they are shown."""

from __future__ import annotations

import io
import logging

import pandas as pd
from prefect.logging.handlers import PrefectConsoleHandler
from rich.console import Console

from flows.optimization import SWEEP_PROGRESS, SweepProgress
from portflow.progress import terminal_progress
from portflow.quant.allocation.lstm import EpochProgress
from tasks.allocation import LSTM_PROGRESS


def _terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120), out


def test_bars_follow_the_sweep_and_every_epoch_of_every_training():
    console, out = _terminal()
    with terminal_progress(console):
        sweep, lstm = SWEEP_PROGRESS.get(), LSTM_PROGRESS.get()
        for done in (1, 2, 3):
            sweep(SweepProgress(done, 3, 100 * done, seconds=0.5 * done))
        day = pd.Timestamp("2018-06-29")
        for seed in (0, 1):
            for epoch in range(1, 5):
                lstm("allocation_targets", EpochProgress(seed, day, epoch, 4, -1.0, fits=2))
        bars = {task.description: task for task in sweep.__self__.progress.tasks}
    sweep_bar = bars["optimization sweep (chunks)"]
    lstm_bar = bars["allocation_targets (LSTM epochs)"]
    assert (sweep_bar.completed, sweep_bar.total) == (3, 3)
    assert sweep_bar.fields["note"] == "300 solves, 200/s"
    assert (lstm_bar.completed, lstm_bar.total) == (8, 8)
    assert lstm_bar.fields["note"] == "seed 1 to 2018-06-29"
    text = out.getvalue()
    assert "optimization sweep (chunks)" in text and "8/8" in text
    # the listeners are unset again after the block
    assert SWEEP_PROGRESS.get() is None and LSTM_PROGRESS.get() is None


def test_prefect_log_lines_go_through_the_bars_console_and_come_back():
    console, out = _terminal()
    handler = PrefectConsoleHandler(stream=io.StringIO())
    logger = logging.getLogger("portflow.test_progress")
    logger.addHandler(handler)
    original = handler.console
    try:
        with terminal_progress(console):
            assert handler.console is console
            logger.warning("stage reused")
        assert handler.console is original
    finally:
        logger.removeHandler(handler)
    assert "stage reused" in out.getvalue()


def test_nothing_is_drawn_when_the_console_is_not_a_terminal():
    out = io.StringIO()
    with terminal_progress(Console(file=out, force_terminal=False)):
        assert SWEEP_PROGRESS.get() is None and LSTM_PROGRESS.get() is None
    assert out.getvalue() == ""
