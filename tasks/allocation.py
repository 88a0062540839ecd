"""The allocation backtest stages: targets -> drifted weights -> costed returns -> metrics.

Plus, per LSTM allocator, the model trained on the latest window and the weights it gives
at the last date.

The LSTM trainings (in ``allocation_targets`` and ``lstm_model``) report their progress:
the task logs each training's seed, training date and loss to the run's logger (the first
epoch and every fifth of the epochs), and passes every epoch to the listener in
:data:`LSTM_PROGRESS`, if one is set (a terminal progress bar).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from portflow.config.allocation import AllocationTargetsConfig, LSTMModelParams
from portflow.quant.allocation.backtest import (
    allocation_targets,
    allocation_weights,
    backtest_metrics,
    backtest_returns,
    backtest_seed_summary,
)
from portflow.quant.allocation.lstm import EpochProgress, lstm_latest_weights, lstm_model
from tasks.stage import Stage, available_cores, run_logger

LSTM_PROGRESS: ContextVar[Callable[[str, EpochProgress], None] | None] = ContextVar(
    "lstm_progress", default=None
)
"""A callable that receives ``(stage, EpochProgress)`` after every epoch of every LSTM
training (``EpochProgress.fits * EpochProgress.epochs`` calls per stage); set it around
the flow call (``LSTM_PROGRESS.set(callback)``) to follow the trainings outside Prefect's
UI. Calls come from several threads, one at a time."""


def lstm_progress(stage: str) -> Callable[[EpochProgress], None]:
    """The progress callback of one LSTM stage's task (made in the task's thread): log lines
    to the run's logger and every epoch to the :data:`LSTM_PROGRESS` listener."""
    logger = run_logger()
    listener = LSTM_PROGRESS.get()
    lock = threading.Lock()

    def report(event: EpochProgress) -> None:
        every = max(1, event.epochs // 5)
        if event.epoch == 1 or event.epoch % every == 0:
            logger.info(
                "[%s] LSTM seed %d trained to %s (%d training%s): epoch %d/%d, loss %.4f "
                "(minus the annualized training Sharpe ratio)",
                stage,
                event.seed,
                f"{event.train_end:%Y-%m-%d}",
                event.fits,
                "s" if event.fits > 1 else "",
                event.epoch,
                event.epochs,
                event.loss,
            )
        if listener is not None:
            with lock:
                listener(stage, event)

    return report


def _targets_runtime() -> dict[str, Any]:
    return {"workers": available_cores(), "on_epoch": lstm_progress("allocation_targets")}


def _model_runtime() -> dict[str, Any]:
    return {"on_epoch": lstm_progress("lstm_model")}


ALLOCATION_TARGETS = Stage(
    "allocation_targets",
    allocation_targets,
    inputs=("daily_returns",),
    config="allocation",
    fields=tuple(AllocationTargetsConfig.model_fields),  # all but data and costs
    context=("benchmark",),
    runtime=_targets_runtime,
)
ALLOCATION_WEIGHTS = Stage(
    "allocation_weights", allocation_weights, inputs=("daily_returns", "allocation_targets")
)
BACKTEST_RETURNS = Stage(
    "backtest_returns",
    backtest_returns,
    inputs=("daily_returns", "allocation_weights"),
    config="allocation.costs",
)
BACKTEST_METRICS = Stage(
    "backtest_metrics",
    backtest_metrics,
    inputs=("backtest_returns", "allocation_targets", "risk_free_daily"),
)
BACKTEST_SEED_SUMMARY = Stage(
    "backtest_seed_summary", backtest_seed_summary, inputs=("backtest_metrics",)
)
LSTM_MODEL = Stage(
    "lstm_model",
    lstm_model,
    inputs=("daily_returns",),
    config="allocation",
    context=("allocator", "benchmark"),
    params=LSTMModelParams.from_allocation,
    runtime=_model_runtime,
)
LSTM_LATEST_WEIGHTS = Stage(
    "lstm_latest_weights",
    lstm_latest_weights,
    inputs=("daily_returns", "lstm_model"),
    config="allocation",
    context=("allocator", "benchmark"),
    params=LSTMModelParams.from_allocation,
)

ALLOCATION = (
    ALLOCATION_TARGETS,
    ALLOCATION_WEIGHTS,
    BACKTEST_RETURNS,
    BACKTEST_METRICS,
    BACKTEST_SEED_SUMMARY,
)
"""In DAG order; context ``benchmark`` (left out of the universe when tickers is null)."""
LSTM = (LSTM_MODEL, LSTM_LATEST_WEIGHTS)
"""Per LSTM allocator; context ``allocator`` (its name) and ``benchmark``."""
