"""OLS of one series on a constant and regressors, with the standard errors the user chooses.

statsmodels does the work (``statsmodels.api.OLS(...).fit(cov_type=...)``); this module only
names the choices every strategy offers and resolves the automatic lag:

- ``nonrobust``: classic OLS errors, p-values from the t distribution;
- ``HC0`` .. ``HC3``: White's heteroskedasticity-robust errors and their small-sample
  refinements (MacKinnon & White 1985), p-values from the normal distribution;
- ``HAC``: Newey-West errors (Bartlett kernel) robust to heteroskedasticity and
  autocorrelation up to ``hac_lags`` lags, p-values from the normal distribution.
  statsmodels applies no small-sample correction (its ``use_correction`` defaults to
  False) and neither does portflow.

``hac_lags="auto"`` is the Newey & West (1994) rule of thumb for the Bartlett kernel,
``floor(4 (T / 100) ** (2 / 9))`` with T the number of observations (7 lags for about 2,100
daily returns, 5 for 346 months).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd

CovType = Literal["nonrobust", "HC0", "HC1", "HC2", "HC3", "HAC"]
HacLags = int | Literal["auto"]
"""A number of lags, or ``"auto"`` for the Newey-West rule (:func:`newey_west_lags`)."""


def newey_west_lags(n_obs: int) -> int:
    """Newey & West (1994) rule-of-thumb lags of the Bartlett kernel: ``floor(4 (T/100)^(2/9))``.

    Parameters
    ----------
    n_obs : int
        T, the number of observations in the regression.
    """
    return math.floor(4.0 * (n_obs / 100.0) ** (2.0 / 9.0))


def hac_lag_count(hac_lags: HacLags, n_obs: int) -> int:
    """The lags of a HAC fit: ``hac_lags`` itself, or the Newey-West rule for ``"auto"``."""
    return newey_west_lags(n_obs) if hac_lags == "auto" else int(hac_lags)


def ols_fit(
    y: pd.Series | np.ndarray,
    x: pd.Series | pd.DataFrame | np.ndarray,
    *,
    cov_type: CovType = "nonrobust",
    hac_lags: HacLags | None = None,
):
    """statsmodels OLS of ``y`` on a constant and ``x`` with the chosen standard errors.

    Parameters
    ----------
    y : Series or ndarray of shape (n_obs,)
        The dependent series.
    x : Series, DataFrame or ndarray of shape (n_obs,) or (n_obs, n_regressors)
        Regressors; a constant is added first (named ``const`` for pandas input, whose
        results are labelled; positional for arrays). Missing values raise.
    cov_type : {"nonrobust", "HC0", "HC1", "HC2", "HC3", "HAC"}
        Covariance of the estimates (module docstring).
    hac_lags : int or "auto", optional
        Lags of the ``HAC`` errors; required with ``HAC`` and refused otherwise.

    Returns
    -------
    statsmodels RegressionResults
        ``params`` indexed ``const`` then the regressors' names; for ``HAC`` the lags used
        are in ``cov_kwds["maxlags"]``.
    """
    if (cov_type == "HAC") != (hac_lags is not None):
        raise ValueError(f"hac_lags goes with cov_type HAC only: got {cov_type}, {hac_lags}")
    import statsmodels.api as sm  # here, not at import: a warm re-run fits nothing

    model = sm.OLS(y, sm.add_constant(x, has_constant="add"), missing="raise")
    if cov_type == "nonrobust":
        return model.fit()
    if cov_type == "HAC":
        lags = hac_lag_count(hac_lags, int(model.nobs))
        return model.fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    return model.fit(cov_type=cov_type)


def errors_label(fit) -> str:
    """How a fit's standard errors were computed, for tables: ``HC3``, ``HAC(7)``, ``nonrobust``."""
    if fit.cov_type == "HAC":
        return f"HAC({fit.cov_kwds['maxlags']})"
    return str(fit.cov_type)
