"""Result tables of a run, read from the store and formatted for people.

One declaration per table says which stage it shows, which columns, with which headers
and number formats. The terminal, the Prefect table artifacts and the HTML report all
render the same :class:`ResultTable` objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from portflow.quant.vol_evaluation import DISPLAY as VOL_DISPLAY
from portflow.storage import ArtifactRef, ArtifactStore, RunRecord

PERCENT, RATIO, COUNT = "{:.2%}", "{:.2f}", "{:.0f}"


@dataclass(frozen=True)
class TableSpec:
    """How to show one stage's output."""

    key: str
    scope: str
    stage: str
    title: str
    columns: dict[str, tuple[str, str]]
    """Source column -> (header, format); a format of ``""`` means str()."""
    label: str | tuple[str, ...] | None = None
    """Column(s) naming each row; None = the index."""
    note: str = ""


SPECS = (
    TableSpec(
        key="hedge-metrics",
        scope="hedge",
        stage="hedge_metrics",
        title="Beta hedge: performance of the hedged book, the basket and the benchmark",
        columns={
            "ann_return": ("return %/yr", PERCENT),
            "ann_volatility": ("volatility %/yr", PERCENT),
            "sharpe": ("Sharpe", RATIO),
            "sortino": ("Sortino", RATIO),
            "max_drawdown": ("max drawdown", PERCENT),
            "turnover": ("turnover/yr", RATIO),
            "realized_beta": ("realized beta", RATIO),
            "volume_measure": ("weights from", ""),
        },
        note="Daily returns; Sharpe over the daily risk-free rate (mean excess / std, x sqrt 252).",
    ),
    TableSpec(
        key="hedge-regression",
        scope="hedge",
        stage="hedge_regression",
        title="Beta hedge: full-sample OLS on the benchmark (statsmodels)",
        columns={
            "alpha": ("alpha/day", "{:.5f}"),
            "alpha_t": ("t(alpha)", RATIO),
            "beta": ("beta", "{:.3f}"),
            "beta_se": ("se(beta)", "{:.3f}"),
            "beta_t": ("t(beta)", RATIO),
            "r_squared": ("R2", RATIO),
            "n_obs": ("n", COUNT),
            "cov_type": ("errors", ""),
        },
        note="'hedged' is r_basket - beta r_benchmark with the full-sample beta: its beta is 0.",
    ),
    TableSpec(
        key="vol-evaluation",
        scope="vol_managed",
        stage="vol_evaluation",
        title="Volatility-managed portfolios: managed on unmanaged (Moreira & Muir 2017)",
        columns={
            **VOL_DISPLAY,
            "alpha_net_14bp": ("14bp net %/yr", PERCENT),
            "break_even_bp": ("break-even bp", "{:.1f}"),
        },
        label=("strategy", "period"),
        note="Robust (HC) errors; alphas annualized (x12); costs in bp per unit of "
        "|change in exposure| per month; rescaled alpha uses the unmanaged volatility.",
    ),
)


@dataclass(frozen=True)
class ResultTable:
    """A formatted table: every cell a string, ready for any renderer."""

    key: str
    scope: str
    title: str
    frame: pd.DataFrame
    note: str
    source: ArtifactRef

    def records(self) -> list[dict[str, str]]:
        """One dict per row, the row label under the key ``""`` first."""
        return [
            {"": label, **dict(zip(self.frame.columns, cells, strict=True))}
            for label, cells in zip(
                self.frame.index, self.frame.itertuples(index=False), strict=True
            )
        ]


def _formatted(raw: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    if spec.label is None:
        labels = raw.index.astype(str)
    else:
        names = [spec.label] if isinstance(spec.label, str) else list(spec.label)
        labels = raw[names].astype(str).agg(" / ".join, axis=1)
    cells = {
        header: [
            fmt.format(v) if fmt and pd.notna(v) else ("" if pd.isna(v) else str(v))
            for v in raw[column]
        ]
        for column, (header, fmt) in spec.columns.items()
        if column in raw.columns
    }
    return pd.DataFrame(cells, index=pd.Index(list(labels), name=""))


def result_tables(store: ArtifactStore, record: RunRecord) -> list[ResultTable]:
    """The result tables of every strategy the run executed."""
    versions = {(s.get("scope"), s["stage"]): s["version"] for s in record.stages}
    tables = []
    for spec in SPECS:
        version = versions.get((spec.scope, spec.stage))
        if version is None:
            continue
        ref = ArtifactRef(spec.stage, version)
        frame = _formatted(store.load(ref), spec)
        tables.append(ResultTable(spec.key, spec.scope, spec.title, frame, spec.note, ref))
    return tables
