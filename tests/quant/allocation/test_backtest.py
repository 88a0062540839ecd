"""The allocation backtester: hand-worked drift/turnover/costs, invariants, timing, stages."""

import numpy as np
import pandas as pd
import pytest

from portflow.config import SampleData
from portflow.config.allocation import (
    AllocationTargetsConfig,
    EqualWeightAllocator,
    FixedAllocator,
    InverseVolatilityAllocator,
    LSTMAllocatorConfig,
    MeanVarianceAllocator,
)
from portflow.errors import DataError
from portflow.quant.allocation.allocators import (
    EqualWeight,
    FixedWeights,
    InverseVolatility,
    investable_returns,
)
from portflow.quant.allocation.backtest import (
    NOT_INVESTABLE,
    allocation_targets,
    allocation_weights,
    backtest,
    backtest_metrics,
    backtest_returns,
    backtest_seed_summary,
    rebalance_schedule,
    simulate,
)
from portflow.quant.metrics import performance_table
from portflow.quant.prices import price_panel
from portflow.quant.returns import daily_returns
from portflow.sources.sample import SampleSource

DAYS = pd.bdate_range("2021-01-04", periods=5, name="date")  # Monday to Friday


@pytest.fixture(scope="module")
def sample_returns() -> pd.DataFrame:
    """Real daily returns of 5 of the bundled S&P 500 stocks and the index, 2014-2016."""
    data = SampleSource(
        SampleData(
            universe="sp500_20",
            start="2014-01-01",
            end="2016-12-31",
            tickers=("AAPL", "JNJ", "KO", "XOM", "JPM"),
        )
    ).load()
    return daily_returns(price_panel(data.daily))


@pytest.fixture(scope="module")
def assets(sample_returns) -> pd.DataFrame:
    return investable_returns(sample_returns, None, "SP500")


# -- the hand-worked example ---------------------------------------------------------------
HAND_RETURNS = pd.DataFrame(
    {"A": [0.02, 0.10, -0.10, 0.20, 0.05], "B": [-0.01, -0.10, 0.10, 0.00, -0.05]},
    index=DAYS,
)
HAND_TARGETS = pd.DataFrame({"A": [0.5, 0.4], "B": [0.5, 0.6]}, index=DAYS[[0, 3]])
PROPORTIONAL, FIXED = 0.001, 0.0001

# Day 0: in cash, buy 50/50 at the close.  turnover 1, 2 trades, cost .001*1 + .0001*2 = .0012,
#        gross 0 (day 0's return is not earned), net = (1 + 0)(1 - .0012) - 1 = -.0012.
# Day 1: values .5*1.1 = .55, .5*.9 = .45, total 1.00 -> gross 0, drifted (.55, .45).
# Day 2: values .55*.9 = .495, .45*1.1 = .495, total .99 -> gross -.01, drifted (.5, .5).
# Day 3: values .5*1.2 = .6, .5*1 = .5, total 1.1 -> gross +.10, drifted (6/11, 5/11);
#        rebalance to (.4, .6): traded (.4 - 6/11, .6 - 5/11) = (-8/55, +8/55), turnover 16/55,
#        cost .001*16/55 + .0001*2 = .00049090..., net = 1.1 * (1 - .00049090...) - 1 = .09946.
# Day 4: gross .4*.05 + .6*(-.05) = -.01; values .42, .57, total .99 -> drifted (42/99, 57/99).
HAND_DRIFTED = [[0, 0], [0.55, 0.45], [0.5, 0.5], [6 / 11, 5 / 11], [42 / 99, 57 / 99]]
HAND_HELD = [[0.5, 0.5], [0.55, 0.45], [0.5, 0.5], [0.4, 0.6], [42 / 99, 57 / 99]]
HAND_GROSS = [0.0, 0.0, -0.01, 0.10, -0.01]
HAND_TURNOVER = [1.0, 0.0, 0.0, 16 / 55, 0.0]
HAND_TRADES = [2, 0, 0, 2, 0]
HAND_COST = [0.0012, 0.0, 0.0, 0.001 * 16 / 55 + 0.0002, 0.0]
HAND_NET = [-0.0012, 0.0, -0.01, 1.1 * (1 - (0.001 * 16 / 55 + 0.0002)) - 1, -0.01]


