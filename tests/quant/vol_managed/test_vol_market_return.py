"""vol_market_returns: the market's column becomes Mkt-RF + RF, nothing else changes."""

import numpy as np
import pandas as pd
import pytest

from portflow.errors import DataError
from portflow.quant.vol_managed.market_return import factor_market_returns

MONTHS = pd.date_range("2018-08-31", periods=3, freq="ME", name="date")
RETURNS = pd.DataFrame({"SP500": [0.030, -0.069, 0.018], "KO": [0.01, 0.02, 0.03]}, index=MONTHS)
# Ken French's file, in percent: 2018-08 Mkt-RF 3.44 RF 0.16; 2018-09 0.06, 0.15;
# 2018-10 -7.68, 0.19; 2018-11 1.69, 0.18.
FACTORS = pd.DataFrame(
    {"Mkt-RF": [0.0344, 0.0006, -0.0768, 0.0169], "RF": [0.0016, 0.0015, 0.0019, 0.0018]},
    index=pd.date_range("2018-08-31", periods=4, freq="ME", name="date"),
)


def test_the_market_column_is_the_factor_total_return():
    out = factor_market_returns(RETURNS, FACTORS, market="SP500")
    np.testing.assert_allclose(out["SP500"], [0.0360, 0.0021, -0.0749], rtol=0, atol=1e-15)
    pd.testing.assert_series_equal(out["KO"], RETURNS["KO"])
    assert out.index.equals(RETURNS.index)
    # Over the same months and risk-free rate, the excess return is Mkt-RF.
    excess = out["SP500"] - FACTORS["RF"].reindex(MONTHS)
    np.testing.assert_allclose(excess, FACTORS["Mkt-RF"].iloc[:3], atol=1e-16)


def test_factors_that_miss_a_month_or_a_column_are_named_errors():
    with pytest.raises(DataError, match=r"\[vol_market_returns\] vol_managed.market_factors: "):
        factor_market_returns(RETURNS, FACTORS.iloc[1:], market="SP500")
    with pytest.raises(DataError, match=r"factor source has no RF column"):
        factor_market_returns(RETURNS, FACTORS[["Mkt-RF"]], market="SP500")
    with pytest.raises(DataError, match=r"\[vol_market_returns\] market: QQQ"):
        factor_market_returns(RETURNS, FACTORS, market="QQQ")
