"""The ``factor_data`` stage: factor returns on the calendar of the monthly stock returns.

Factor returns (e.g. Fama-French Mkt-RF, SMB, HML) are excess returns in decimals per
month, indexed by calendar month-end, as are ``monthly_returns`` and ``risk_free_monthly``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from portflow.errors import DataError, preview

STAGE = "factor_data"


def align_factor_data(
    factor_source: pd.DataFrame,
    monthly_returns: pd.DataFrame,
    risk_free_monthly: pd.DataFrame,
    *,
    source: str = "sample",
    factors: tuple[str, ...],
) -> pd.DataFrame:
    """Factor returns for the months that have stock returns, a risk-free rate and factors.

    Parameters
    ----------
    factor_source : DataFrame of shape (n_factor_months, n_columns)
        Factor returns as ingested (``factor_source`` stage), decimal per month, indexed
        by month-end; may hold more columns than ``factors`` (e.g. ``RF``).
    monthly_returns : DataFrame of shape (n_months, n_tickers)
        Monthly simple returns by month-end (only the index is used).
    risk_free_monthly : DataFrame of shape (n_months, 1)
        Column ``rf`` on the same calendar (only the index is used).
    source : str
        Name of the factor source (part of the config slice; recorded, not used).
    factors : tuple of str
        Columns of ``factor_source`` to keep, in this order.

    Returns
    -------
    DataFrame of shape (n_common_months, n_factors)
        The factor columns on the months common to the three inputs (the sample's factors
        end in 2018-11, so later stock months are cut), index ``date``.

    Raises
    ------
    DataError
        If a factor is missing, has NaN in the common months, the inputs share no month,
        or the factors are collinear over the whole sample (the loadings of a rolling
        regression on them would not be identified at any date).
    """
    missing = [f for f in factors if f not in factor_source.columns]
    if missing:
        raise DataError(
            STAGE,
            "optimization.factors.factors",
            f"{preview(missing)} not in the factor table (columns: "
            f"{preview(factor_source.columns, 10)})",
            "choose factors among the factor table's columns",
        )
    months = monthly_returns.index.intersection(risk_free_monthly.index).intersection(
        factor_source.index
    )
    if months.empty:
        span = (
            f"{factor_source.index.min():%Y-%m} to {factor_source.index.max():%Y-%m}"
            if len(factor_source)
            else "no months"
        )
        raise DataError(
            STAGE,
            "data.start/data.end",
            f"the stock returns and the factor returns share no month (factors cover {span})",
            "choose a data range inside the factor data's coverage",
        )
    table = factor_source.loc[months, list(factors)].astype(float)
    gaps = table.columns[table.isna().any()]
    if len(gaps):
        raise DataError(
            STAGE,
            "optimization.factors.factors",
            f"{preview(gaps)} have missing values in the sample months",
            "supply complete factor data or drop those factors",
        )
    design = np.column_stack([np.ones(len(table)), table.to_numpy()])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise DataError(
            STAGE,
            "optimization.factors.factors",
            f"the factors {preview(factors, 10)} (with a constant) are collinear over "
            f"{len(table)} months, so factor loadings are not identified",
            "drop a redundant or constant factor from optimization.factors.factors",
        )
    table.index.name = "date"
    return table
