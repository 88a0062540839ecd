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

Determinism: training runs under ``torch.manual_seed(seed)`` inside ``torch.random.fork_rng``
(the caller's random state is left untouched), ``torch.use_deterministic_algorithms(True)``
and ``num_threads`` intra-op threads (1 by default), all restored afterwards. These are
process-wide, so fits and predictions hold a lock: concurrent tasks in threads take turns.

Persistence: the artifact store holds DataFrames, so :func:`state_dict_to_frame` turns a
state dict into one row per tensor and :func:`frame_to_state_dict` turns it back; the
estimator's settings are the artifact's params (``portflow.config.allocation.LSTMModelParams``).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

from portflow.errors import DataError, preview
from portflow.quant.allocation.allocators import TRADING_DAYS, investable_returns

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


class SharpeLSTM(nn.Module):
    """Features (batch, lookback, 2 n_assets) -> long-only weights (batch, n_assets).

    ``feature_mean`` and ``feature_scale`` are buffers: the training window's statistics,
    applied inside ``forward``, saved and loaded with the state dict.
    """

    def __init__(self, n_assets: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        n_features = 2 * n_assets
        self.lstm = nn.LSTM(n_features, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, n_assets)
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_scale", torch.ones(n_features))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        scaled = (features - self.feature_mean) / self.feature_scale
        hidden, _ = self.lstm(scaled)
        return torch.softmax(self.head(hidden[:, -1]), dim=-1)


_TORCH_GLOBALS = threading.RLock()
"""Held while torch's process-wide state (seed, thread count, deterministic flag) is changed
and used: Prefect runs tasks in threads, and two fits seeding the global RNG at once would
each get the other's random initialization."""


@contextmanager
def _torch_threads(num_threads: int) -> Iterator[None]:
    with _TORCH_GLOBALS:
        previous = torch.get_num_threads()
        torch.set_num_threads(num_threads)
        try:
            yield
        finally:
            torch.set_num_threads(previous)


@contextmanager
def _deterministic(seed: int, num_threads: int) -> Iterator[None]:
    """Seeded, deterministic torch; the global RNG, flag and thread count are restored."""
    with _TORCH_GLOBALS, torch.random.fork_rng(devices=[]), _torch_threads(num_threads):
        was_deterministic = torch.are_deterministic_algorithms_enabled()
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was_deterministic)


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
        Seed of the weights' initialization; same seed and data = same weights.
    num_threads : int
        Torch intra-op threads during fit and predict (1 = bitwise reproducible).

    Attributes
    ----------
    network_ : SharpeLSTM
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
        num_threads: int = 1,
    ) -> None:
        self.lookback = lookback
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.vol_window = vol_window
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.seed = seed
        self.num_threads = num_threads

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
            "num_threads",
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

    def fit(self, returns: pd.DataFrame) -> LSTMAllocator:
        """Train on a window of past returns.

        Parameters
        ----------
        returns : DataFrame of shape (n_days, n_assets)
            The training window: simple daily returns, no NaN, sorted dates.

        Returns
        -------
        self
        """
        self._check(returns, self.history_days + MIN_TRAINING_SAMPLES, "training")
        values = returns.to_numpy(dtype=float)
        features = return_features(values, self.vol_window)
        sequences = sliding_window_view(features, self.lookback, axis=0).transpose(0, 2, 1)
        # The sequence ending on day s is paid r_{s+1}: drop the one ending on the last day.
        sequences = sequences[:-1]
        next_returns = values[self.history_days :]
        mean = features.mean(axis=0)
        scale = features.std(axis=0)
        scale[scale == 0] = 1.0

        with _deterministic(self.seed, self.num_threads):
            network = SharpeLSTM(values.shape[1], self.hidden_size, self.num_layers)
            network.feature_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
            network.feature_scale.copy_(torch.as_tensor(scale, dtype=torch.float32))
            inputs = torch.tensor(np.ascontiguousarray(sequences), dtype=torch.float32)
            targets = torch.tensor(next_returns, dtype=torch.float32)
            optimizer = torch.optim.Adam(network.parameters(), lr=self.learning_rate)
            history = []
            network.train()
            for _ in range(self.epochs):
                optimizer.zero_grad()
                loss = -_annualized_sharpe((network(inputs) * targets).sum(dim=1))
                loss.backward()
                optimizer.step()
                history.append(loss.item())
            network.eval()
            with torch.no_grad():
                final = _annualized_sharpe((network(inputs) * targets).sum(dim=1)).item()

        self.network_ = network
        self.assets_ = [str(c) for c in returns.columns]
        self.feature_mean_ = mean
        self.feature_scale_ = scale
        self.loss_history_ = np.asarray(history)
        self.train_sharpe_ = final
        self.train_start_ = returns.index[0]
        self.train_end_ = returns.index[-1]
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
        window = returns_window[self.assets_].to_numpy(dtype=float)[-self.history_days :]
        features = torch.as_tensor(
            return_features(window, self.vol_window)[None], dtype=torch.float32
        )
        with _torch_threads(self.num_threads), torch.no_grad():
            weights = self.network_(features)[0].double().numpy()
        return pd.Series(weights / weights.sum(), index=self.assets_, name="weight")

    def load_state_frame(self, frame: pd.DataFrame, assets: Sequence[str]) -> LSTMAllocator:
        """Restore a trained network saved with :func:`state_dict_to_frame`.

        Parameters
        ----------
        frame : DataFrame
            One row per tensor (see :func:`state_dict_to_frame`).
        assets : sequence of str
            The assets the model allocates, in training order.

        Returns
        -------
        self
        """
        network = SharpeLSTM(len(assets), self.hidden_size, self.num_layers)
        try:
            network.load_state_dict(frame_to_state_dict(frame))
        except RuntimeError as error:
            raise DataError(
                "lstm",
                "lstm_model",
                f"the saved model does not fit {len(assets)} assets, hidden_size "
                f"{self.hidden_size}, num_layers {self.num_layers}: {str(error)[:300]}",
                "use the same tickers and settings as when the model was trained",
            ) from None
        self.network_ = network.eval()
        self.assets_ = [str(a) for a in assets]
        self.feature_mean_ = network.feature_mean.double().numpy()
        self.feature_scale_ = network.feature_scale.double().numpy()
        return self


