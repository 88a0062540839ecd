"""The torch side of the LSTM allocator: the network, its training loop, its state as a table.

Only :mod:`portflow.quant.allocation.lstm` imports this module, inside the methods that
train or run a network, so that importing the pipeline (and a warm re-run that trains
nothing) never imports torch.

Determinism and speed
---------------------
A training is bitwise reproducible per seed: the network is initialized under
``torch.manual_seed(seed)`` inside ``torch.random.fork_rng`` (the caller's random state is
left untouched) and trained with deterministic algorithms on one intra-op thread. Trainings
run concurrently in threads (:func:`portflow.quant.allocation.lstm.fit_concurrently`): each
uses one thread, torch releases the GIL inside its kernels, and no training reads the random
state after its initialization, so concurrent trainings give the same bits as trainings in
turn. Only the initialization holds a lock. The process-wide settings (one intra-op thread,
deterministic algorithms, no filling of uninitialized memory) are set while any training or
prediction runs and restored when the last one ends.

``torch.utils.deterministic.fill_uninitialized_memory`` is switched off: with deterministic
algorithms on, torch otherwise fills every new tensor with NaN (a debugging aid against
reading uninitialized memory), about 12% of a training's CPU time here
(``benchmarks/lstm_trainings.py``); no operation of this network reads memory it did not
write, so the weights are the same bits (``tests/quant/allocation/test_lstm.py``).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
import torch.utils.deterministic
from torch import nn

from portflow.quant.allocation.allocators import TRADING_DAYS


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


_SETTINGS_LOCK = threading.Lock()
_INITIALIZATION_LOCK = threading.Lock()
_users = 0
_saved: tuple[int, bool, bool] = (1, False, True)


@contextmanager
def torch_settings() -> Iterator[None]:
    """One intra-op thread, deterministic algorithms, no NaN-filling of new tensors.

    Set when the first training or prediction of the process starts; the caller's settings
    are restored when the last one ends. Each thread that enters sets its own OpenMP
    thread count (an OpenMP setting is per thread).
    """
    global _users, _saved
    with _SETTINGS_LOCK:
        if _users == 0:
            _saved = (
                torch.get_num_threads(),
                torch.are_deterministic_algorithms_enabled(),
                torch.utils.deterministic.fill_uninitialized_memory,
            )
            torch.use_deterministic_algorithms(True)
            torch.utils.deterministic.fill_uninitialized_memory = False
        _users += 1
        torch.set_num_threads(1)
    try:
        yield
    finally:
        with _SETTINGS_LOCK:
            _users -= 1
            if _users == 0:
                threads, deterministic, fill = _saved
                torch.set_num_threads(threads)
                torch.use_deterministic_algorithms(deterministic)
                torch.utils.deterministic.fill_uninitialized_memory = fill


def seeded_network(
    n_assets: int,
    hidden_size: int,
    num_layers: int,
    seed: int,
    feature_mean: np.ndarray,
    feature_scale: np.ndarray,
) -> SharpeLSTM:
    """A new network initialized under ``torch.manual_seed(seed)``, with the training
    window's feature statistics as buffers; the global random state is restored after."""
    with _INITIALIZATION_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = SharpeLSTM(n_assets, hidden_size, num_layers)
    network.feature_mean.copy_(torch.as_tensor(feature_mean, dtype=torch.float32))
    network.feature_scale.copy_(torch.as_tensor(feature_scale, dtype=torch.float32))
    return network


def annualized_sharpe(portfolio: torch.Tensor) -> torch.Tensor:
    """Mean over standard deviation (ddof=1) of daily returns, times sqrt(252)."""
    return portfolio.mean() / (portfolio.std() + 1e-12) * TRADING_DAYS**0.5


def train(
    network: SharpeLSTM,
    sequences: np.ndarray,
    next_returns: np.ndarray,
    *,
    epochs: int,
    learning_rate: float,
    on_epoch: Callable[[int, float], None] | None = None,
) -> tuple[list[float], float]:
    """Full-batch Adam on minus the annualized Sharpe ratio of the training portfolio.

    Parameters
    ----------
    network : SharpeLSTM
        Trained in place.
    sequences : ndarray of shape (n_samples, lookback, 2 * n_assets)
        Features up to each day ``s``.
    next_returns : ndarray of shape (n_samples, n_assets)
        The returns of ``s + 1`` that the weights read at ``s`` earn.
    epochs : int
        Adam steps.
    learning_rate : float
        Adam learning rate.
    on_epoch : callable, optional
        Called after each step with (epochs done, the loss before that step).

    Returns
    -------
    losses : list of float
        The loss before each step.
    sharpe : float
        The annualized Sharpe ratio of the training portfolio after training.
    """
    with torch_settings():
        inputs = torch.tensor(np.ascontiguousarray(sequences), dtype=torch.float32)
        targets = torch.tensor(next_returns, dtype=torch.float32)
        optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
        losses = []
        network.train()
        for epoch in range(1, epochs + 1):
            optimizer.zero_grad()
            loss = -annualized_sharpe((network(inputs) * targets).sum(dim=1))
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if on_epoch is not None:
                on_epoch(epoch, losses[-1])
        network.eval()
        with torch.no_grad():
            sharpe = annualized_sharpe((network(inputs) * targets).sum(dim=1)).item()
    return losses, sharpe


def weights(network: SharpeLSTM, features: np.ndarray) -> np.ndarray:
    """The network's weights for one window of features, shape (lookback, 2 * n_assets)."""
    with torch_settings(), torch.no_grad():
        batch = torch.as_tensor(features[None], dtype=torch.float32)
        return network(batch)[0].double().numpy()


def load_network(
    frame: pd.DataFrame, n_assets: int, hidden_size: int, num_layers: int
) -> SharpeLSTM:
    """A network restored from :func:`state_dict_to_frame`, in evaluation mode.

    Raises ``RuntimeError`` when the state does not fit the shape.
    """
    network = SharpeLSTM(n_assets, hidden_size, num_layers)
    network.load_state_dict(frame_to_state_dict(frame))
    return network.eval()


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
