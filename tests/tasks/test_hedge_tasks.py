"""The beta-hedge tasks end to end through ``.fn`` on sample tech4 and synthetic data."""

import datetime as dt

import numpy as np
import pytest
from pydantic import ValidationError

from portflow.config import PipelineConfig, SampleData, SyntheticData
from portflow.config.hedge import HedgeConfig
from storage import ArtifactStore
from tasks.hedge import HEDGE
from tasks.ingest import ingest
from tasks.shared import SHARED


@pytest.fixture
def run_hedge(run_stages):
    """The flow's wiring for this strategy: ingest, the shared stages, then HEDGE."""

    def run(store: str, data, config: HedgeConfig) -> dict:
        ingested = ingest.fn(store, data)
        settings = PipelineConfig(name="test", data=data, hedge=config)
        universe = run_stages(store, SHARED, ingested.outputs, settings=settings)
        available = ingested.outputs | universe
        return run_stages(store, HEDGE, available, settings=settings, benchmark=ingested.benchmark)

    return run


TECH4 = SampleData(universe="tech4", start="2004-09-01", end="2013-02-28")


def test_tech4_end_to_end_then_reuse_and_partial_recompute(tmp_path, run_hedge):
    store = str(tmp_path)
    config = HedgeConfig(dollar_volume=True, hac_lags=5)
    first = run_hedge(store, TECH4, config)
    assert {r.status for r in first.values()} == {"computed"}
    artifacts = ArtifactStore(store)
    load = {name: artifacts.load(r.ref) for name, r in first.items()}

    weights = load["volume_weights"]
    assert list(weights.columns) == ["AAPL", "GOOG", "IBM", "MSFT"]  # NASDAQ is the benchmark
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-12)
    regression = load["hedge_regression"]
    assert list(regression.index) == ["basket", "hedged"]
    assert 0.8 < regression.loc["basket", "beta"] < 1.1  # measured 0.952 (se 0.022, HAC)
    assert abs(regression.loc["hedged", "beta"]) < 1e-12
    assert (regression["cov_type"] == "HAC(5)").all()
    betas = load["hedge_rolling_beta"]
    assert len(betas) == len(range(251, len(load["basket_returns"]), 30))
    backtest = load["hedge_backtest"]
    assert backtest.index[0] == betas.index[0]
    # Cash earns the risk-free rate: about 1.2%/yr on about one equity over 2005-2013.
    cash_yield = backtest["interest"].sum() / backtest["cash"].mean() / (len(backtest) / 252)
    assert 0.005 < cash_yield < 0.03
    assert backtest["basket_traded"].iloc[1:].gt(0).mean() > 0.9  # re-weighted most days
    assert backtest["rebalance"].sum() == len(betas)
    metrics = load["hedge_metrics"]
    assert list(metrics.index) == ["hedged_net", "hedged_gross", "basket", "benchmark"]
    assert abs(metrics.loc["hedged_net", "realized_beta"]) < 0.1  # basket's is about 0.96
    assert metrics.loc["basket", "realized_beta"] > 0.8
    assert (metrics["volume_measure"] == "dollar volume (close x volume)").all()

    again = run_hedge(store, TECH4, config)
    assert {r.status for r in again.values()} == {"reused"}
    assert {k: r.version for k, r in again.items()} == {k: r.version for k, r in first.items()}

    cheaper = run_hedge(
        store, TECH4, config.model_copy(update={"cost_rate": 0.0001, "borrow_fee": 0.003})
    )
    status = {k: r.status for k, r in cheaper.items()}
    assert status == {
        "volume_weights": "reused",
        "basket_returns": "reused",
        "hedge_regression": "reused",
        "hedge_rolling_beta": "reused",
        "hedge_backtest": "computed",
        "hedge_metrics": "computed",
    }


def test_synthetic_end_to_end(tmp_path, run_hedge):
    data = SyntheticData(seed=4, n_assets=5, n_days=800, start=dt.date(2011, 1, 3))
    config = HedgeConfig(beta_window=120, rebalance_every=20, convention="capital_split")
    results = run_hedge(str(tmp_path), data, config)
    metrics = ArtifactStore(str(tmp_path)).load(results["hedge_metrics"].ref)
    assert abs(metrics.loc["hedged_net", "realized_beta"]) < 0.05
    assert (metrics["volume_measure"] == "share volume").all()


def test_sample_without_volume_fails_with_a_named_error(tmp_path, run_hedge):
    from portflow.errors import DataError

    data = SampleData(universe="sp500_20", start="2010-01-01", end="2011-12-31")
    with pytest.raises(DataError, match=r"\[volume_weights\] volume: the source has no volume"):
        run_hedge(str(tmp_path), data, HedgeConfig())


def test_config_slice_defaults_bounds_and_unknown_keys():
    config = HedgeConfig()
    assert (config.volume_window, config.rebalance_every, config.beta_window) == (30, 30, 252)
    assert config.convention == "beta_neutral" and config.dollar_volume is False
    assert config.data is None
    with_data = HedgeConfig.model_validate({"data": {"source": "sample", "universe": "tech4"}})
    assert with_data.data == SampleData(universe="tech4")
    assert HedgeConfig.model_validate({"hac_lags": "auto"}).hac_lags == "auto"
    bad_values = (
        {"window": 30},
        {"convention": "dollar"},
        {"cost_rate": -0.1},
        {"beta_window": 2},
        {"hac_lags": "newey"},
        {"borrow_fee": -0.01},
    )
    for bad in bad_values:
        with pytest.raises(ValidationError):
            HedgeConfig.model_validate(bad)
    assert all(f.description for f in HedgeConfig.model_fields.values())
