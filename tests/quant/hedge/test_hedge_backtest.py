"""The hedged book: hand-worked drift, costs and cash account to the cent, identities, bad input."""

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


def _returns(
    basket: list[float], benchmark: list[float], turnover: list[float] | None = None
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "basket": basket,
            "benchmark": benchmark,
            "basket_turnover": turnover or [0.0] * (len(basket) - 1) + [np.nan],
        },
        index=DAYS[: len(basket)],
    )


def _rates(rates: list[float], days=DAYS) -> pd.DataFrame:
    return pd.DataFrame({"rf": rates}, index=days[: len(rates)])


NO_RF = _rates([0.0] * len(DAYS))


def _betas(pairs: dict[int, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"beta": list(pairs.values())}, index=pd.DatetimeIndex(DAYS[list(pairs)], name="date")
    )


def test_three_rebalances_beta_neutral_to_the_cent():
    """$1,000,000, cost 10 bp of traded notional, rebalances at d0 (beta 1), d2 (0.5), d4 (1.5).

    No financing here (a zero risk-free rate, no borrow fee, no basket re-weighting): the
    drift and the hedge's trades alone.

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
        returns, _betas({0: 1.0, 2: 0.5, 4: 1.5}), NO_RF, cost_rate=0.001, capital=1_000_000
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
        NO_RF,
        convention="capital_split",
        cost_rate=0.001,
        capital=1_000_000,
    )
    np.testing.assert_allclose(book["long_notional"], [500_000, 550_000, 819_200], atol=CENT)
    np.testing.assert_allclose(book["short_notional"], [500_000, 525_000, 204_800], atol=CENT)
    np.testing.assert_allclose(book["cost"], [1_000, 0, 589.40], atol=CENT)
    np.testing.assert_allclose(book["equity"], [999_000, 1_024_000, 1_023_410.60], atol=CENT)


WEEK = pd.DatetimeIndex(pd.bdate_range("2024-01-03", periods=5), name="date")  # Wed .. Tue


def test_cash_account_with_interest_borrow_fee_and_basket_reweighting_to_the_cent():
    """$1,000,000, 10 bp costs, borrow fee 3.6%/yr (1 bp per calendar day at actual/360).

    Days: d0 Wed (inception, beta 0.5), d1 Thu, d2 Fri, d3 Mon (3 calendar days; beta
    1.0), d4 Tue. Risk-free return of the day: d1 1 bp, d2 2 bp, d3 3 bp, d4 1 bp.
    Basket re-weighting (fraction of the basket traded at the close): d0 30% (not traded:
    the inception buys the next day's weights), d1 10%, d2 0, d3 20%, d4 unknown (NaN).
    Cash = equity - long + short.

    d0: L = 1,000,000, S = 500,000; cost 1,500.00; E = 998,500; cash 498,500.
    d1 (r_p +2%, r_b +1%): P&L 20,000 - 5,000 = 15,000; interest 498,500 x 0.0001 = 49.85;
        fee 500,000 x 0.0001 = 50.00; L = 1,020,000, S = 505,000; re-weighting 10% of
        1,020,000 = 102,000, cost 102.00; E = 998,500 + 15,000 + 49.85 - 50 - 102 =
        1,013,397.85; cash 1,013,397.85 - 1,020,000 + 505,000 = 498,397.85.
    d2 (r_p -1%, r_b -2%): P&L -10,200 + 10,100 = -100; interest 498,397.85 x 0.0002 =
        99.67957; fee 505,000 x 0.0001 = 50.50; L = 1,009,800, S = 494,900; no cost;
        E = 1,013,347.02957; cash 498,447.02957.
    d3 (r_p +1%, r_b +2%, 3 days): P&L 10,098 - 9,898 = 200; interest 498,447.02957 x
        0.0003 = 149.534108871; fee 494,900 x 0.0003 = 148.47; drifted L = 1,019,898,
        S = 504,798; pre-cost equity 1,013,548.093678871. Re-weighting 20% of 1,019,898 =
        203,979.60. Beta 1: L = S = 1,013,548.093678871; traded 6,349.906321129 +
        508,750.093678871 = 515,100; cost 0.001 x 719,079.60 = 719.0796;
        E = 1,012,829.014078871; cash = E (L = S).
    d4 (r_p 0%, r_b +1%): P&L -10,135.48093678871; interest 101.2829014078871; fee
        101.3548093678871; E = 1,002,693.4612341223; the drift moves no cash, so cash =
        1,012,829.014078871 + 101.2829014078871 - 101.3548093678871 = 1,012,828.942170911.
    The inception day's rate (5 bp) is not earned: the book exists from d0's close.
    """
    returns = pd.DataFrame(
        {
            "basket": [0.05, 0.02, -0.01, 0.01, 0.0],
            "benchmark": [0.03, 0.01, -0.02, 0.02, 0.01],
            "basket_turnover": [0.3, 0.1, 0.0, 0.2, np.nan],
        },
        index=WEEK,
    )
    book = hedge_backtest(
        returns,
        pd.DataFrame({"beta": [0.5, 1.0]}, index=WEEK[[0, 3]]),
        _rates([0.0005, 0.0001, 0.0002, 0.0003, 0.0001], WEEK),
        cost_rate=0.001,
        borrow_fee=0.036,
        capital=1_000_000,
    )
    expected = pd.DataFrame(
        {
            "long_notional": [1e6, 1_020_000, 1_009_800, 1_013_548.093678871, 1_013_548.093678871],
            "short_notional": [5e5, 505_000, 494_900, 1_013_548.093678871, 1_023_683.574615660],
            "interest": [0, 49.85, 99.67957, 149.534108871, 101.2829014078871],
            "borrow_fee": [0, 50.00, 50.50, 148.47, 101.3548093678871],
            "traded_notional": [1_500_000, 0, 0, 515_100, 0],
            "basket_traded": [0, 102_000, 0, 203_979.60, 0],
            "cost": [1_500, 102, 0, 719.0796, 0],
            "equity": [
                998_500,
                1_013_397.85,
                1_013_347.02957,
                1_012_829.014078871,
                1_002_693.4612341223,
            ],
            "cash": [498_500, 498_397.85, 498_447.02957, 1_012_829.014078871, 1_012_828.942170911],
        },
        index=WEEK,
    )
    for column in expected:
        np.testing.assert_allclose(
            book[column], expected[column], rtol=0, atol=CENT, err_msg=column
        )
    np.testing.assert_allclose(
        book["net_return"],
        [
            -1_500 / 1e6,
            (15_000 + 49.85 - 50 - 102) / 998_500,
            (-100 + 99.67957 - 50.50) / 1_013_397.85,
            (200 + 149.534108871 - 148.47 - 719.0796) / 1_013_347.02957,
            (-10_135.48093678871 + 101.2829014078871 - 101.3548093678871) / 1_012_829.014078871,
        ],
        rtol=1e-10,
    )
    np.testing.assert_allclose(
        book["gross_return"] - book["net_return"],
        [1_500 / 1e6, 102 / 998_500, 0, 719.0796 / 1_013_347.02957, 0],
        rtol=1e-10,
        atol=1e-15,
    )


@pytest.fixture(scope="module")
def synthetic_book():
    market, _ = generate(seed=5, n_assets=6, n_days=900, start=dt.date(2012, 1, 2))
    weights = volume_weights(market.daily, volume_window=30, benchmark="BENCH")
    basket = basket_returns(daily_returns(price_panel(market.daily)), weights, benchmark="BENCH")
    betas = rolling_beta(basket, beta_window=120, rebalance_every=21)
    rf = pd.DataFrame({"rf": 0.0001 + 0.00005 * np.sin(np.arange(len(basket)))}, index=basket.index)
    return basket, betas, rf


@pytest.mark.parametrize("convention", ["beta_neutral", "capital_split"])
def test_accounting_identities(synthetic_book, convention):
    basket, betas, rf = synthetic_book
    settings = {"convention": convention, "cost_rate": 0.002, "borrow_fee": 0.01}
    book = hedge_backtest(basket, betas, rf, **settings, capital=5e6)
    equity_before = np.r_[5e6, book["equity"].to_numpy()[:-1]]
    # Equity compounds at the net return; gross and net differ by the cost on E_{t-1}.
    np.testing.assert_allclose(book["equity"], equity_before * (1 + book["net_return"]), rtol=1e-12)
    np.testing.assert_allclose(
        book["gross_return"] - book["net_return"], book["cost"] / equity_before, atol=1e-15
    )
    traded = book["traded_notional"] + book["basket_traded"]
    np.testing.assert_allclose(book["cost"], 0.002 * traded, rtol=1e-15)
    # Cash is what is not in the legs; it earns the next day's rate; the short pays the fee.
    np.testing.assert_allclose(
        book["cash"], book["equity"] - book["long_notional"] + book["short_notional"]
    )
    rates = rf["rf"].loc[book.index].to_numpy()[1:]
    np.testing.assert_allclose(book["interest"].iloc[1:], book["cash"].iloc[:-1] * rates)
    days = np.diff(book.index.to_numpy()) / np.timedelta64(1, "D")
    fee = book["short_notional"].iloc[:-1] * 0.01 * days / 360
    np.testing.assert_allclose(book["borrow_fee"].iloc[1:], fee.to_numpy())
    # The long leg re-weights the basket every day, and pays for it.
    turnover = basket["basket_turnover"].loc[book.index].fillna(0.0).to_numpy()[1:]
    drifted_long = book["long_notional"].to_numpy()[:-1] * (
        1 + basket["basket"].loc[book.index].to_numpy()[1:]
    )
    np.testing.assert_allclose(book["basket_traded"].iloc[1:], turnover * drifted_long)
    assert book["basket_traded"].iloc[0] == 0.0
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
    small = hedge_backtest(basket, betas, rf, **settings, capital=1.0)
    np.testing.assert_allclose(small["net_return"], book["net_return"], rtol=1e-9, atol=1e-15)
    free = hedge_backtest(basket, betas, rf, convention=convention, cost_rate=0.0)
    np.testing.assert_array_equal(free["gross_return"], free["net_return"])


def test_bad_input_is_a_named_error():
    returns = _returns([0.0, 0.10, 0.0], [0.0, 0.05, 0.0])
    with pytest.raises(DataError, match=r"\[hedge_backtest\] hedge.convention: unknown"):
        hedge_backtest(returns, _betas({0: 1.0}), NO_RF, convention="dollar_neutral")
    with pytest.raises(DataError, match=r"\[hedge_backtest\] hedge.convention: capital_split"):
        hedge_backtest(returns, _betas({0: -1.0}), NO_RF, convention="capital_split")
    outside = pd.DataFrame({"beta": [1.0]}, index=pd.DatetimeIndex(["2030-01-02"], name="date"))
    with pytest.raises(DataError, match=r"\[hedge_backtest\] rolling_beta: 1 rebalance dates"):
        hedge_backtest(returns, outside, NO_RF)
    with pytest.raises(DataError, match=r"\[hedge_backtest\] risk_free_daily: no daily"):
        hedge_backtest(returns, _betas({0: 1.0}), NO_RF.iloc[:2])
    with pytest.raises(DataError, match=r"\[hedge_backtest\] basket_returns: no column"):
        hedge_backtest(returns.drop(columns="basket_turnover"), _betas({0: 1.0}), NO_RF)
