"""Regime-aware factor moments from a Gaussian hidden Markov model (hmmlearn).

At each rebalance date t a Gaussian HMM with full covariances
(``hmmlearn.hmm.GaussianHMM``, EM by Baum-Welch) is fitted to the factor returns of the
months up to t only. The fit at t starts from the parameters fitted at the previous date
(warm start); only the first date starts from hmmlearn's seeded k-means initialization.
There is never a fit on the whole sample, so the moments at t cannot see data after t.

From the fit:

- ``g_t``: the filtered state probabilities of month t, ``P(s_t | f_1..f_t)`` (the last
  row of the forward-backward posteriors, which at the last month is the filter);
- ``g_{t+h} = (B^h)' g_t`` with ``B`` the transition matrix (``B[i, j] = P(j | i)``);
- the mixture moments of the factor returns at t+h::

      mu_f    = sum_s g_s mu_s
      Sigma_f = sum_s g_s (Sigma_s + mu_s mu_s') - mu_f mu_f'

The model is fitted on returns in percent (x100): hmmlearn's ``min_covar`` floor (1e-3 on
each variance) is then negligible, where on decimal monthly returns it would be of the
order of the variances themselves. Moments are returned in decimals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from portflow.errors import DataError
from portflow.quant.optimization.factor_moments import OK, moment_columns

if TYPE_CHECKING:
    from hmmlearn.hmm import GaussianHMM

PERCENT = 100.0
"""Scale of the returns the HMM is fitted on (percent)."""
FAILED = "hmm_failed"
PROBABILITY = "regime_prob|"
"""Prefix of the forecast state probabilities; states ordered by the first factor's
variance, calmest first."""


def forecast_state_probabilities(
    transition: np.ndarray, probabilities: np.ndarray, horizon: int
) -> np.ndarray:
    """State probabilities ``h`` periods ahead: ``(B^h)' g``.

    Parameters
    ----------
    transition : ndarray of shape (n_states, n_states)
        Row-stochastic ``B[i, j] = P(s_{t+1} = j | s_t = i)``.
    probabilities : ndarray of shape (n_states,)
        ``g_t``.
    horizon : int
        ``h >= 0``.
    """
    return np.linalg.matrix_power(transition, horizon).T @ probabilities


def mixture_moments(
    probabilities: np.ndarray, means: np.ndarray, covariances: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a Gaussian mixture.

    Parameters
    ----------
    probabilities : ndarray of shape (n_states,)
        Mixture weights ``g_s`` (sum to 1).
    means : ndarray of shape (n_states, k)
    covariances : ndarray of shape (n_states, k, k)

    Returns
    -------
    mean : ndarray of shape (k,)
        ``sum_s g_s mu_s``.
    covariance : ndarray of shape (k, k)
        ``sum_s g_s (Sigma_s + mu_s mu_s') - mu mu'``, symmetrized.
    """
    mean = probabilities @ means
    second = np.einsum(
        "s,sij->ij", probabilities, covariances + np.einsum("si,sj->sij", means, means)
    )
    covariance = second - np.outer(mean, mean)
    return mean, (covariance + covariance.T) / 2


class RegimeFactorModel:
    """Gaussian HMM of factor returns and its forecast mixture moments.

    Estimator contract: settings in ``__init__``, :meth:`fit` returns ``self``, learned
    attributes end in ``_``. With ``warm_start=True`` a second :meth:`fit` starts EM from
    the parameters of the previous fit instead of re-initializing.

    Parameters
    ----------
    n_regimes : int
        Hidden states.
    horizon : int
        Months ahead of the forecast ``g_{t+h}``.
    n_iter : int
        Most EM iterations per fit.
    tol : float
        EM stops when the log-likelihood (in percent units) gains less than this.
    seed : int
        ``random_state`` of hmmlearn's k-means initialization of a cold fit.
    warm_start : bool
        Start each fit after the first from the previous parameters.

    Attributes
    ----------
    hmm_ : hmmlearn.hmm.GaussianHMM
        The fitted model (on percent returns).
    state_probabilities_ : ndarray of shape (n_regimes,)
        Filtered ``g_t`` at the last month of the data.
    forecast_probabilities_ : ndarray of shape (n_regimes,)
        ``g_{t+h}``.
    regime_means_ : ndarray of shape (n_regimes, k)
        Decimal per month.
    regime_covariances_ : ndarray of shape (n_regimes, k, k)
        Squared decimal per month.
    mean_, covariance_ : ndarray of shape (k,) and (k, k)
        Mixture moments at ``t+h``, decimal per month.
    log_likelihood_ : float
        Of the data (percent units).
    n_iter_ : int
        EM iterations run.
    converged_ : bool
        Whether EM met ``tol`` within ``n_iter``.
    """

    def __init__(
        self,
        n_regimes: int = 2,
        horizon: int = 1,
        n_iter: int = 100,
        tol: float = 1e-4,
        seed: int = 0,
        warm_start: bool = True,
    ) -> None:
        self.n_regimes = n_regimes
        self.horizon = horizon
        self.n_iter = n_iter
        self.tol = tol
        self.seed = seed
        self.warm_start = warm_start

    def _new_hmm(self) -> GaussianHMM:
        from hmmlearn.hmm import GaussianHMM  # here, not at import: a warm re-run fits none

        warm = self.warm_start and hasattr(self, "hmm_")
        model = GaussianHMM(
            n_components=self.n_regimes,
            covariance_type="full",
            n_iter=self.n_iter,
            tol=self.tol,
            random_state=self.seed,
            init_params="" if warm else "stmc",
        )
        if warm:
            model.startprob_ = self.hmm_.startprob_.copy()
            model.transmat_ = self.hmm_.transmat_.copy()
            model.means_ = self.hmm_.means_.copy()
            model.covars_ = self.hmm_.covars_.copy()
        return model

    def fit(self, factor_returns: np.ndarray) -> RegimeFactorModel:
        """Fit on ``factor_returns`` of shape (n_months, k), decimal, oldest first.

        Raises
        ------
        ValueError or numpy.linalg.LinAlgError
            When EM breaks down (e.g. a state's covariance degenerates); the previous
            fit, if any, is kept.
        """
        x = np.asarray(factor_returns, dtype=float) * PERCENT
        model = self._new_hmm().fit(x)
        log_likelihood, posteriors = model.score_samples(x)
        means = model.means_ / PERCENT
        covariances = model.covars_ / PERCENT**2
        g_t = posteriors[-1]
        forecast = forecast_state_probabilities(model.transmat_, g_t, self.horizon)
        mean, covariance = mixture_moments(forecast, means, covariances)
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(covariance))):
            raise ValueError("the HMM fit produced non-finite moments")
        self.hmm_ = model
        self.state_probabilities_ = g_t
        self.forecast_probabilities_ = forecast
        self.regime_means_ = means
        self.regime_covariances_ = covariances
        self.mean_, self.covariance_ = mean, covariance
        self.log_likelihood_ = float(log_likelihood)
        self.n_iter_ = int(model.monitor_.iter)
        self.converged_ = bool(model.monitor_.converged)
        return self


