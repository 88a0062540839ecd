"""Performance of the hedged book against the unhedged basket and the benchmark.

Conventions
-----------
- Common period: every series starts invested at the close of the backtest's inception
  d0 and is measured over the backtest's dates d0..T. On d0 the basket and the benchmark
  earn 0 (bought at that close, like the book), the book's gross return is 0 and its net
  return is minus the inception cost.
- Annualized return, volatility, Sharpe, Sortino, maximum drawdown and Calmar come from
  :func:`portflow.quant.metrics.performance_table` with 252 periods a year. The Sharpe
  ratio is ``mean(r_t - rf_t) / std(r_t - rf_t) x sqrt(252)`` with ``rf_t`` the daily
  risk-free return of the ``risk_free_daily`` stage (from a monthly source, each month's
  rate on its trading days). The book's returns include the interest on its cash and
  short proceeds and the borrow fee (see ``portflow.quant.hedge.backtest``), so its
  excess return is its return over the risk-free rate it earns.
- Turnover: traded notional over the value it trades against, annualized,
  ``mean_t(traded_t / value_t) x 252`` over d0 < t <= T (the inception build is
  excluded). ``turnover`` is two-way (buys plus sells), ``turnover_one_way`` half of it
  (the usual "fraction of the book replaced"). For the book, traded is the hedge's
  rebalances plus the basket's re-weighting and the value is the pre-cost equity at t's
  close; for the basket it is the basket's re-weighting to its volume weights
  (``basket_turnover``, a fraction of the basket's value); for the benchmark it is 0
  (buy and hold).
- Realized beta: OLS slope (statsmodels, with a constant) of each series on the
  benchmark's daily return over the common period.
"""

from __future__ import annotations

import pandas as pd

from portflow.errors import DataError
from portflow.quant.hedge.volume_basket import volume_measure
from portflow.quant.metrics import PERIODS_PER_YEAR, performance_table
from portflow.quant.regression import ols_fit

STAGE = "hedge_metrics"
SERIES = ("hedged_net", "hedged_gross", "basket", "benchmark")


def hedge_metrics(
    hedge_backtest: pd.DataFrame,
    basket_returns: pd.DataFrame,
    risk_free_daily: pd.DataFrame,
    *,
    dollar_volume: bool,
) -> pd.DataFrame:
    """Metrics table of the hedged book (net and gross of costs), the basket and the benchmark.

    Parameters
    ----------
    hedge_backtest : DataFrame
        Output of :func:`portflow.quant.hedge.backtest.hedge_backtest`.
    basket_returns : DataFrame
        Output of :func:`portflow.quant.hedge.volume_basket.basket_returns` (columns ``basket``,
        ``benchmark``, ``basket_turnover``).
    risk_free_daily : DataFrame
        Column ``rf``: risk-free return per trading day (decimal).
    dollar_volume : bool
        Which volume measure set the basket weights (reported, not used in the maths).

    Returns
    -------
    DataFrame of shape (4, 11)
        Index ``series``: ``hedged_net``, ``hedged_gross``, ``basket``, ``benchmark``.
        Columns ``ann_return``, ``ann_volatility``, ``sharpe``, ``sortino``,
        ``max_drawdown``, ``calmar``, ``n_periods`` (see
        :func:`~portflow.quant.metrics.performance_table`), ``turnover`` and
        ``turnover_one_way`` (two-way and one-way, per year, as a multiple of equity),
        ``realized_beta`` and ``volume_measure`` (text).

    Raises
    ------
    DataError
        If the risk-free rate or the basket returns do not cover the backtest's dates.
    """
    dates = hedge_backtest.index
    missing = dates.difference(basket_returns.index)
    if len(missing):
        raise DataError(
            STAGE,
            "basket_returns",
            f"no basket return on {len(missing)} backtest dates, first {missing[0]:%Y-%m-%d}",
            "compute the backtest and the metrics from the same basket_returns",
        )
    rf = risk_free_daily["rf"].reindex(dates)
    if rf.isna().any():
        gap = dates[rf.isna().to_numpy()]
        raise DataError(
            STAGE,
            "risk_free",
            f"no daily risk-free rate on {len(gap)} backtest dates, first {gap[0]:%Y-%m-%d}",
            "move data.start/data.end inside the risk-free coverage",
        )
    periods = PERIODS_PER_YEAR["daily"]
    market = basket_returns.loc[dates]
    invested = pd.Series(1.0, index=dates)
    invested.iloc[0] = 0.0  # everything is bought at the close of d0
    returns = pd.DataFrame(
        {
            "hedged_net": hedge_backtest["net_return"],
            "hedged_gross": hedge_backtest["gross_return"],
            "basket": market["basket"] * invested,
            "benchmark": market["benchmark"] * invested,
        }
    )
    table = performance_table(returns, rf, periods)
    after = slice(1, None)
    pre_cost_equity = hedge_backtest["equity"] + hedge_backtest["cost"]
    book_traded = hedge_backtest["traded_notional"] + hedge_backtest["basket_traded"]
    book_turnover = (book_traded / pre_cost_equity).iloc[after].mean() * periods
    basket_turnover = market["basket_turnover"].iloc[after].mean() * periods
    table["turnover"] = [book_turnover, book_turnover, basket_turnover, 0.0]
    table["turnover_one_way"] = table["turnover"] / 2.0
    table["realized_beta"] = [
        float(ols_fit(returns[name], returns["benchmark"].rename("x")).params["x"])
        for name in SERIES
    ]
    table["volume_measure"] = volume_measure(dollar_volume)
    table.index.name = "series"
    return table
