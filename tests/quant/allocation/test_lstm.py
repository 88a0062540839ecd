"""The LSTM allocator: trains in seconds, long-only, deterministic, walk-forward, reloadable."""

import io
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
import torch

from portflow.config import SampleData
from portflow.config.allocation import LSTMAllocatorConfig
from portflow.errors import DataError
from portflow.quant.allocation.allocators import investable_returns
from portflow.quant.allocation.backtest import allocation_targets, backtest
from portflow.quant.allocation.lstm import (
    EpochProgress,
    LSTMAllocator,
    WalkForwardLSTM,
    fit_concurrently,
    lstm_latest_weights,
    lstm_model,
    return_features,
)
from portflow.quant.allocation.sharpe_network import frame_to_state_dict, state_dict_to_frame
from portflow.quant.prices import price_panel
from portflow.quant.returns import daily_returns
from portflow.sources.sample import SampleSource

TINY = dict(lookback=10, hidden_size=8, vol_window=10, epochs=15, learning_rate=0.01)
"""A configuration that trains in well under a second on one thread."""


@pytest.fixture(scope="module")
def sample_returns() -> pd.DataFrame:
    data = SampleSource(
        SampleData(
            universe="sp500_20",
            start="2012-01-01",
            end="2013-12-31",
            tickers=("AAPL", "JNJ", "KO", "XOM"),
        )
    ).load()
    return daily_returns(price_panel(data.daily))


@pytest.fixture(scope="module")
def assets(sample_returns) -> pd.DataFrame:
    return investable_returns(sample_returns, None, "SP500")


@pytest.fixture(scope="module")
def fitted(assets) -> LSTMAllocator:
    return LSTMAllocator(**TINY, seed=3).fit(assets.iloc[:200])


def test_trains_on_sample_data_into_long_only_weights(fitted, assets):
    weights = fitted.predict(assets.iloc[:200])
    assert list(weights.index) == list(assets.columns)
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert fitted.n_samples_ == 200 - (10 + 10 - 1)
    assert fitted.train_end_ == assets.index[199]
    # it optimizes the objective: the training Sharpe ratio rose while training
    assert fitted.train_sharpe_ > -fitted.loss_history_[0] + 0.5


def test_same_seed_same_weights_other_seed_other_weights(fitted, assets):
    window = assets.iloc[:200]
    again = LSTMAllocator(**TINY, seed=3).fit(window)
    for mine, theirs in zip(
        fitted.network_.state_dict().values(), again.network_.state_dict().values(), strict=True
    ):
        assert torch.equal(mine, theirs)
    pd.testing.assert_series_equal(fitted.predict(window), again.predict(window), check_exact=True)
    other = LSTMAllocator(**TINY, seed=4).fit(window)
    assert not np.allclose(other.predict(window), fitted.predict(window))


