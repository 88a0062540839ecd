"""An LSTM allocator trained to maximize the Sharpe ratio (torch, CPU).

After Zhang, Zohren & Roberts (2020), "Deep Learning for Portfolio Optimisation": an LSTM
reads a rolling window of features of every asset and a softmax turns its last hidden state
into long-only weights that sum to 1. It is trained on a window of past returns to maximize
the Sharpe ratio of the portfolio it would have held over that window (loss = minus the
annualized Sharpe ratio, full batch, Adam).

Features and timing
-------------------
Features are stationary, never price levels: for each asset on day ``s`` the return
``r_s`` and the rolling volatility ``std(r_{s-v+1..s}, ddof=1)`` (``v = vol_window``), so
``2 n_assets`` features a day. They are standardized with the mean and standard deviation
of the *training window's* feature rows, stored in the network as buffers (so they travel
with the state dict). A prediction at date ``t`` reads the features of the ``lookback`` days
ending at ``t`` (returns of the ``lookback + vol_window - 1`` days ending at ``t``) and its
weights earn ``r_{t+1}``. In training, the weights read at ``s`` are paid ``r_{s+1}`` for
every ``s`` of the training window with a full lookback and a next day inside the window,
so training never reads a return after the window's last day.

Walk-forward: :class:`WalkForwardLSTM` is the backtester's allocator. At a rebalance date it
is given the past window only; every ``retrain_every`` rebalances it trains a new
:class:`LSTMAllocator` on that window (the training window, ending at the rebalance date),
which then allocates over the following test window until the next retraining. Test data
cannot reach training: at no point does the allocator hold data after the current date.

Determinism: the same seed and data give the same weights, bit for bit, whether trainings
run in turn or concurrently (:func:`fit_concurrently` trains the independent models of a
backtest in threads, one torch thread each); see :mod:`portflow.quant.allocation.sharpe_network`,
which holds everything torch. This module imports torch only inside the methods that train
or run a network, so importing it (and the pipeline) costs no torch import.

Persistence: the artifact store holds DataFrames, so
:func:`~portflow.quant.allocation.sharpe_network.state_dict_to_frame` turns a state dict into
one row per tensor and :meth:`LSTMAllocator.load_state_frame` reloads it; the estimator's
settings are the artifact's params (``portflow.config.allocation.LSTMModelParams``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from portflow.errors import DataError, preview
from portflow.quant.allocation.allocators import investable_returns

MIN_TRAINING_SAMPLES = 20
"""Fewest (features, next-day return) pairs a training window must give."""


# -- features ------------------------------------------------------------------------------
def return_features(returns: np.ndarray, vol_window: int) -> np.ndarray:
    """Daily returns and their rolling volatility, side by side.

    Parameters
    ----------
    returns : ndarray of shape (n_days, n_assets)
        Simple daily decimal returns.
    vol_window : int
        Days of the rolling standard deviation (ddof=1).

    Returns
    -------
    ndarray of shape (n_days - vol_window + 1, 2 * n_assets)
        Row ``j`` belongs to day ``j + vol_window - 1``: its returns, then the volatility of
        the ``vol_window`` days ending there.
    """
    volatility = sliding_window_view(returns, vol_window, axis=0).std(axis=-1, ddof=1)
    return np.concatenate([returns[vol_window - 1 :], volatility], axis=1)


@dataclass(frozen=True)
class EpochProgress:
    """One epoch of one training: what a log line or a progress bar shows."""

    seed: int
    train_end: pd.Timestamp
    """Last day of the training window (the rebalance date it is trained at)."""
    epoch: int
    """Epochs done, from 1 to ``epochs``."""
    epochs: int
    loss: float
    """Minus the annualized training Sharpe ratio, before this epoch's step."""
    fits: int = 1
    """Trainings in the batch this one belongs to (a progress bar's total is
    ``fits * epochs`` events)."""


OnEpoch = Callable[[EpochProgress], None]
"""A progress callback: called after every epoch of every training, from the thread that
trains (with :func:`fit_concurrently`, from several threads at once)."""


