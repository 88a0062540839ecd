"""Performance metrics against hand-worked numbers."""

import numpy as np
import pandas as pd
import pytest

from portflow.quant.metrics import (
    annualized_return,
    annualized_volatility,
    calmar_ratio,
    drawdown,
    max_drawdown,
    performance_table,
    sharpe_ratio,
    sortino_ratio,
)

RETURNS = pd.Series(
    [0.10, -0.20, 0.05, 0.10], index=pd.date_range("2020-01-31", periods=4, freq="ME")
)


def test_annualized_return_is_geometric():
    wealth = 1.10 * 0.80 * 1.05 * 1.10
    assert annualized_return(RETURNS, 12) == pytest.approx(wealth**3 - 1, rel=1e-12)


def test_volatility_and_sharpe_closed_form():
    r = RETURNS.to_numpy()
    mean, std = r.mean(), r.std(ddof=1)
    assert annualized_volatility(RETURNS, 12) == pytest.approx(std * np.sqrt(12))
    rf = pd.Series(0.01, index=RETURNS.index)
    assert sharpe_ratio(RETURNS, rf, 12) == pytest.approx((mean - 0.01) / std * np.sqrt(12))
    assert sharpe_ratio(RETURNS, 0.01, 12) == sharpe_ratio(RETURNS, rf, 12)


def test_sortino_uses_downside_deviation():
    excess = RETURNS.to_numpy() - 0.0
    downside = np.sqrt(((-0.20) ** 2) / 4)
    assert sortino_ratio(RETURNS, 0.0, 12) == pytest.approx(excess.mean() / downside * np.sqrt(12))


def test_drawdown_hand_worked():
    # wealth 1.10, 0.88, 0.924, 1.0164; peak 1.10 -> trough 0.88 is -20%.
    np.testing.assert_allclose(drawdown(RETURNS), [0.0, -0.2, 0.924 / 1.1 - 1, 1.0164 / 1.1 - 1])
    assert max_drawdown(RETURNS) == pytest.approx(-0.2)
    # A first-period loss is a drawdown from the initial wealth of 1.
    assert max_drawdown(pd.Series([-0.1, 0.05])) == pytest.approx(-0.1)
    assert calmar_ratio(RETURNS, 12) == pytest.approx(annualized_return(RETURNS, 12) / 0.2)


def test_performance_table_has_a_row_per_strategy():
    table = performance_table(pd.DataFrame({"a": RETURNS, "b": RETURNS * 2}), 0.0, 12)
    assert list(table.index) == ["a", "b"]
    assert table.loc["b", "ann_volatility"] == pytest.approx(2 * table.loc["a", "ann_volatility"])
    assert table.loc["a", "n_periods"] == 4