def test_fits_in_concurrent_threads_equal_fits_in_turn(assets):
    """Prefect runs tasks in threads: seeding torch's global RNG must not interleave."""
    from concurrent.futures import ThreadPoolExecutor

    window = assets.iloc[:150]

    def fit(seed):
        return LSTMAllocator(**TINY, seed=seed).fit(window).predict(window).to_numpy()

    in_turn = [fit(seed) for seed in range(4)]
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(fit, range(4)))
    for mine, theirs in zip(concurrent, in_turn, strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_fit_leaves_the_callers_torch_state_alone(assets):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    LSTMAllocator(**TINY, seed=0).fit(assets.iloc[:100])
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.utils.deterministic.fill_uninitialized_memory == fill


def test_skipping_the_nan_fill_of_new_tensors_gives_the_same_bits(assets, monkeypatch):
    """Training does not fill new tensors with NaN (a debugging aid that costs time): no
    operation reads memory it did not write, so the weights equal those of one that fills."""
    from portflow.quant.allocation import sharpe_network

    window = assets.iloc[:150]
    fast = LSTMAllocator(**TINY, seed=5).fit(window)
    settings = sharpe_network.torch_settings

    @contextmanager
    def filling():
        with settings():
            torch.utils.deterministic.fill_uninitialized_memory = True
            yield

    monkeypatch.setattr(sharpe_network, "torch_settings", filling)
    filled = LSTMAllocator(**TINY, seed=5).fit(window)
    for name, tensor in fast.network_.state_dict().items():
        assert torch.equal(tensor, filled.network_.state_dict()[name]), name
    assert list(fast.loss_history_) == list(filled.loss_history_)


def test_fit_concurrently_gives_the_bits_of_fits_in_turn_and_reports_every_epoch(assets):
    jobs = [(seed, assets.iloc[start : start + 120]) for seed in (0, 1) for start in (0, 40)]
    in_turn = [LSTMAllocator(**TINY, seed=seed).fit(window) for seed, window in jobs]
    events: list[EpochProgress] = []
    concurrent = fit_concurrently(
        [(LSTMAllocator(**TINY, seed=seed), window) for seed, window in jobs],
        workers=2,
        on_epoch=events.append,
    )
    for mine, theirs in zip(concurrent, in_turn, strict=True):
        for name, tensor in theirs.network_.state_dict().items():
            assert torch.equal(mine.network_.state_dict()[name], tensor), name
    assert len(events) == len(jobs) * TINY["epochs"]
    assert {event.fits for event in events} == {len(jobs)}
    first = sorted(
        (e for e in events if e.seed == 1 and e.train_end == jobs[-1][1].index[-1]),
        key=lambda e: e.epoch,
    )
    assert [e.epoch for e in first] == list(range(1, TINY["epochs"] + 1))
    assert [e.loss for e in first] == list(in_turn[-1].loss_history_)


def test_backtest_trains_its_lstms_ahead_concurrently_with_the_same_targets(sample_returns):
    """allocation_targets trains every walk-forward model first, ``workers`` at a time:
    the targets are those of trainings in turn, and each training reports its epochs."""
    spec = LSTMAllocatorConfig(**TINY, retrain_every=3, seeds=(0, 1))
    params = dict(allocators=(spec,), estimation_window=120, benchmark="SP500")
    in_turn = allocation_targets(sample_returns, **params)
    events: list[EpochProgress] = []
    concurrent = allocation_targets(sample_returns, **params, workers=3, on_epoch=events.append)
    pd.testing.assert_frame_equal(concurrent, in_turn, check_exact=True)
    dates = sorted(set(in_turn["date"]))
    trainings = 2 * len(dates[::3])
    assert len(events) == trainings * TINY["epochs"]
    assert {e.train_end for e in events} == set(dates[::3])
    allocator = WalkForwardLSTM(retrain_every=3, **TINY, seed=0)
    allocator.use_trained(dates[0], LSTMAllocator(**TINY).fit(sample_returns.iloc[1:150]))
    with pytest.raises(ValueError, match="trained ahead .* not on the window"):
        backtest(
            investable_returns(sample_returns, None, "SP500"), allocator, estimation_window=120
        )


def test_features_are_returns_and_rolling_volatility_scaled_on_the_training_window(fitted, assets):
    window = assets.iloc[:200].to_numpy()
    features = return_features(window, 10)
    np.testing.assert_array_equal(features[:, :4], window[9:])
    np.testing.assert_allclose(features[5, 4:], window[5:15].std(axis=0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(fitted.feature_mean_, features.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(fitted.feature_scale_, features.std(axis=0), rtol=1e-12)
    buffers = fitted.network_.state_dict()
    np.testing.assert_allclose(buffers["feature_mean"].numpy(), features.mean(axis=0), rtol=1e-6)


def test_training_never_reads_after_its_window(fitted, assets):
    """Perturb every return after the training window: the fitted network is identical."""
    perturbed = assets.copy()
    perturbed.iloc[200:] = np.random.default_rng(0).normal(0, 0.1, perturbed.iloc[200:].shape)
    refit = LSTMAllocator(**TINY, seed=3).fit(perturbed.iloc[:200])
    for name, tensor in fitted.network_.state_dict().items():
        assert torch.equal(tensor, refit.network_.state_dict()[name]), name


def test_walk_forward_trains_only_on_windows_ending_at_the_retraining_date(assets):
    allocator = WalkForwardLSTM(retrain_every=3, **TINY, seed=1)
    result = backtest(assets, allocator, estimation_window=120, rebalance="monthly")
    dates = result.targets.index
    assert [fit["date"] for fit in allocator.fits_] == list(dates[::3])
    for fit in allocator.fits_:
        end = assets.index.get_loc(fit["date"])
        assert fit["train_end"] == fit["date"]
        assert fit["train_start"] == assets.index[end - 119]
    # Each model's test window (the dates it allocates) starts after its training data ends.
    for number, fit in enumerate(allocator.fits_):
        tested = dates[number * 3 : number * 3 + 3]
        assert tested[0] == fit["train_end"] and (tested >= fit["train_end"]).all()
    held = result.targets.to_numpy()
    assert (held >= 0).all() and np.allclose(held.sum(axis=1), 1.0, atol=1e-12)


def test_walk_forward_decisions_ignore_the_future(assets):
    first = backtest(assets, WalkForwardLSTM(retrain_every=2, **TINY), estimation_window=120)
    cutoff = first.targets.index[4]
    perturbed = assets.copy()
    perturbed.loc[perturbed.index > cutoff] = 0.03
    second = backtest(perturbed, WalkForwardLSTM(retrain_every=2, **TINY), estimation_window=120)
    pd.testing.assert_frame_equal(first.targets.loc[:cutoff], second.targets.loc[:cutoff])
    assert not np.allclose(first.targets.iloc[5:], second.targets.iloc[5:])


def test_state_dict_frame_round_trips_through_parquet_and_predicts_identically(fitted, assets):
    frame = state_dict_to_frame(fitted.network_)
    assert list(frame.columns) == ["name", "shape", "dtype", "data"]
    assert set(frame["name"]) >= {"feature_mean", "feature_scale", "head.weight"}
    row = frame.set_index("name").loc["head.weight"]
    assert row["shape"] == "[4, 8]" and row["dtype"] == "float32" and len(row["data"]) == 4 * 32
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    reloaded_frame = pd.read_parquet(io.BytesIO(buffer.getvalue()))
    state = frame_to_state_dict(reloaded_frame)
    for name, tensor in fitted.network_.state_dict().items():
        assert torch.equal(state[name], tensor) and state[name].dtype == tensor.dtype
    reloaded = LSTMAllocator(**TINY, seed=99).load_state_frame(reloaded_frame, list(assets.columns))
    window = assets.iloc[150:300]
    pd.testing.assert_series_equal(
        reloaded.predict(window), fitted.predict(window), check_exact=True
    )
    with pytest.raises(DataError, match="does not fit 3 assets"):
        LSTMAllocator(**TINY).load_state_frame(reloaded_frame, ["AAPL", "JNJ", "KO"])


def test_model_stages_train_on_the_latest_window_and_reload_for_prediction(sample_returns, assets):
    settings = dict(TINY, num_layers=1, window=150, seed=2, benchmark="SP500")
    frame = lstm_model(sample_returns, **settings)
    expected = LSTMAllocator(**TINY, seed=2).fit(assets.iloc[-150:]).predict(assets)
    latest = lstm_latest_weights(sample_returns, frame, **settings)
    assert list(latest.index) == list(assets.columns) and latest.index.name == "ticker"
    assert (latest["date"] == assets.index[-1]).all()
    np.testing.assert_array_equal(latest["weight"].to_numpy(), expected.to_numpy())


def test_short_windows_are_errors_that_say_what_is_needed(assets):
    with pytest.raises(DataError, match=r"\[lstm\] window: training needs at least 39 days"):
        LSTMAllocator(**TINY).fit(assets.iloc[:30])
    with pytest.raises(DataError, match="a prediction needs at least 19 days"):
        LSTMAllocator(**TINY).fit(assets.iloc[:60]).predict(assets.iloc[:10])
