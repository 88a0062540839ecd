"""Risk-free rates on the monthly and daily calendars."""

import numpy as np
import pandas as pd
import pytest

from portflow.errors import DataError
from portflow.quant.risk_free import daily_risk_free, monthly_risk_free

MONTHLY = pd.DataFrame(
    {"rf_monthly": [0.004, 0.003, 0.002, 0.001]},
    index=pd.to_datetime(["2020-01-31", "2020-02-29", "2020-03-31", "2020-04-30"]),
)


def calendar(start, end):
    return pd.DataFrame(index=pd.bdate_range(start, end, name="date"))


def test_monthly_source_on_monthly_calendar():
    months = pd.DataFrame(index=pd.to_datetime(["2020-02-29", "2020-03-31"]))
    rf = monthly_risk_free(MONTHLY, months)
    assert rf["rf"].tolist() == [0.003, 0.002]


def test_daily_rates_compound_back_to_the_monthly_rate():
    days = calendar("2020-01-15", "2020-04-15")
    rf = daily_risk_free(MONTHLY, days)["rf"]
    by_month = (1 + rf).groupby(rf.index.month).prod() - 1
    # Full months (Feb: 20 trading days, Mar: 22) compound exactly to the source rate.
    assert by_month[2] == pytest.approx(0.003, rel=1e-12)
    assert by_month[3] == pytest.approx(0.002, rel=1e-12)
    assert rf.loc["2020-02-03"] == pytest.approx(1.003 ** (1 / 20) - 1, rel=1e-12)
    # Cut-short edge months on a calendar that is not the exchange's (2020-01-20 is an NYSE
    # holiday) use the month's weekday count (January 2020 has 23).
    assert rf.loc["2020-01-15"] == pytest.approx(1.004 ** (1 / 23) - 1, rel=1e-12)


NYSE_HOLIDAYS = pd.to_datetime(["2020-01-01", "2020-01-20", "2020-02-17", "2020-04-10"])
"""New Year, Martin Luther King Jr. Day, Washington's Birthday and Good Friday 2020."""


def nyse(start, end):
    return pd.DataFrame(index=pd.bdate_range(start, end, name="date").difference(NYSE_HOLIDAYS))


def test_edge_months_on_the_exchange_calendar_use_its_trading_days():
    """January 2020 has 23 weekdays but 21 NYSE sessions; April 22 and 21 (Good Friday)."""
    whole = daily_risk_free(MONTHLY, nyse("2020-01-02", "2020-04-30"))["rf"]
    growth = (1 + whole).groupby(whole.index.month).prod()
    np.testing.assert_allclose(growth, 1 + MONTHLY["rf_monthly"], rtol=1e-14)
    assert whole.loc["2020-01-02"] == pytest.approx(1.004 ** (1 / 21) - 1, rel=1e-12)
    assert whole.loc["2020-04-30"] == pytest.approx(1.001 ** (1 / 21) - 1, rel=1e-12)
    cut = daily_risk_free(MONTHLY, nyse("2020-01-15", "2020-04-15"))["rf"]
    pd.testing.assert_series_equal(cut, whole.loc["2020-01-15":"2020-04-15"])
    january = (1 + cut.loc[:"2020-01-31"]).prod()  # 12 of January's 21 sessions
    assert january == pytest.approx(1.004 ** (12 / 21), rel=1e-12)


def test_daily_source_is_carried_over_gaps_and_compounded_monthly():
    quotes = pd.bdate_range("2020-01-01", "2020-03-31")
    source = pd.DataFrame({"rf_daily": np.full(len(quotes), 1e-4)}, index=quotes)
    source = source.drop(pd.Timestamp("2020-02-17"))  # a bond-market holiday
    rf = daily_risk_free(source, calendar("2020-01-02", "2020-03-31"))["rf"]
    assert rf.loc["2020-02-17"] == 1e-4
    months = pd.DataFrame(index=pd.to_datetime(["2020-02-29"]))
    assert monthly_risk_free(source, months)["rf"].iloc[0] == pytest.approx(1.0001**20 - 1)


def test_missing_months_are_named():
    months = pd.DataFrame(index=pd.to_datetime(["2020-04-30", "2020-05-31", "2020-06-30"]))
    with pytest.raises(
        DataError,
        match=r"\[risk_free_monthly\] risk_free: no risk-free rate "
        r"for 2 periods: 2020-05, 2020-06; the series covers",
    ):
        monthly_risk_free(MONTHLY, months)
    with pytest.raises(DataError, match=r"\[risk_free_daily\] risk_free"):
        daily_risk_free(MONTHLY, calendar("2020-04-01", "2020-05-10"))