def _check_hand_worked(drifted, held, daily):
    np.testing.assert_allclose(drifted.to_numpy(), HAND_DRIFTED, rtol=0, atol=1e-15)
    np.testing.assert_allclose(held.to_numpy(), HAND_HELD, rtol=0, atol=1e-15)
    np.testing.assert_allclose(daily["gross"], HAND_GROSS, rtol=0, atol=1e-15)
    np.testing.assert_allclose(daily["turnover"], HAND_TURNOVER, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(daily["trades"], HAND_TRADES)
    np.testing.assert_allclose(daily["cost"], HAND_COST, rtol=0, atol=1e-15)
    np.testing.assert_allclose(daily["net"], HAND_NET, rtol=0, atol=1e-15)
    assert HAND_NET[3] == pytest.approx(0.09946, abs=1e-12)


def test_hand_worked_drift_turnover_and_costs():
    result = simulate(HAND_RETURNS, HAND_TARGETS, proportional_cost=PROPORTIONAL, fixed_cost=FIXED)
    _check_hand_worked(result.drifted, result.held, result.returns)


def test_hand_worked_example_through_an_allocator_and_the_calendar():
    """Same numbers when the targets come from an allocator called on a calendar schedule."""
    seen = []

    def allocator(past: pd.DataFrame) -> pd.Series:
        seen.append(past.index)
        return HAND_TARGETS.loc[past.index[-1]]

    result = backtest(
        HAND_RETURNS,
        allocator,
        estimation_window=1,
        rebalance="calendar",
        rebalance_dates=["2021-01-04", "2021-01-07"],
        proportional_cost=PROPORTIONAL,
        fixed_cost=FIXED,
    )
    _check_hand_worked(result.drifted, result.held, result.returns)
    assert [list(index) for index in seen] == [[DAYS[0]], [DAYS[3]]]


def test_hand_worked_example_through_the_long_table_stages():
    targets = HAND_TARGETS.rename_axis(index="date", columns="ticker").stack()
    long = targets.rename("weight").reset_index().assign(allocator="hand", strategy="hand")
    long["seed"] = pd.array([None] * len(long), dtype="Int64")
    weights = allocation_weights(HAND_RETURNS, long)
    assert list(weights.columns) == ["date", "allocator", "ticker", "drifted", "target", "held"]
    wide = {c: weights.pivot(index="date", columns="ticker", values=c) for c in weights.columns[3:]}
    np.testing.assert_allclose(wide["target"].dropna().to_numpy(), HAND_TARGETS.to_numpy())
    assert list(wide["target"].dropna().index) == list(HAND_TARGETS.index)
    daily = backtest_returns(
        HAND_RETURNS, weights, proportional_cost=PROPORTIONAL, fixed_cost=FIXED
    ).set_index("date")
    _check_hand_worked(wide["drifted"], wide["held"], daily)


# -- invariants ------------------------------------------------------------------------------
def test_fixed_weights_rebalanced_daily_without_costs_earn_the_weighted_sum(assets):
    mix = {"AAPL": 0.1, "JNJ": 0.2, "KO": 0.3, "XOM": 0.4}
    result = backtest(
        assets,
        FixedWeights(mix),
        estimation_window=1,
        rebalance="every_n_days",
        rebalance_every=1,
    )
    weights = pd.Series(mix).reindex(assets.columns, fill_value=0.0)
    expected = assets.loc[result.returns.index] @ weights
    np.testing.assert_allclose(result.returns["gross"].iloc[1:], expected.iloc[1:], atol=1e-15)
    assert result.returns["gross"].iloc[0] == 0.0
    np.testing.assert_array_equal(result.returns["net"], result.returns["gross"])
    assert len(result.targets) == len(assets) - 1  # every day but the last


def test_never_rebalanced_equals_buy_and_hold(assets):
    mix = {"AAPL": 0.25, "JNJ": 0.25, "KO": 0.2, "XOM": 0.2, "JPM": 0.1}
    result = backtest(assets, FixedWeights(mix), estimation_window=60, rebalance="never")
    start = assets.index[59]
    assert list(result.targets.index) == [start]
    after = assets.loc[start:].iloc[1:]
    growth = (1.0 + after).cumprod()  # value of 1 dollar bought at the close of start
    holdings = growth * pd.Series(mix)
    wealth = holdings.sum(axis=1)
    np.testing.assert_allclose(
        (1.0 + result.returns["gross"].iloc[1:]).cumprod(), wealth, rtol=1e-12
    )
    np.testing.assert_allclose(
        result.drifted.iloc[1:], holdings.div(wealth, axis=0)[assets.columns], rtol=1e-12
    )
    assert (result.returns["turnover"].iloc[1:] == 0).all()


def _loop(returns, targets, proportional, fixed):
    """Independent reference: the day-by-day recursion of the module docstring."""
    frame = returns.loc[targets.index[0] :]
    rows = {date: targets.loc[date].to_numpy() for date in targets.index}
    weights, out = np.zeros(frame.shape[1]), []
    for date, r in zip(frame.index, frame.to_numpy(), strict=True):
        gross = 0.0
        if out:
            gross = float(weights @ r)
            weights = weights * (1 + r) / (1 + gross)
        drifted, cost, turnover = weights, 0.0, 0.0
        if date in rows:
            trade = rows[date] - weights
            turnover = np.abs(trade).sum()
            cost = proportional * turnover + fixed * np.count_nonzero(np.abs(trade) > 1e-12)
            weights = rows[date]
        out.append((drifted, weights, gross, turnover, cost, (1 + gross) * (1 - cost) - 1))
    return out


def test_vectorized_engine_matches_a_day_loop_with_cash_and_irregular_dates(assets):
    rng = np.random.default_rng(3)
    dates = assets.index[[5, 6, 7, 40, 41, 300, 301, 302, 600]]
    raw = rng.uniform(0, 1, (len(dates), assets.shape[1]))
    targets = pd.DataFrame(raw / raw.sum(axis=1, keepdims=True) * 0.9, dates, assets.columns)
    result = simulate(assets, targets, proportional_cost=0.002, fixed_cost=0.0003)
    reference = _loop(assets, targets, 0.002, 0.0003)
    np.testing.assert_allclose(result.drifted, [r[0] for r in reference], atol=1e-13, rtol=0)
    np.testing.assert_allclose(result.held, [r[1] for r in reference], atol=1e-13, rtol=0)
    for position, column in enumerate(["gross", "turnover", "cost", "net"], start=2):
        np.testing.assert_allclose(
            result.returns[column], [r[position] for r in reference], atol=1e-13, rtol=0
        )


def test_costs_are_proportional_plus_fixed_per_traded_asset(assets):
    free = backtest(assets, InverseVolatility(), estimation_window=63)
    costly = backtest(
        assets, InverseVolatility(), estimation_window=63, proportional_cost=0.01, fixed_cost=0.001
    )
    pd.testing.assert_frame_equal(free.held, costly.held)  # costs are paid pro rata: no drift
    daily = costly.returns
    expected = 0.01 * daily["turnover"] + 0.001 * daily["trades"]
    np.testing.assert_allclose(daily["cost"], expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(daily["net"], (1 + daily["gross"]) * (1 - expected) - 1, atol=1e-15)
    rebalance_days = daily.index.isin(costly.targets.index)
    assert (daily.loc[rebalance_days, "trades"] == assets.shape[1]).all()
    assert (daily.loc[~rebalance_days, ["turnover", "trades", "cost"]] == 0).all().all()


# -- timing: the allocator sees only the past ------------------------------------------------
def test_allocator_gets_exactly_the_window_ending_at_each_rebalance_date(assets):
    seen = []

    def spy(past):
        seen.append((past.index[0], past.index[-1], past.shape))
        return EqualWeight()(past)

    result = backtest(assets, spy, estimation_window=42, rebalance="monthly")
    for (first, last, shape), date in zip(seen, result.targets.index, strict=True):
        position = assets.index.get_loc(date)
        assert last == date and first == assets.index[position - 41]
        assert shape == (42, assets.shape[1])


ALLOCATOR_SPECS = [
    FixedAllocator(name="mix", weights={"AAPL": 0.5, "XOM": 0.5}),
    EqualWeightAllocator(),
    InverseVolatilityAllocator(),
    MeanVarianceAllocator(risk_aversion=3.0, max_weight=0.5),
    LSTMAllocatorConfig(
        lookback=5, hidden_size=4, vol_window=5, epochs=3, retrain_every=2, seeds=(0,)
    ),
]


@pytest.mark.parametrize("spec", ALLOCATOR_SPECS, ids=lambda s: s.kind)
def test_perturbing_the_future_leaves_past_decisions_unchanged(sample_returns, spec):
    settings = AllocationTargetsConfig(
        allocators=(spec,), estimation_window=60, rebalance="monthly"
    )
    params = dict(settings) | {"benchmark": "SP500"}
    cutoff = pd.Timestamp("2015-06-30")  # a rebalance date (last trading day of June)
    before = allocation_targets(sample_returns, **params)
    future = sample_returns.index > cutoff
    noise = np.random.default_rng(1).normal(0, 0.05, (future.sum(), sample_returns.shape[1]))
    perturbed = sample_returns.copy()
    perturbed.loc[future] = noise
    after = allocation_targets(perturbed, **params)
    assert cutoff in set(before["date"])
    past_before = before[before["date"] <= cutoff].reset_index(drop=True)
    past_after = after[after["date"] <= cutoff].reset_index(drop=True)
    pd.testing.assert_frame_equal(past_before, past_after, check_exact=True)
    if spec.kind not in ("fixed", "equal_weight"):  # these ignore the data
        later = (before["date"] > cutoff) & ((before["weight"] - after["weight"]).abs() > 1e-6)
        assert later.any()


# -- schedules -------------------------------------------------------------------------------
def test_schedules_pick_period_ends_never_the_last_day(assets):
    index = assets.index
    weekly = rebalance_schedule(index, rebalance="weekly", first=10)
    monthly = rebalance_schedule(index, rebalance="monthly", first=10)
    for chosen, period in ((weekly, "W"), (monthly, "M")):
        positions = index.get_indexer(chosen)
        following = index[positions + 1]
        assert (chosen.to_period(period) != following.to_period(period)).all()
        assert index[-1] not in chosen and chosen[0] >= index[10]
    assert len(monthly) == 36 - 1  # 2014-01 (first=10 is mid-January) .. 2016-11
    assert monthly[0] == pd.Timestamp("2014-01-31")
    every = rebalance_schedule(index, rebalance="every_n_days", every=7, first=10)
    assert (np.diff(index.get_indexer(every)) == 7).all() and every[0] == index[10]
    assert list(rebalance_schedule(index, rebalance="never", first=10)) == [index[10]]


def test_schedules_on_the_first_trading_day_of_each_month_or_week():
    index = pd.DatetimeIndex(
        ["2021-03-30", "2021-03-31", "2021-04-01", "2021-04-05", "2021-04-30", "2021-05-03",
         "2021-05-04", "2021-06-01", "2021-06-02"]
    )  # fmt: skip
    monthly = rebalance_schedule(index, rebalance="monthly", day="first")
    # March's first day in the data (2021-03-30) is index[0]; June 1st is eligible too.
    assert list(monthly.strftime("%Y-%m-%d")) == [
        "2021-03-30", "2021-04-01", "2021-05-03", "2021-06-01"
    ]  # fmt: skip
    last = rebalance_schedule(index, rebalance="monthly", day="last")
    assert list(last.strftime("%Y-%m-%d")) == ["2021-03-31", "2021-04-30", "2021-05-04"]
    weekly = rebalance_schedule(index, rebalance="weekly", day="first", first=2)
    assert list(weekly.strftime("%Y-%m-%d")) == [
        "2021-04-05", "2021-04-30", "2021-05-03", "2021-06-01"
    ]  # fmt: skip


def test_weekly_schedule_on_a_short_week_uses_the_last_trading_day():
    index = pd.DatetimeIndex(
        ["2021-03-29", "2021-03-30", "2021-03-31", "2021-04-01", "2021-04-05", "2021-04-06"]
    )  # Good Friday 2021-04-02 closed
    assert list(rebalance_schedule(index, rebalance="weekly")) == [pd.Timestamp("2021-04-01")]


def test_calendar_dates_move_to_the_next_trading_day_and_must_be_inside(assets):
    index = assets.index
    chosen = rebalance_schedule(
        index, rebalance="calendar", dates=["2015-07-04", "2015-07-06", "2016-01-01"], first=10
    )
    assert list(chosen) == list(pd.to_datetime(["2015-07-06", "2016-01-04"]))
    with pytest.raises(DataError, match=r"\[allocation_targets\] allocation.rebalance_dates"):
        rebalance_schedule(index, rebalance="calendar", dates=["2016-12-30"], first=10)
    with pytest.raises(DataError, match="first date with a full window"):
        rebalance_schedule(index, rebalance="calendar", dates=["2014-01-03"], first=10)


# -- metrics and summary ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def staged(sample_returns):
    specs = (
        EqualWeightAllocator(),
        FixedAllocator(name="mix", weights={"AAPL": 0.6, "KO": 0.4}),
        MeanVarianceAllocator(),
    )
    targets = allocation_targets(
        sample_returns, allocators=specs, estimation_window=126, benchmark="SP500"
    )
    weights = allocation_weights(sample_returns, targets)
    daily = backtest_returns(sample_returns, weights, proportional_cost=0.001, fixed_cost=0.0)
    rf = pd.DataFrame({"rf": 0.00002}, index=sample_returns.index)
    return targets, daily, backtest_metrics(daily, targets, rf), rf


def test_stages_agree_with_the_in_memory_backtest(staged, assets):
    targets, daily, _, _ = staged
    mine = daily[daily["allocator"] == "equal_weight"].set_index("date")
    direct = backtest(assets, EqualWeight(), estimation_window=126, proportional_cost=0.001)
    pd.testing.assert_frame_equal(mine.drop(columns="allocator"), direct.returns, atol=1e-15)
    assert set(targets["allocator"]) == {"equal_weight", "mix", "mean_variance"}
    assert targets.groupby(["allocator", "date"])["weight"].sum().sub(1).abs().max() < 1e-9


def test_metrics_are_those_of_portflow_metrics_on_net_returns(staged):
    _, daily, metrics, rf = staged
    net = daily.pivot(index="date", columns="allocator", values="net")
    expected = performance_table(net, rf["rf"], 252)
    columns = ["ann_return", "ann_volatility", "sharpe", "sortino", "max_drawdown", "calmar"]
    pd.testing.assert_frame_equal(
        metrics.loc[expected.index, columns], expected[columns], check_names=False
    )
    mix = daily[daily["allocator"] == "mix"]
    years = len(mix) / 252
    assert metrics.loc["mix", "ann_turnover"] == pytest.approx(
        mix["turnover"].iloc[1:].sum() / years, rel=1e-12
    )
    assert metrics.loc["mix", "ann_turnover_one_way"] == pytest.approx(
        mix["turnover"].iloc[1:].sum() / years / 2, rel=1e-12
    )
    assert metrics.loc["mix", "ann_cost"] == pytest.approx(mix["cost"].sum() / years, rel=1e-12)
    assert (metrics["note"] == "").all()


def test_seed_summary_is_mean_and_std_over_runs():
    metrics = pd.DataFrame(
        {"strategy": ["lstm", "lstm", "lstm", "ew"], "sharpe": [0.5, 0.7, 0.9, 0.4]},
        index=pd.Index(["lstm[seed=0]", "lstm[seed=1]", "lstm[seed=2]", "ew"], name="allocator"),
    )
    for column in (
        "ann_return", "ann_volatility", "sortino", "max_drawdown", "calmar", "ann_turnover",
        "ann_turnover_one_way", "ann_cost",
    ):  # fmt: skip
        metrics[column] = 0.0
    summary = backtest_seed_summary(metrics).set_index(["strategy", "metric"])
    assert summary.loc[("lstm", "sharpe"), "mean"] == pytest.approx(0.7)
    assert summary.loc[("lstm", "sharpe"), "std"] == pytest.approx(0.2)
    assert summary.loc[("lstm", "sharpe"), "n_runs"] == 3
    assert np.isnan(summary.loc[("ew", "sharpe"), "std"])


def test_vix_is_flagged_as_not_investable_in_the_metrics():
    rng = np.random.default_rng(0)
    index = pd.bdate_range("2020-01-01", periods=300, name="date")
    returns = pd.DataFrame(
        rng.normal(0.0003, [0.01, 0.004, 0.012, 0.06], (300, 4)),
        index=index,
        columns=["VTI", "AGG", "DBC", "^VIX"],
    )
    specs = (
        InverseVolatilityAllocator(),
        FixedAllocator(name="60_40", weights={"VTI": 0.6, "AGG": 0.4}),
    )
    targets = allocation_targets(returns, allocators=specs, estimation_window=60)
    daily = backtest_returns(returns, allocation_weights(returns, targets))
    metrics = backtest_metrics(daily, targets, pd.DataFrame({"rf": 0.0}, index=index))
    assert metrics.loc["inverse_volatility", "note"] == NOT_INVESTABLE["^VIX"]
    assert NOT_INVESTABLE["^VIX"].startswith("^VIX is the CBOE Volatility Index, an index, not")
    assert "not investable" in NOT_INVESTABLE["VIX"] and "not directly" in NOT_INVESTABLE["WTI"]
    assert metrics.loc["60_40", "note"] == ""


# -- errors a user can cause -----------------------------------------------------------------
def test_errors_name_the_stage_the_field_and_the_fix(sample_returns):
    with pytest.raises(DataError, match=r"\[allocation_targets\] allocation.tickers: .*NOPE"):
        allocation_targets(sample_returns, allocators=(EqualWeightAllocator(),), tickers=("NOPE",))
    with pytest.raises(DataError, match=r"allocation.estimation_window: .* Fix: shorten"):
        allocation_targets(
            sample_returns, allocators=(EqualWeightAllocator(),), estimation_window=5000
        )
    with pytest.raises(DataError, match=r"allocation.allocators\[mix\].weights: .*TSLA"):
        allocation_targets(
            sample_returns,
            allocators=(FixedAllocator(name="mix", weights={"TSLA": 1.0}),),
            benchmark="SP500",
        )
    with pytest.raises(DataError, match=r"allocation.allocators\[mean_variance\].max_weight"):
        allocation_targets(
            sample_returns,
            allocators=(MeanVarianceAllocator(max_weight=0.1),),
            benchmark="SP500",
        )
    gappy = sample_returns.copy()
    gappy.iloc[100, 0] = np.nan
    with pytest.raises(DataError, match=r"AAPL: missing daily returns .* Fix: set prices.missing"):
        allocation_targets(gappy, allocators=(EqualWeightAllocator(),), benchmark="SP500")
