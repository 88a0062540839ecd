"""vol_signals: no look-ahead, the missing-variance policy and the errors users can cause."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from portflow.config import SampleData
from portflow.errors import DataError
from portflow.quant.prices import price_panel
from portflow.quant.returns import daily_returns, monthly_variance
from portflow.quant.vol_managed.signals import MAX_CARRY_MONTHS, vol_signals
from portflow.sources.sample import SampleSource

TICKERS = ("M", "A", "B", "C")
WINDOW = dict(train_start=dt.date(2010, 1, 1), train_end=dt.date(2012, 12, 31))


def random_variance(seed: int = 0, months: int = 72) -> pd.DataFrame:
    """Lognormal monthly variances (squared daily returns), month-ends from 2009-12."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2009-12-31", periods=months, freq="ME", name="date")
    return pd.DataFrame(
        np.exp(rng.normal(np.log(1e-4), 0.6, (months, len(TICKERS)))), index=index, columns=TICKERS
    )


def signals(variance, **kwargs):
    return vol_signals(variance, **{"market": "M", **WINDOW, **kwargs})


def by_month(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index(["asset", "month"]).sort_index()


@pytest.mark.parametrize("cut", ["2013-01-31", "2014-06-30", "2015-11-30"])
def test_exposure_of_month_t_ignores_all_data_after_t_minus_1(cut):
    """Perturb every variance after t-1 (and drop the last months): months <= t unchanged."""
    variance = random_variance()
    t = pd.Timestamp(cut)
    rng = np.random.default_rng(1)
    future = variance.index >= t
    perturbed = variance.copy()
    perturbed.loc[future] *= rng.uniform(0.1, 10.0, (int(future.sum()), len(TICKERS)))
    truncated = variance.loc[: t - pd.offsets.MonthEnd(1)]

    base = by_month(signals(variance))
    for other in (signals(perturbed), signals(truncated)):
        other = by_month(other)
        assert other.loc[(slice(None), slice(None, t)), :].equals(
            base.loc[(slice(None), slice(None, t)), :]
        )
    # The perturbation is large enough to change the exposures after t.
    changed = by_month(signals(perturbed)).loc[
        (slice(None), slice(t + pd.offsets.MonthEnd(1), None)), "exposure"
    ]
    assert not np.allclose(changed, base.loc[changed.index, "exposure"])


def test_inside_the_training_window_later_data_moves_only_the_scale_k():
    """k uses the whole training window (as in the paper); the signal itself stays past-only."""
    variance = random_variance()
    t = pd.Timestamp("2011-06-30")  # a training month
    perturbed = variance.copy()
    perturbed.loc[variance.index >= t] *= 3.0
    base, other = by_month(signals(variance)), by_month(signals(perturbed))
    past = (slice(None), slice(None, t))
    assert other.loc[past, "inverse_variance"].equals(base.loc[past, "inverse_variance"])
    assert not np.allclose(other["k"], base["k"])
    np.testing.assert_allclose(
        (other["exposure"] / other["k"]).loc[past], (base["exposure"] / base["k"]).loc[past]
    )


def test_previous_month_is_the_previous_calendar_month():
    """A month missing from the table is a missing variance, never a shifted one."""
    variance = random_variance().drop(pd.Timestamp("2013-04-30"))
    with pytest.raises(DataError, match=r"\[vol_signals\] monthly_variance\[M\].*2013-04"):
        signals(variance)
    carried = signals(variance, missing_variance="carry_forward")
    may = carried[(carried["month"] == "2013-05-31") & (carried["asset"] == "M")].iloc[0]
    assert may["signal_date"] == pd.Timestamp("2013-03-31")
    assert may["variance"] == variance.loc["2013-03-31", "M"]


@pytest.fixture(scope="module")
def sample_daily_returns() -> pd.DataFrame:
    config = SampleData(
        universe="sp500_20",
        tickers=("AAPL", "KO"),
        start=dt.date(2000, 1, 1),
        end=dt.date(2004, 12, 31),
    )
    return daily_returns(price_panel(SampleSource(config).load().daily))


def test_month_with_too_few_days_is_an_error_by_default(sample_daily_returns):
    """September 2001 has 15 daily returns (markets closed 11-14 Sep): NaN with min_days=16."""
    variance = monthly_variance(sample_daily_returns, min_days=16)
    # No ticker has a variance, so the foundation stage drops the row altogether.
    assert pd.Timestamp("2001-09-30") not in variance.index
    assert pd.Timestamp("2001-09-30") in monthly_variance(sample_daily_returns, min_days=15).index
    window = dict(train_start=dt.date(2000, 1, 1), train_end=dt.date(2002, 12, 31))
    with pytest.raises(DataError) as caught:
        vol_signals(variance, market="SP500", **window)
    message = str(caught.value)
    assert message.startswith("[vol_signals] monthly_variance[SP500]: no realized variance")
    assert "2001-09" in message and "monthly.min_days" in message
    assert "vol_managed.missing_variance: carry_forward" in message


def test_carry_forward_uses_the_last_earlier_variance(sample_daily_returns):
    variance = monthly_variance(sample_daily_returns, min_days=16)
    window = dict(train_start=dt.date(2000, 1, 1), train_end=dt.date(2002, 12, 31))
    table = vol_signals(variance, market="SP500", missing_variance="carry_forward", **window)
    october = table[table["month"] == "2001-10-31"].set_index("asset")
    assert (october["signal_date"] == pd.Timestamp("2001-08-31")).all()
    np.testing.assert_allclose(october["variance"], variance.loc["2001-08-31", october.index])
    # Every other month uses its previous month.
    others = table[table["month"] != "2001-10-31"]
    assert (others["signal_date"] == others["month"] - pd.offsets.MonthEnd(1)).all()


def test_carry_forward_has_a_limit():
    variance = random_variance()
    gap = pd.date_range("2013-02-28", periods=MAX_CARRY_MONTHS + 1, freq="ME")
    variance.loc[gap, "B"] = np.nan
    with pytest.raises(DataError, match=r"monthly_variance\[B\]: no realized variance for 4"):
        signals(variance)  # default policy: error
    with pytest.raises(DataError, match=r"monthly_variance\[B\].*2013-05.*at most 3 months"):
        signals(variance, missing_variance="carry_forward")
    variance.loc[gap[-1], "B"] = 1e-4  # a gap of MAX_CARRY_MONTHS is carried
    signals(variance, missing_variance="carry_forward")


def test_missing_variance_outside_the_window_is_ignored():
    variance = random_variance()
    variance.loc["2009-12-31":"2010-06-30", "A"] = np.nan  # before train_start's months
    table = signals(variance, train_start=dt.date(2010, 8, 1))
    assert table["month"].min() == pd.Timestamp("2010-08-31")


def test_zero_variance_is_an_error():
    variance = random_variance()
    variance.loc["2014-03-31", "C"] = 0.0
    with pytest.raises(DataError) as caught:
        signals(variance)
    message = str(caught.value)
    assert message.startswith("[vol_signals] monthly_variance[C]: zero")
    assert "2014-03=0.0" in message and "Fix: check the prices of C" in message


@pytest.mark.parametrize(
    ("window", "held"),
    [
        ((dt.date(1990, 1, 1), dt.date(1995, 12, 31)), 0),  # before the data
        ((dt.date(2030, 1, 1), dt.date(2031, 12, 31)), 0),  # after the data
        ((dt.date(2015, 8, 1), dt.date(2016, 6, 30)), 5),  # partly: 2015-08..2015-12
    ],
)
def test_training_window_outside_the_data(window, held):
    with pytest.raises(DataError) as caught:
        signals(random_variance(), train_start=window[0], train_end=window[1])
    message = str(caught.value)
    assert message.startswith("[vol_signals] vol_managed.train_start/train_end:")
    assert f"holds {held} months" in message and "2010-01..2015-12" in message
    assert "Fix: move the training window inside the data" in message


def test_test_end_cuts_the_output_and_the_last_row_is_next_months_position():
    variance = random_variance()
    full = signals(variance)
    assert full["month"].max() == variance.index.max() + pd.offsets.MonthEnd(1)
    cut = signals(variance, test_end=dt.date(2013, 6, 30))
    assert cut["month"].max() == pd.Timestamp("2013-06-30")
    assert set(cut["period"]) == {"train", "test"}


def test_unknown_tickers_are_named():
    with pytest.raises(DataError, match=r"\[vol_signals\] market: SPX not in monthly_variance"):
        vol_signals(random_variance(), market="SPX", **WINDOW)
    with pytest.raises(DataError, match=r"vol_managed.weights: ZZZ not in monthly_variance"):
        signals(random_variance(), assets=("A", "ZZZ"))


def test_default_basket_is_every_ticker_but_the_market():
    table = signals(random_variance())
    assert list(dict.fromkeys(table["asset"])) == ["M", "A", "B", "C"]
    assert table.groupby("signal")["asset"].nunique().to_dict() == {"common": 1, "per_asset": 3}
