"""What a run was: its config and parameters, the versions it used, where its data came from.

Everything here is read from the run record and the manifests of the run's artifacts,
except the library versions, which are those of the process writing the report (the
run's own process when the report is written at the end of the run).
"""

from __future__ import annotations

import importlib.metadata
import platform
from dataclasses import dataclass

import pandas as pd
import yaml

from portflow.report.run_view import RunView
from portflow.sources.sample import PINNED

LIBRARIES = (
    "portflow",
    "prefect",
    "pandas",
    "numpy",
    "pyarrow",
    "statsmodels",
    "cvxpy",
    "clarabel",
    "hmmlearn",
    "torch",
    "matplotlib",
    "fsspec",
    "yfinance",
)
FRENCH = "Kenneth R. French Data Library"


@dataclass(frozen=True)
class InfoTable:
    """A table of facts (every cell a string), with an id, a title and a note."""

    key: str
    title: str
    frame: pd.DataFrame
    note: str = ""


def config_yaml(run: RunView) -> str:
    """The run's config (after the run's overrides), as YAML."""
    return yaml.safe_dump(run.record.config, sort_keys=False, allow_unicode=True)


def run_table(run: RunView) -> InfoTable:
    record = run.record
    computed = sum(s["status"] == "computed" for s in record.stages)
    seconds = (record.finished_at - record.started_at).total_seconds()
    facts = {
        "config": record.config_name,
        "description": str(record.config.get("description") or ""),
        "run id": record.run_id,
        "started (UTC)": f"{record.started_at:%Y-%m-%d %H:%M:%S}",
        "finished (UTC)": f"{record.finished_at:%Y-%m-%d %H:%M:%S} ({seconds:.0f} s)",
        "strategies": ", ".join(run.strategies()) or "none (shared stages only)",
        "stages": f"{len(record.stages)}: {computed} computed, "
        f"{len(record.stages) - computed} reused",
        "store": run.store.url,
    }
    frame = pd.DataFrame({"value": list(facts.values())}, index=pd.Index(facts, name="run"))
    return InfoTable(
        "run-facts",
        "The run",
        frame,
        "The config below is the one the run used: the YAML file with the run's parameters "
        "(dates, strategies, sweep values, ...) applied.",
    )


SAMPLE_ORIGIN = (
    f"Sample data: real data bundled in pinned PyPI packages ({', '.join(PINNED.values())}), "
    f"each file sha256-checked on read; its risk-free rate is the one-month T-bill of the "
    f"{FRENCH}."
)


def _origin(source: dict, download: str | None) -> str:
    kind = source.get("source", "sample")
    if kind == "sample":
        return f"bundled sample universe {source.get('universe')} (see the note)"
    if kind == "yfinance":
        return (
            f"Yahoo Finance download stored as {download or 'yfinance_download'}; "
            f"risk-free ticker {source.get('risk_free')}"
        )
    if kind == "files":
        rf = source.get("risk_free_path") or f"monthly RF from the {FRENCH} (sample data)"
        return f"user file {source.get('path')}; risk-free rate: {rf}"
    return (
        f"seeded synthetic factor model (seed {source.get('seed')}, "
        f"{source.get('n_assets')} assets, {source.get('n_days')} days)"
    )


def data_table(run: RunView) -> InfoTable:
    """One row per universe the run ingested."""
    rows = {}
    for scope in run.data_scopes():
        ref = run.ref(scope, "market_data")
        manifest = run.manifest(ref)
        source = dict(manifest.params.get("source") or {})
        prices = run.load(scope, "prices") if run.has(scope, "prices") else None
        download = manifest.upstream.get("download")
        dates = (
            f"{prices.index.min():%Y-%m-%d} to {prices.index.max():%Y-%m-%d}"
            if prices is not None and len(prices)
            else ""
        )
        tickers = ", ".join(map(str, prices.columns)) if prices is not None else ""
        rows[scope] = {
            "source": str(source.get("source", "")),
            "tickers": tickers if len(tickers) <= 160 else f"{len(prices.columns)} tickers",
            "dates": dates,
            "benchmark": str(manifest.params.get("benchmark") or "none"),
            "origin": _origin(source, download),
            "market_data version": ref.version,
        }
    for scope in run.scopes():
        ref = run.ref(scope, "factor_source")
        if ref is None:
            continue
        params = run.manifest(ref).params
        factors = run.load(ref)
        kind = params.get("source")
        origin = {
            "sample": f"Fama-French factors from the {FRENCH}, bundled with {PINNED['arch']}",
            "french_library": f"{params.get('dataset')} from the {FRENCH}",
            "files": f"user file {params.get('path')}",
        }.get(kind, str(kind))
        rows[f"{scope} factors"] = {
            "source": str(kind),
            "tickers": ", ".join(params.get("factors") or []),
            "dates": f"{factors.index.min():%Y-%m} to {factors.index.max():%Y-%m}"
            if len(factors)
            else "",
            "benchmark": "",
            "origin": origin,
            "market_data version": ref.version,
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "data scope"
    sample = any(r["source"] == "sample" for r in rows.values())
    return InfoTable(
        "run-data",
        "Data provenance",
        frame,
        "One row per universe (a strategy's own data section, or the top-level one it "
        "shares) and per factor set; each version is the sha256-based content hash of the "
        "ingested table." + (f" {SAMPLE_ORIGIN}" if sample else ""),
    )


def versions_table(run: RunView) -> InfoTable:
    """Library versions, and the portflow versions and code versions of the artifacts."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    built = sorted(
        {
            run.manifest(run.ref(s.get("scope"), s["stage"])).portflow_version
            for s in run.record.stages
        }
    )
    versions["portflow of the artifacts"] = ", ".join(built)
    frame = pd.DataFrame(
        {"version": list(versions.values())}, index=pd.Index(versions, name="library")
    )
    return InfoTable(
        "run-versions",
        "Versions",
        frame,
        "Libraries of the process that wrote this report (the run itself, when written at "
        "the end of the run). Each artifact's manifest records the portflow version and a "
        "hash of the code of the stage that made it; the stages table lists every version.",
    )