# -- the estimator ---------------------------------------------------------------------------
class LSTMAllocator:
    """Long-only weights from an LSTM trained to maximize the Sharpe ratio.

    Parameters
    ----------
    lookback : int
        Days of features the LSTM reads for one decision.
    hidden_size, num_layers : int
        Size of the LSTM.
    vol_window : int
        Days of the rolling volatility feature.
    epochs : int
        Full-batch Adam steps.
    learning_rate : float
        Adam learning rate.
    seed : int
        Seed of the weights' initialization; same seed and data = same weights, bit for
        bit (trainings use one torch thread each).

    Attributes
    ----------
    network_ : portflow.quant.allocation.sharpe_network.SharpeLSTM
        The trained network (with the feature scaling buffers).
    assets_ : list of str
        Asset order of the weights.
    feature_mean_, feature_scale_ : ndarray of shape (2 * n_assets,)
        Training-window feature statistics.
    loss_history_ : ndarray of shape (epochs,)
        Loss (minus the annualized training Sharpe ratio) before each step.
    train_sharpe_ : float
        Annualized Sharpe ratio of the training portfolio after training.
    train_start_, train_end_ : Timestamp
        First and last day of the training window.
    n_samples_ : int
        Training pairs (features up to ``s``, return of ``s + 1``).
    """

    def __init__(
        self,
        lookback: int = 50,
        hidden_size: int = 64,
        num_layers: int = 1,
        vol_window: int = 20,
        epochs: int = 100,
        learning_rate: float = 0.01,
        seed: int = 0,
    ) -> None:
        self.lookback = lookback
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.vol_window = vol_window
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        """The settings of ``__init__`` (the model's config)."""
        names = (
            "lookback",
            "hidden_size",
            "num_layers",
            "vol_window",
            "epochs",
            "learning_rate",
            "seed",
        )
        return {name: getattr(self, name) for name in names}

    @property
    def history_days(self) -> int:
        """Days of returns one decision reads: ``lookback + vol_window - 1``."""
        return self.lookback + self.vol_window - 1

    def _check(self, returns: pd.DataFrame, rows: int, what: str) -> None:
        if len(returns) < rows:
            raise DataError(
                "lstm",
                "window",
                f"{what} needs at least {rows} days of returns "
                f"(lookback {self.lookback}, vol_window {self.vol_window}), got {len(returns)}",
                f"give it {rows} days or more, or shorten lookback / vol_window",
            )
        if not np.isfinite(returns.to_numpy(dtype=float)).all():
            raise DataError("lstm", "returns", "NaN or infinite returns", "clean the returns")

    def check_training_window(self, returns: pd.DataFrame) -> None:
        """Raise the :class:`DataError` that :meth:`fit` would raise on this window (too
        short for the lookback and volatility window, or not finite)."""
        self._check(returns, self.history_days + MIN_TRAINING_SAMPLES, "training")

    def fit(self, returns: pd.DataFrame, *, on_epoch: OnEpoch | None = None) -> LSTMAllocator:
        """Train on a window of past returns.

        Parameters
        ----------
        returns : DataFrame of shape (n_days, n_assets)
            The training window: simple daily returns, no NaN, sorted dates.
        on_epoch : callable, optional
            Receives an :class:`EpochProgress` after every epoch (logs, progress bars).

        Returns
        -------
        self
        """
        self.check_training_window(returns)
        values = returns.to_numpy(dtype=float)
        features = return_features(values, self.vol_window)
        sequences = sliding_window_view(features, self.lookback, axis=0).transpose(0, 2, 1)
        # The sequence ending on day s is paid r_{s+1}: drop the one ending on the last day.
        sequences = sequences[:-1]
        next_returns = values[self.history_days :]
        mean = features.mean(axis=0)
        scale = features.std(axis=0)
        scale[scale == 0] = 1.0

        from portflow.quant.allocation import sharpe_network

        network = sharpe_network.seeded_network(
            values.shape[1], self.hidden_size, self.num_layers, self.seed, mean, scale
        )
        train_end = returns.index[-1]

        def epoch_done(epoch: int, loss: float) -> None:
            on_epoch(EpochProgress(self.seed, train_end, epoch, self.epochs, loss))

        history, final = sharpe_network.train(
            network,
            sequences,
            next_returns,
            epochs=self.epochs,
            learning_rate=self.learning_rate,
            on_epoch=None if on_epoch is None else epoch_done,
        )

        self.network_ = network
        self.assets_ = [str(c) for c in returns.columns]
        self.feature_mean_ = mean
        self.feature_scale_ = scale
        self.loss_history_ = np.asarray(history)
        self.train_sharpe_ = final
        self.train_start_ = returns.index[0]
        self.train_end_ = train_end
        self.n_samples_ = len(sequences)
        return self

    def predict(self, returns_window: pd.DataFrame) -> pd.Series:
        """Weights decided at the window's last date (they earn the next day's return).

        Parameters
        ----------
        returns_window : DataFrame of shape (n_days, n_assets)
            Past returns with the fitted assets as columns; only the last
            ``lookback + vol_window - 1`` rows are read.

        Returns
        -------
        Series of shape (n_assets,)
            Non-negative weights summing to 1, indexed by ``assets_``.
        """
        if not hasattr(self, "network_"):
            raise RuntimeError("call fit (or load_state_frame) before predict")
        missing = [a for a in self.assets_ if a not in returns_window.columns]
        if missing:
            raise DataError(
                "lstm",
                "returns_window",
                f"{preview(missing)} are missing; the model allocates {preview(self.assets_)}",
                "pass returns of the assets the model was trained on",
            )
        self._check(returns_window, self.history_days, "a prediction")
        from portflow.quant.allocation.sharpe_network import weights as network_weights

        window = returns_window[self.assets_].to_numpy(dtype=float)[-self.history_days :]
        weights = network_weights(self.network_, return_features(window, self.vol_window))
        return pd.Series(weights / weights.sum(), index=self.assets_, name="weight")

    def load_state_frame(self, frame: pd.DataFrame, assets: Sequence[str]) -> LSTMAllocator:
        """Restore a trained network saved by the ``lstm_model`` stage.

        Parameters
        ----------
        frame : DataFrame
            One row per tensor (see
            :func:`~portflow.quant.allocation.sharpe_network.state_dict_to_frame`).
        assets : sequence of str
            The assets the model allocates, in training order.

        Returns
        -------
        self
        """
        from portflow.quant.allocation.sharpe_network import load_network

        try:
            network = load_network(frame, len(assets), self.hidden_size, self.num_layers)
        except RuntimeError as error:
            raise DataError(
                "lstm",
                "lstm_model",
                f"the saved model does not fit {len(assets)} assets, hidden_size "
                f"{self.hidden_size}, num_layers {self.num_layers}: {str(error)[:300]}",
                "use the same tickers and settings as when the model was trained",
            ) from None
        self.network_ = network
        self.assets_ = [str(a) for a in assets]
        self.feature_mean_ = network.feature_mean.double().numpy()
        self.feature_scale_ = network.feature_scale.double().numpy()
        return self


