"""Known answer: Moreira & Muir's market result on the bundled data, recomputed from the raw files.

``configs/moreira_muir.yaml`` manages the Fama-French market (Mkt-RF, Kenneth R. French Data
Library via arch) with the previous month's realized variance of the S&P 500's daily returns
(skfolio), 1990-02 to 2018-11, evaluated over the whole sample. The test reads the two
package files with a few lines of pandas, fits statsmodels itself, and compares N, R2,
t(alpha) and both Sharpe ratios with portflow's ``vol_evaluation`` artifact to 1e-9.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from flows.pipeline import Universe, vol_managed_stages
from portflow.config import load_config
from storage import ArtifactStore
from tasks.ingest import ingest
from tasks.run import PipelineRun
from tasks.shared import SHARED


def package_file(package: str, path: str) -> Path:
    return Path(importlib.util.find_spec(package).submodule_search_locations[0]) / path


def independent_fit():
    """The paper's regression f_sigma = alpha + beta f, from the raw package files."""
    index = pd.read_csv(
        package_file("skfolio", "datasets/data/sp500_index.csv.gz"),
        index_col="Date",
        parse_dates=True,
    )["SP500"]
    daily = index.loc["1990-01-01":"2018-11-30"].pct_change().dropna()
    variance = daily.groupby(daily.index.to_period("M")).var()  # ddof=1; >= 19 days each
    french = pd.read_csv(package_file("arch", "data/frenchdata/frenchdata.csv.gz"))
    french.index = pd.PeriodIndex(french["Date"].astype(str), freq="M")
    market = french["Mkt-RF"] / 100  # excess return, decimal
    months = variance.index[1:]  # 1990-02 .. 2018-11: last month's variance is known
    f = market.loc[months]
    managed = f / variance.shift(1).loc[months]  # c / sigma^2_{t-1} f_t; c drops out below
    fit = sm.OLS(managed.to_numpy(), sm.add_constant(f.to_numpy())).fit(cov_type="HC3")
    sharpe = {
        name: np.sqrt(12) * series.mean() / series.std(ddof=1)
        for name, series in (("managed", managed), ("unmanaged", f))
    }
    return fit, sharpe, months


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory) -> pd.Series:
    """portflow's stages on configs/moreira_muir.yaml, through the flow's own wiring."""
    store = str(tmp_path_factory.mktemp("artifacts"))
    settings = load_config("moreira_muir")
    ingested = ingest.fn(store, settings.data)
    run = PipelineRun(store, settings, inline=True)
    shared = run.submit("data", SHARED, ingested.outputs)
    with pytest.warns(UserWarning, match="exposure_warning"):  # 7.0x in 2014-12
        vol_managed_stages(run, Universe("data", ingested.benchmark, shared))
    stages = [(scope, output.stage) for scope, output in run.scoped]
    assert stages[-5:] == [
        ("vol_managed", name)
        for name in (
            "factor_source",
            "vol_market_returns",
            "vol_signals",
            "vol_strategy_returns",
            "vol_evaluation",
        )
    ]
    table = ArtifactStore(store).load(run.scoped[-1][1].ref)
    return table.set_index("strategy").loc["market_managed"]


def test_the_market_result_equals_an_independent_recomputation(evaluation):
    fit, sharpe, months = independent_fit()
    assert (months[0], months[-1], len(months)) == (
        pd.Period("1990-02", "M"),
        pd.Period("2018-11", "M"),
        346,
    )
    assert evaluation["period"] == "full" and evaluation["cov_type"] == "HC3"
    assert evaluation["n_months"] == fit.nobs == 346
    assert evaluation["r_squared"] == pytest.approx(fit.rsquared, abs=1e-9)
    assert evaluation["alpha_tstat"] == pytest.approx(fit.tvalues[0], abs=1e-9)
    assert evaluation["sharpe_managed"] == pytest.approx(sharpe["managed"], abs=1e-9)
    assert evaluation["sharpe_unmanaged"] == pytest.approx(sharpe["unmanaged"], abs=1e-9)
