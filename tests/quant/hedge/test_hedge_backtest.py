"""The hedged book: hand-worked drift and costs to the cent, accounting identities, bad input."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from portflow.errors import DataError
from portflow.quant.hedge.backtest import hedge_backtest
from portflow.quant.hedge.beta import rolling_beta
from portflow.quant.hedge.volume_basket import basket_returns, volume_weights
from portflow.quant.prices import price_panel
from portflow.quant.returns import daily_returns
from portflow.sources.synthetic import generate

CENT = 0.005
DAYS = pd.DatetimeIndex(pd.bdate_range("2024-01-01", periods=6), name="date")  # d0 .. d5


def _returns(basket: list[float], benchmark: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"basket": basket, "benchmark": benchmark}, index=DAYS[: len(basket)])


def _betas(pairs: dict[int, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"beta": list(pairs.values())}, index=pd.DatetimeIndex(DAYS[list(pairs)], name="date")
    )


def test_three_rebalances_beta_neutral_to_the_cent():
    """$1,000,000, cost 10 bp of traded notional, rebalances at d0 (beta 1), d2 (0.5), d4 (1.5).

    The book is built at d0's close, so d0's own returns (+7%, -3%) are not earned.

    d0 (inception): L = 1,000,000, S = 1.0 x 1,000,000 = 1,000,000; traded 2,000,000;
        cost 2,000.00; equity 998,000.00; gross 0, net -2,000 / 1,000,000 = -0.2%.
    d1 (r_p +10%, r_b +5%): L = 1,100,000, S = 1,050,000; P&L 100,000 - 50,000 = 50,000;
        equity 1,048,000.00; gross = net = 50,000 / 998,000.
    d2 (r_p -5%, r_b -2%): drift L = 1,045,000, S = 1,029,000; P&L -55,000 + 21,000 =
        -34,000; pre-cost equity 1,014,000. Beta 0.5: L = 1,014,000, S = 507,000; traded
        |1,014,000 - 1,045,000| + |507,000 - 1,029,000| = 31,000 + 522,000 = 553,000;
        cost 553.00; equity 1,013,447.00; gross -34,000 / 1,048,000, net -34,553 / 1,048,000.
    d3 (r_p +2%, r_b +2%): L = 1,034,280, S = 517,140; P&L 20,280 - 10,140 = 10,140;
        equity 1,023,587.00.
    d4 (r_p 0%, r_b -1%): drift L = 1,034,280, S = 511,968.60; P&L 0 + 5,171.40;
        pre-cost equity 1,028,758.40. Beta 1.5: L = 1,028,758.40, S = 1,543,137.60; traded
        5,521.60 + 1,031,169.00 = 1,036,690.60; cost 1,036.69 (1,036.6906); equity
        1,027,721.7094.
    d5 (r_p +1%, r_b +1%): L = 1,039,045.98, S = 1,558,568.98; P&L 10,287.584 - 15,431.376
        = -5,143.792; equity 1,022,577.9174.
    """
    returns = _returns(
        [0.07, 0.10, -0.05, 0.02, 0.0, 0.01], [-0.03, 0.05, -0.02, 0.02, -0.01, 0.01]
    )
    book = hedge_backtest(
        returns, _betas({0: 1.0, 2: 0.5, 4: 1.5}), cost_rate=0.001, capital=1_000_000
    )
    expected = pd.DataFrame(
        {
            "long_notional": [
                1_000_000,
                1_100_000,
                1_014_000,
                1_034_280,
                1_028_758.40,
                1_039_045.984,
            ],
            "short_notional": [1_000_000, 1_050_000, 507_000, 517_140, 1_543_137.60, 1_558_568.976],
            "equity": [998_000, 1_048_000, 1_013_447, 1_023_587, 1_027_721.7094, 1_022_577.9174],
            "traded_notional": [2_000_000, 0, 553_000, 0, 1_036_690.60, 0],
            "cost": [2_000, 0, 553, 0, 1_036.6906, 0],
        },
        index=DAYS,
    )
    for column in expected:
        np.testing.assert_allclose(
            book[column], expected[column], rtol=0, atol=CENT, err_msg=column
        )
    np.testing.assert_allclose(
        book["gross_return"],
        [
            0,
            50_000 / 998_000,
            -34_000 / 1_048_000,
            10_140 / 1_013_447,
            5_171.40 / 1_023_587,
            -5_143.792 / 1_027_721.7094,
        ],
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        book["net_return"],
        [
            -0.002,
            50_000 / 998_000,
            -34_553 / 1_048_000,
            10_140 / 1_013_447,
            (5_171.40 - 1_036.6906) / 1_023_587,
            -5_143.792 / 1_027_721.7094,
        ],
        rtol=1e-12,
    )
    assert book["beta"].tolist() == [1.0, 1.0, 0.5, 0.5, 1.5, 1.5]
    assert book["rebalance"].tolist() == [True, False, True, False, True, False]


def test_capital_split_to_the_cent():
    """$1,000,000, 10 bp; beta 1 at d0, beta 0.25 at d2.

    d0: L = 1,000,000 / 2 = 500,000, S = 500,000; cost 1,000.00; equity 999,000.
    d1 (r_p +10%, r_b +5%): L = 550,000, S = 525,000; P&L 25,000; equity 1,024,000.
    d2 (0%, 0%): beta 0.25: L = 1,024,000 / 1.25 = 819,200, S = 0.25 x 819,200 = 204,800;
        traded 269,200 + 320,200 = 589,400; cost 589.40; equity 1,023,410.60.
    """
    book = hedge_backtest(
        _returns([0.0, 0.10, 0.0], [0.0, 0.05, 0.0]),
        _betas({0: 1.0, 2: 0.25}),
        convention="capital_split",
        cost_rate=0.001,
        capital=1_000_000,
    )
    np.testing.assert_allclose(book["long_notional"], [500_000, 550_000, 819_200], atol=CENT)
    np.testing.assert_allclose(book["short_notional"], [500_000, 525_000, 204_800], atol=CENT)
    np.testing.assert_allclose(book["cost"], [1_000, 0, 589.40], atol=CENT)
    np.testing.assert_allclose(book["equity"], [999_000, 1_024_000, 1_023_410.60], atol=CENT)


@pytest.fixture(scope="module")
def synthetic_book():
    market, _ = generate(seed=5, n_assets=6, n_days=900, start=dt.date(2012, 1, 2))
    weights = volume_weights(market.daily, volume_window=30, benchmark="BENCH")
    basket = basket_returns(daily_returns(price_panel(market.daily)), weights, benchmark="BENCH")
    betas = rolling_beta(basket, beta_window=120, rebalance_every=21)
    return basket, betas


@pytest.mark.parametrize("convention", ["beta_neutral", "capital_split"])
def test_accounting_identities(synthetic_book, convention):
    basket, betas = synthetic_book
    book = hedge_backtest(basket, betas, convention=convention, cost_rate=0.002, capital=5e6)
    equity_before = np.r_[5e6, book["equity"].to_numpy()[:-1]]
    # Equity compounds at the net return; gross and net differ by the cost on E_{t-1}.
    np.testing.assert_allclose(book["equity"], equity_before * (1 + book["net_return"]), rtol=1e-12)
    np.testing.assert_allclose(
        book["gross_return"] - book["net_return"], book["cost"] / equity_before, atol=1e-15
    )
    np.testing.assert_allclose(book["cost"], 0.002 * book["traded_notional"], rtol=1e-15)
    # At each rebalance the legs are in the convention's ratio of the pre-cost equity.
    trades = book[book["rebalance"]]
    pre_cost = trades["equity"] + trades["cost"]
    assert list(trades.index) == list(betas.index)
    np.testing.assert_allclose(trades["beta"], betas["beta"], rtol=0)
    np.testing.assert_allclose(trades["short_notional"], trades["beta"] * trades["long_notional"])
    long_share = 1.0 if convention == "beta_neutral" else 1 / (1 + trades["beta"])
    np.testing.assert_allclose(trades["long_notional"], long_share * pre_cost, rtol=1e-12)
    # Between rebalances each leg drifts with its own return.
    held = ~book["rebalance"].to_numpy()[1:]
    growth = book["long_notional"].to_numpy()[1:] / book["long_notional"].to_numpy()[:-1]
    np.testing.assert_allclose(
        growth[held], 1 + basket.loc[book.index, "basket"].to_numpy()[1:][held]
    )
    # Capital scales money, not returns; no costs -> gross = net.
    small = hedge_backtest(basket, betas, convention=convention, cost_rate=0.002, capital=1.0)
    np.testing.assert_allclose(small["net_return"], book["net_return"], rtol=1e-9, atol=1e-15)
    free = hedge_backtest(basket, betas, convention=convention, cost_rate=0.0)
    np.testing.assert_array_equal(free["gross_return"], free["net_return"])


def test_bad_input_is_a_named_error():
    returns = _returns([0.0, 0.10, 0.0], [0.0, 0.05, 0.0])
    with pytest.raises(DataError, match=r"\[hedge_backtest\] hedge.convention: unknown"):
        hedge_backtest(returns, _betas({0: 1.0}), convention="dollar_neutral")
    with pytest.raises(DataError, match=r"\[hedge_backtest\] hedge.convention: capital_split"):
        hedge_backtest(returns, _betas({0: -1.0}), convention="capital_split")
    outside = pd.DataFrame({"beta": [1.0]}, index=pd.DatetimeIndex(["2030-01-02"], name="date"))
    with pytest.raises(DataError, match=r"\[hedge_backtest\] rolling_beta: 1 rebalance dates"):
        hedge_backtest(returns, outside)