# -- walk-forward allocator ------------------------------------------------------------------
class WalkForwardLSTM:
    """The backtester's LSTM allocator: retrain every ``retrain_every`` rebalances.

    Parameters
    ----------
    retrain_every : int
        Rebalances between trainings; 1 retrains at every rebalance.
    **settings
        :class:`LSTMAllocator` settings (lookback, hidden_size, seed, ...).

    Attributes
    ----------
    model_ : LSTMAllocator
        The model in use (trained at the last retraining).
    fits_ : list of dict
        One entry per training: ``date`` (the rebalance date), ``train_start``,
        ``train_end`` (the training window; ``train_end == date``), ``train_sharpe``.

    The trainings do not depend on each other (each starts from the seed, on its own
    window), so a backtest can train them ahead, concurrently (:meth:`training_dates`,
    :meth:`use_trained`, :func:`fit_concurrently`); the predictions still walk forward.
    """

    def __init__(self, retrain_every: int = 12, **settings: Any) -> None:
        self.retrain_every = retrain_every
        self.settings = settings
        self.model_: LSTMAllocator | None = None
        self.fits_: list[dict[str, Any]] = []
        self._since_fit = 0
        self._trained: dict[pd.Timestamp, LSTMAllocator] = {}

    def new_model(self) -> LSTMAllocator:
        """An untrained estimator with this allocator's settings."""
        return LSTMAllocator(**self.settings)

    def training_dates(self, dates: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """The dates it trains at when called at the rebalance ``dates`` in order: the
        first and every ``retrain_every``-th after it."""
        return dates[:: self.retrain_every]

    def use_trained(self, date: pd.Timestamp, model: LSTMAllocator) -> None:
        """Use ``model``, trained ahead, instead of training at ``date``; it must have been
        trained on the window the allocator is given there (checked then)."""
        self._trained[date] = model

    def __call__(self, past_returns: pd.DataFrame) -> pd.Series:
        if self.model_ is None or self._since_fit >= self.retrain_every:
            date = past_returns.index[-1]
            model = self._trained.pop(date, None)
            if model is None:
                model = self.new_model().fit(past_returns)
            elif (model.train_start_, model.train_end_) != (past_returns.index[0], date):
                raise ValueError(
                    f"the model trained ahead for {date:%Y-%m-%d} was trained on "
                    f"{model.train_start_:%Y-%m-%d}..{model.train_end_:%Y-%m-%d}, not on "
                    f"the window {past_returns.index[0]:%Y-%m-%d}..{date:%Y-%m-%d}"
                )
            self.model_ = model
            self.fits_.append(
                {
                    "date": date,
                    "train_start": model.train_start_,
                    "train_end": model.train_end_,
                    "train_sharpe": model.train_sharpe_,
                }
            )
            self._since_fit = 0
        self._since_fit += 1
        return self.model_.predict(past_returns)


def fit_concurrently(
    jobs: Sequence[tuple[LSTMAllocator, pd.DataFrame]],
    *,
    workers: int = 1,
    on_epoch: OnEpoch | None = None,
) -> list[LSTMAllocator]:
    """Train each estimator on its window, ``workers`` trainings at a time.

    Threads, not processes: each training runs on one torch thread and torch releases the
    GIL inside its kernels, so two trainings on two cores take about the time of one,
    without a process's start-up (importing torch) or pickling; and the weights are the
    same bits as trainings in turn (``benchmarks/lstm_trainings.py`` measures both ways).

    Parameters
    ----------
    jobs : sequence of (LSTMAllocator, DataFrame)
        Untrained estimators and their training windows.
    workers : int
        Trainings at once; 1 trains in turn in the calling thread.
    on_epoch : callable, optional
        Receives every epoch of every training, with ``fits = len(jobs)``, from the
        training threads.

    Returns
    -------
    list of LSTMAllocator
        The trained estimators, in the order of ``jobs``.
    """
    fits = len(jobs)

    def fit(job: tuple[LSTMAllocator, pd.DataFrame]) -> LSTMAllocator:
        model, window = job
        if on_epoch is None:
            return model.fit(window)
        return model.fit(window, on_epoch=lambda event: on_epoch(replace(event, fits=fits)))

    if workers <= 1 or fits <= 1:
        return [fit(job) for job in jobs]
    with ThreadPoolExecutor(min(workers, fits), thread_name_prefix="lstm-training") as pool:
        futures = [pool.submit(fit, job) for job in jobs]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


# -- stages ----------------------------------------------------------------------------------
def _training_window(
    daily_returns: pd.DataFrame,
    tickers: Sequence[str] | None,
    benchmark: str | None,
    window: int,
    stage: str,
) -> pd.DataFrame:
    returns = investable_returns(daily_returns, tickers, benchmark, stage=stage)
    if len(returns) < window:
        raise DataError(
            stage,
            "allocation.allocators[lstm].window",
            f"the window is {window} days but the data has {len(returns)}",
            "shorten the window or load more data",
        )
    return returns.iloc[-window:]


def lstm_model(
    daily_returns: pd.DataFrame,
    *,
    window: int,
    lookback: int,
    hidden_size: int,
    num_layers: int,
    vol_window: int,
    epochs: int,
    learning_rate: float,
    seed: int,
    tickers: Sequence[str] | None = None,
    benchmark: str | None = None,
    on_epoch: OnEpoch | None = None,
) -> pd.DataFrame:
    """Stage ``lstm_model``: an LSTM allocator trained on the latest ``window`` days.

    The model a live user would allocate with next. Its settings are the artifact's params;
    ``on_epoch`` (progress, see :class:`EpochProgress`) is not one of them.

    It is never the same training as one of ``allocation_targets``' walk-forward models:
    its window ends on the data's last day, and the backtest never rebalances (so never
    trains) there, since a trade on the last day would earn nothing.

    Returns
    -------
    DataFrame of shape (n_tensors, 4)
        The trained network's state dict (see
        :func:`~portflow.quant.allocation.sharpe_network.state_dict_to_frame`), feature scaling
        buffers included; reload it with :meth:`LSTMAllocator.load_state_frame`.
    """
    returns = _training_window(daily_returns, tickers, benchmark, window, "lstm_model")
    model = LSTMAllocator(
        lookback=lookback,
        hidden_size=hidden_size,
        num_layers=num_layers,
        vol_window=vol_window,
        epochs=epochs,
        learning_rate=learning_rate,
        seed=seed,
    ).fit(returns, on_epoch=on_epoch)
    from portflow.quant.allocation.sharpe_network import state_dict_to_frame

    return state_dict_to_frame(model.network_)


def lstm_latest_weights(
    daily_returns: pd.DataFrame,
    lstm_model: pd.DataFrame,
    *,
    window: int,
    lookback: int,
    hidden_size: int,
    num_layers: int,
    vol_window: int,
    epochs: int,
    learning_rate: float,
    seed: int,
    tickers: Sequence[str] | None = None,
    benchmark: str | None = None,
) -> pd.DataFrame:
    """Stage ``lstm_latest_weights``: the reloaded ``lstm_model`` allocates at the last date.

    Shares the params of ``lstm_model`` (the model's config); ``window``, ``epochs``,
    ``learning_rate`` and ``seed`` only describe how it was trained.

    Returns
    -------
    DataFrame of shape (n_assets, 2)
        Indexed by ``ticker``: ``date`` (the decision date, the data's last day; the weights
        earn the next day's return) and ``weight`` (non-negative, summing to 1).
    """
    returns = _training_window(daily_returns, tickers, benchmark, window, "lstm_latest_weights")
    model = LSTMAllocator(
        lookback=lookback,
        hidden_size=hidden_size,
        num_layers=num_layers,
        vol_window=vol_window,
        epochs=epochs,
        learning_rate=learning_rate,
        seed=seed,
    ).load_state_frame(lstm_model, list(returns.columns))
    weights = model.predict(returns)
    frame = pd.DataFrame({"date": returns.index[-1], "weight": weights})
    frame.index.name = "ticker"
    return frame