def _annualized_sharpe(portfolio: torch.Tensor) -> torch.Tensor:
    return portfolio.mean() / (portfolio.std() + 1e-12) * TRADING_DAYS**0.5


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
    """

    def __init__(self, retrain_every: int = 12, **settings: Any) -> None:
        self.retrain_every = retrain_every
        self.settings = settings
        self.model_: LSTMAllocator | None = None
        self.fits_: list[dict[str, Any]] = []
        self._since_fit = 0

    def __call__(self, past_returns: pd.DataFrame) -> pd.Series:
        if self.model_ is None or self._since_fit >= self.retrain_every:
            self.model_ = LSTMAllocator(**self.settings).fit(past_returns)
            self.fits_.append(
                {
                    "date": past_returns.index[-1],
                    "train_start": self.model_.train_start_,
                    "train_end": self.model_.train_end_,
                    "train_sharpe": self.model_.train_sharpe_,
                }
            )
            self._since_fit = 0
        self._since_fit += 1
        return self.model_.predict(past_returns)


# -- state dict <-> DataFrame ----------------------------------------------------------------
def state_dict_to_frame(model: nn.Module | Mapping[str, torch.Tensor]) -> pd.DataFrame:
    """A state dict as a DataFrame the artifact store can save (parquet).

    Parameters
    ----------
    model : nn.Module or mapping of str to Tensor
        A module (its ``state_dict()`` is used) or a state dict.

    Returns
    -------
    DataFrame of shape (n_tensors, 4)
        Columns ``name``, ``shape`` (JSON list, e.g. ``"[256, 40]"``), ``dtype`` (numpy
        name, e.g. ``"float32"``) and ``data`` (the raw bytes, little-endian, C order).
    """
    state = model.state_dict() if isinstance(model, nn.Module) else model
    rows = []
    for name, tensor in state.items():
        array = tensor.detach().cpu().contiguous().numpy()
        rows.append(
            {
                "name": name,
                "shape": json.dumps(list(array.shape)),
                "dtype": array.dtype.name,
                "data": array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes(),
            }
        )
    return pd.DataFrame(rows, columns=["name", "shape", "dtype", "data"])


def frame_to_state_dict(frame: pd.DataFrame) -> OrderedDict[str, torch.Tensor]:
    """The state dict of a frame made by :func:`state_dict_to_frame` (tensors own their memory)."""
    state = OrderedDict()
    for row in frame.itertuples(index=False):
        dtype = np.dtype(row.dtype).newbyteorder("<")
        array = np.frombuffer(row.data, dtype=dtype).reshape(json.loads(row.shape))
        state[row.name] = torch.from_numpy(array.astype(array.dtype.newbyteorder("="), copy=True))
    return state


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
) -> pd.DataFrame:
    """Stage ``lstm_model``: an LSTM allocator trained on the latest ``window`` days.

    The model a live user would allocate with next. Its settings are the artifact's params.

    Returns
    -------
    DataFrame of shape (n_tensors, 4)
        The trained network's state dict (see :func:`state_dict_to_frame`), feature scaling
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
    ).fit(returns)
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
