"""Every valid config renders to the end: the report and the result tables for every
combination the schema allows, on small synthetic data.

Two real pipeline runs cover what changes the artifacts: strategies on the top-level data
or on data sections of their own (one shared by two strategies), sector rotation on and
off, one moment model or both (listed in either order), sweeps without TEV budgets or
without risk aversions, no crisis windows, allocations with and without seeds. (The
session's default run covers both sweeps together.) Every subset of strategies (2^4 of
them) is then reported from the first run's record, filtered to that subset as a run of
only those strategies would have recorded it.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from portflow.report import figures
from portflow.report.html import build_report
from portflow.report.index import build_index, headline_figures
from portflow.report.run_view import STRATEGIES, RunView, scope_strategy
from portflow.report.tables import ResultTable, result_tables
from portflow.report.tearsheet import TearSheetInput, tear_sheet
from storage import ArtifactRef, ArtifactStore, RunRecord
from tasks.report import write_index


def synthetic(seed: int, n_assets: int = 8) -> dict:
    return {"source": "synthetic", "seed": seed, "n_assets": n_assets, "n_days": 900}


def strategies(**overrides) -> dict:
    """Small but complete sections of the four strategies (synthetic dates 2010-2013)."""
    sections = {
        "hedge": {"beta_window": 126, "rebalance_every": 21},
        "vol_managed": {"train_start": "2010-01-01", "train_end": "2011-12-31"},
        "optimization": {
            "moments": {"window": 24, "min_observations": 18},
            "regimes": {"min_observations": 24, "n_iter": 20},
            "moment_models": ["sample", "regime"],
            "sweep": {
                "gammas": [1, 10],
                "tev_budgets": [0.02, 0.05],
                "sector_rotation": True,  # synthetic stocks have no SIC code: Unassigned
            },
        },
        "allocation": {
            "estimation_window": 126,
            "rebalance": "monthly",
            "allocators": [
                {"kind": "fixed", "name": "half_half", "weights": {"A0": 0.5, "A1": 0.5}},
                {"kind": "inverse_volatility"},
                {
                    "kind": "lstm",
                    "window": 126,
                    "lookback": 5,
                    "hidden_size": 4,
                    "epochs": 2,
                    "retrain_every": 24,
                    "seeds": [0, 1],
                },
            ],
        },
    }
    for path, value in overrides.items():
        *parents, leaf = path.split(".")
        node = sections
        for key in parents:
            node = node[key]
        node[leaf] = value
    return sections


CONFIGS = {
    # Every strategy on the top-level data; both moment models, listed regime first; TEV
    # budgets only (no risk aversions), so sector rotation solves the TEV problem only.
    "shared": {
        "data": synthetic(1),
        **strategies(
            **{
                "optimization.moment_models": ["regime", "sample"],
                "optimization.sweep.gammas": [],
            }
        ),
    },
    # Hedge, optimization and allocation on data of their own (hedge and allocation share
    # one section), the volatility-managed portfolios on the top-level data; the regime
    # model alone; risk aversions only; sector rotation off; no crisis windows; one
    # allocator, without seeds.
    "own": {
        "data": synthetic(2),
        **strategies(
            **{
                "hedge.data": synthetic(3),
                "optimization.data": synthetic(5),
                "optimization.moment_models": ["regime"],
                "optimization.sweep.tev_budgets": [],
                "optimization.sweep.sector_rotation": False,
                "optimization.report": {"crisis_windows": {}},
                "allocation.data": synthetic(3),
                "allocation.allocators": [{"kind": "equal_weight"}],
            }
        ),
    },
}


@pytest.fixture(scope="module")
def runs(prefect_harness, tmp_path_factory):
    """One real pipeline run per config, all in one store: {name: (store, record)}."""
    from flows.pipeline import pipeline

    root = tmp_path_factory.mktemp("combinations")
    store = ArtifactStore(str(root / "artifacts"))
    found = {}
    for name, body in CONFIGS.items():
        path = root / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"name": name, **body}, sort_keys=False))
        found[name] = (store, pipeline(config=str(path), store_root=store.url))
    return found


TEAR_SHEET_KEYS = {"vol_managed": "vol"}


def section_ids(page: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)">', page)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_the_report_of_each_config_renders(runs, name):
    store, record = runs[name]
    page = store.fs.cat_file(store.report_url(record.run_id)).decode()
    expected = [s for s in STRATEGIES if s in CONFIGS[name]]
    assert section_ids(page) == [*expected, "run"]
    for strategy in expected:
        assert f'id="{TEAR_SHEET_KEYS.get(strategy, strategy)}-tearsheet"' in page
    assert "<script" not in page and record.run_id in page
    figures_found = re.findall(r'<figure id="([^"]+)"><img', page)
    assert len(figures_found) == len(set(figures_found)) >= 6 * len(expected)


def test_sector_rotation_and_sweeps_follow_the_config(runs):
    shared = (
        runs["shared"][0]
        .fs.cat_file(runs["shared"][0].report_url(runs["shared"][1].run_id))
        .decode()
    )
    own = runs["own"][0].fs.cat_file(runs["own"][0].report_url(runs["own"][1].run_id)).decode()
    assert 'id="optimization-sectors"' in shared and 'id="optimization-sectors"' not in own
    # Without TEV budgets the tear sheet is of the middle risk aversion.
    assert "Tear sheet: gamma=1 (regime moments)" in own
    assert "Tear sheet: tev=0.02 (sample moments)" in shared


def test_a_strategy_on_data_shared_with_another_finds_its_inputs(runs):
    """In ``own``, the allocation's data section equals the hedge's: the run records that
    universe once, under ``hedge.data``, and the report finds it along the lineage."""
    store, record = runs["own"]
    run = RunView(store, record)
    assert "allocation.data" not in run.scopes()
    daily = run.upstream("allocation", "backtest_returns", "daily_returns")
    assert run.scope_of(daily) == "hedge.data"
    allocation = next(t for t in result_tables(store, record) if t.key == "allocation-metrics")
    assert "benchmark (BENCH)" in allocation.frame.index


def subset_record(record: RunRecord, chosen: tuple[str, ...]) -> RunRecord:
    """The record of a run of only ``chosen``: their stages and the universes they use."""
    run = RunView(ArtifactStore("memory://unused"), record)
    stages = [
        row
        for row in record.stages
        if scope_strategy(row["scope"]) in chosen or row["scope"] in run.data_scopes()
    ]
    config = {k: v for k, v in record.config.items() if k not in STRATEGIES or k in chosen}
    return record.model_copy(update={"stages": stages, "config": config})


def test_every_subset_of_strategies_renders(runs, monkeypatch):
    """2^4 reports from the ``shared`` run, each with exactly its strategies' sections.
    Drawing is left out here (the reports of the runs above draw every figure): each
    figure builder returns a blank figure, and all the data handling of every section,
    tear sheet and table runs for real."""
    builders = [
        name
        for name, value in vars(figures).items()
        if callable(value) and getattr(value, "__annotations__", {}).get("return") == "Figure"
    ]
    assert {"performance", "tear_sheet_returns", "weights_grid"} <= set(builders)
    for name in builders:
        monkeypatch.setattr(
            figures,
            name,
            lambda *_, key, title, caption, **__: figures.Figure(key, title, caption, b""),
        )
    store, record = runs["shared"]
    for size in range(len(STRATEGIES) + 1):
        for chosen in itertools.combinations(STRATEGIES, size):
            subset = subset_record(record, chosen)
            page = build_report(store, subset)
            assert section_ids(page) == [*chosen, "run"], chosen
            tables = {scope_strategy(t.scope) for t in result_tables(store, subset)}
            assert tables == set(chosen)
            assert set(headline_figures(RunView(store, subset))) == set(chosen)


def test_the_index_lists_every_run_with_its_headline_figures(runs):
    store, _ = runs["shared"]
    records = store.runs()
    page = store.fs.cat_file(store.report_url("index")).decode()
    for name, (_, record) in runs.items():
        assert f'href="{record.run_id}.html"' in page
        assert f"<td>{name}</td>" in page
    assert page.count("<tr>") == len(records) + 1
    assert "unavailable" not in page
    # A run whose report was never written is listed with the command that writes it.
    unwritten = build_index(store, records, reports=set())
    assert "no report: <code>portflow report" in unwritten
    assert write_index(store) == store.report_url("index")


def test_a_tear_sheet_without_a_benchmark_leaves_out_the_relative_statistics():
    """An allocation on a files source without a benchmark has nothing to compare with."""
    index = pd.bdate_range("2015-01-02", periods=300)
    returns = pd.Series(np.random.default_rng(0).normal(0.0003, 0.01, 300), index=index)
    blocks = tear_sheet(
        TearSheetInput(
            key="allocation",
            heading="Tear sheet: alone",
            note="",
            returns=returns.rename("alone"),
            benchmark=None,
            risk_free=0.0,
            periods_per_year=252,
            source=ArtifactRef("backtest_returns", "0" * 16),
        )
    )
    tables = {b.key: b for b in blocks if isinstance(b, ResultTable)}
    statistics = tables["allocation-statistics"].frame
    assert list(statistics.columns) == ["alone"]
    assert "Sharpe ratio" in statistics.index and "beta to the benchmark" not in statistics.index
    assert len([b for b in blocks if isinstance(b, figures.Figure)]) == 4
