"""The allocation backtest stages: targets -> drifted weights -> costed returns -> metrics.

Plus, per LSTM allocator, the model trained on the latest window and the weights it gives
at the last date.
"""

from portflow.config.allocation import AllocationTargetsConfig, LSTMModelParams
from portflow.quant.allocation.backtest import (
    allocation_targets,
    allocation_weights,
    backtest_metrics,
    backtest_returns,
    backtest_seed_summary,
)
from portflow.quant.allocation.lstm import lstm_latest_weights, lstm_model
from tasks.stage import Stage

ALLOCATION_TARGETS = Stage(
    "allocation_targets",
    allocation_targets,
    inputs=("daily_returns",),
    config="allocation",
    fields=tuple(AllocationTargetsConfig.model_fields),  # all but data and costs
    context=("benchmark",),
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
