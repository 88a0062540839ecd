"""The LSTM trainings of the default run's allocation backtest, each way of running them.

``allocation_targets`` of ``configs/default.yaml`` trains 9 LSTMs (3 seeds x 3 walk-forward
dates, 504-day windows, 50 epochs) on the bundled multi_asset data; ``lstm_model`` trains a
10th. Measured in one run, each against the first (today's way before issue 12) and with
the weights compared bit for bit:

1. ``in turn, NaN fill``: one after another, one torch thread, torch filling every new
   tensor with NaN (the deterministic mode's default; the code before this change);
2. ``in turn``: the same without the fill (``sharpe_network.torch_settings``);
3. ``threads``: :func:`portflow.quant.allocation.lstm.fit_concurrently` with one worker
   thread per core (what the stage does), one torch thread each;
4. ``processes``: the same trainings in a pool of as many processes (forkserver), each
   with one torch thread (``OMP_NUM_THREADS=1``); the pool's start-up (a worker imports
   torch) is counted;
5. ``2 torch threads``: one training with two intra-op threads against one thread (what
   the issue measured as 7.9x slower on this machine).

The first training of a process is slower (oneDNN sets its kernels up), so every timed
mode runs after a warm-up training. Wall and CPU seconds are printed; on a machine shared
with other work, compare the ratios of one run, not seconds across runs.

Run: ``.venv/bin/python benchmarks/lstm_trainings.py`` (about 2 minutes on 2 idle cores).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

import pandas as pd
import torch

from portflow.config import load_config
from portflow.quant.allocation import sharpe_network
from portflow.quant.allocation.allocators import investable_returns
from portflow.quant.allocation.backtest import rebalance_schedule
from portflow.quant.allocation.lstm import LSTMAllocator, fit_concurrently
from portflow.quant.prices import price_panel
from portflow.quant.returns import daily_returns
from portflow.sources import make_source
from tasks.stage import available_cores


def default_trainings() -> tuple[list[tuple[dict, pd.DataFrame]], int]:
    """(settings, window) of each walk-forward training of the default config's LSTM."""
    config = load_config("default")
    allocation = config.allocation
    (spec,) = [s for s in allocation.allocators if s.kind == "lstm"]
    market = make_source(config.data_for("allocation")).load()
    returns = investable_returns(
        daily_returns(price_panel(market.daily)), allocation.tickers, market.benchmark
    )
    windows = [s.window or allocation.estimation_window for s in allocation.allocators]
    dates = rebalance_schedule(
        returns.index, rebalance=allocation.rebalance, first=max(windows) - 1
    )
    settings = spec.model_dump(exclude={"kind", "name", "retrain_every", "seeds", "window"})
    window = spec.window or allocation.estimation_window
    jobs = []
    for seed in spec.seeds:
        for date in dates[:: spec.retrain_every]:
            end = returns.index.get_loc(date)
            jobs.append((settings | {"seed": seed}, returns.iloc[end - window + 1 : end + 1]))
    return jobs, spec.epochs


@contextmanager
def nan_fill():
    """Trainings as before this change: deterministic mode fills new tensors with NaN."""
    settings = sharpe_network.torch_settings

    @contextmanager
    def filling():
        with settings():
            torch.utils.deterministic.fill_uninitialized_memory = True
            yield

    sharpe_network.torch_settings = filling
    try:
        yield
    finally:
        sharpe_network.torch_settings = settings


@contextmanager
def intra_op_threads(threads: int):
    """Trainings on ``threads`` torch threads instead of one."""
    settings = sharpe_network.torch_settings

    @contextmanager
    def more_threads():
        with settings():
            torch.set_num_threads(threads)
            yield

    sharpe_network.torch_settings = more_threads
    try:
        yield
    finally:
        sharpe_network.torch_settings = settings


def cpu_seconds() -> float:
    """CPU time of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(action: Callable[[], list]) -> tuple[float, float, list]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = action()
    return time.perf_counter() - wall, cpu_seconds() - cpu, result


def _fit_in_worker(job: tuple[dict, pd.DataFrame]) -> tuple[dict, int, float]:
    """A training in a worker: its state, the worker's pid and CPU seconds so far."""
    settings, window = job
    state = LSTMAllocator(**settings).fit(window).network_.state_dict()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return state, os.getpid(), usage.ru_utime + usage.ru_stime


def _one_torch_thread() -> None:
    torch.set_num_threads(1)


WORKER_CPU: dict[int, float] = {}
"""CPU seconds of each pool worker (its start-up included): a forkserver's workers are
not this process's children, so their time is reported back with each training."""


def in_processes(jobs, workers: int) -> list[dict[str, torch.Tensor]]:
    context = multiprocessing.get_context("forkserver")
    previous = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # the workers' OpenMP pool: one thread
    try:
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_one_torch_thread
        ) as pool:
            results = list(pool.map(_fit_in_worker, jobs))
    finally:
        if previous is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = previous
    for _, pid, cpu in results:
        WORKER_CPU[pid] = max(cpu, WORKER_CPU.get(pid, 0.0))
    return [state for state, _, _ in results]


def states(models: list[LSTMAllocator]) -> list[dict[str, torch.Tensor]]:
    return [model.network_.state_dict() for model in models]


def same_bits(first: list[dict], second: list[dict]) -> bool:
    return all(
        torch.equal(a[name], b[name]) for a, b in zip(first, second, strict=True) for name in a
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=available_cores())
    args = parser.parse_args()
    jobs, epochs = default_trainings()
    print(f"{len(jobs)} trainings of {epochs} epochs on {len(jobs[0][1])}-day windows, ")
    print(f"{args.workers} workers, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}\n")

    def fresh():
        return [(LSTMAllocator(**settings), window) for settings, window in jobs]

    LSTMAllocator(**jobs[0][0]).fit(jobs[0][1])  # warm-up: oneDNN's first-use set-up
    with nan_fill():
        baseline = timed(lambda: states(fit_concurrently(fresh(), workers=1)))
    rows = {"in turn, NaN fill (before)": baseline}
    rows["in turn"] = timed(lambda: states(fit_concurrently(fresh(), workers=1)))
    rows[f"threads ({args.workers})"] = timed(
        lambda: states(fit_concurrently(fresh(), workers=args.workers))
    )
    wall, cpu, result = timed(lambda: in_processes(jobs, args.workers))
    rows[f"processes ({args.workers})"] = (wall, cpu + sum(WORKER_CPU.values()), result)

    print(f"{'mode':30} {'wall s':>8} {'CPU s':>8} {'vs before':>10}  same bits")
    for name, (wall, cpu, result) in rows.items():
        print(
            f"{name:30} {wall:8.2f} {cpu:8.2f} {baseline[0] / wall:9.2f}x  "
            f"{same_bits(baseline[2], result)}"
        )

    settings, window = jobs[0]
    one = timed(lambda: [LSTMAllocator(**settings).fit(window)])
    with intra_op_threads(2):
        two = timed(lambda: [LSTMAllocator(**settings).fit(window)])
    print(
        f"\none training: 1 torch thread {one[0]:.2f} s wall ({one[1]:.2f} CPU s), "
        f"2 torch threads {two[0]:.2f} s wall ({two[1]:.2f} CPU s): "
        f"{two[0] / one[0]:.1f}x the time"
    )


if __name__ == "__main__":
    main()