def _moments_row(model: RegimeFactorModel, sample: np.ndarray) -> list:
    """Fit ``model`` (warm) on ``sample`` and return one output row; NaN moments on failure."""
    n_regimes, k = model.n_regimes, sample.shape[1]
    try:
        model.fit(sample)
    except (ValueError, np.linalg.LinAlgError):
        return (
            [np.nan] * (k + k * k)
            + [len(sample), FAILED]
            + [np.nan] * n_regimes
            + [np.nan, 0, False]
        )
    order = np.argsort(model.regime_covariances_[:, 0, 0], kind="stable")
    return (
        [*model.mean_, *model.covariance_.ravel(), len(sample), OK]
        + list(model.forecast_probabilities_[order])
        + [model.log_likelihood_, model.n_iter_, model.converged_]
    )


def regime_factor_moments(
    factor_data: pd.DataFrame,
    *,
    n_regimes: int,
    horizon: int,
    window: int | None,
    min_observations: int,
    n_iter: int,
    tol: float,
    seed: int,
) -> pd.DataFrame:
    """HMM mixture moments of the factor returns at each rebalance date, data up to t only.

    Parameters
    ----------
    factor_data : DataFrame of shape (n_months, k)
        Factor excess returns, decimal per month (``factor_data`` stage).
    n_regimes, horizon, n_iter, tol, seed
        See :class:`RegimeFactorModel`.
    window : int or None
        Months of data each fit uses (ending at t); None = every month up to t.
    min_observations : int
        Months of data before the first date.

    Returns
    -------
    DataFrame of shape (n_dates, k + k**2 + n_regimes + 5)
        Index ``date``; the columns of
        :func:`portflow.quant.optimization.factor_moments.sample_factor_moments` (``mean|<f>``,
        ``cov|<f>|<g>``, ``n_obs``, ``status``: ``ok`` or ``hmm_failed`` with NaN
        moments), then ``regime_prob|<s>`` (``g_{t+h}``, states ordered by the first
        factor's variance, calmest first), ``log_likelihood``, ``em_iterations`` and
        ``converged``. A failed date leaves the warm start at the last good fit.
    """
    factors = list(factor_data.columns)
    values = factor_data.to_numpy(float)
    if len(values) < min_observations:
        raise DataError(
            "regime_factor_moments",
            "optimization.regimes.min_observations",
            f"the {len(values)} months of factor data are fewer than {min_observations}",
            "lengthen the data range or lower optimization.regimes.min_observations",
        )
    model = RegimeFactorModel(n_regimes, horizon, n_iter, tol, seed, warm_start=True)
    # Small matrices: BLAS threads only contend (3x slower on 2 cores), so one thread.
    with threadpool_limits(limits=1, user_api="blas"):
        rows = [
            _moments_row(model, values[(0 if window is None else max(0, p - window + 1)) : p + 1])
            for p in range(min_observations - 1, len(values))
        ]
    columns = [
        *moment_columns(factors),
        "n_obs",
        "status",
        *(f"{PROBABILITY}{s}" for s in range(n_regimes)),
        "log_likelihood",
        "em_iterations",
        "converged",
    ]
    index = factor_data.index[min_observations - 1 :].rename("date")
    frame = pd.DataFrame(rows, index=index, columns=columns)
    return frame.astype({"n_obs": int, "status": str, "em_iterations": int, "converged": bool})
