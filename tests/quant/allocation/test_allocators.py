"""Allocators against hand calculations and the closed-form mean-variance solution."""

import inspect

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from portflow.config.allocation import (
    ALLOCATOR_CONFIGS,
    AllocationConfig,
    AllocationTargetsConfig,
    FixedAllocator,
    LSTMAllocatorConfig,
    LSTMModelParams,
    MeanVarianceAllocator,
)
from portflow.errors import DataError
from portflow.quant.allocation.allocators import (
    EqualWeight,
    FixedWeights,
    InverseVolatility,
    MeanVariance,
)
from portflow.quant.allocation.backtest import ALLOCATORS, make_allocator
from portflow.quant.allocation.lstm import LSTMAllocator, WalkForwardLSTM

INDEX = pd.bdate_range("2020-01-01", periods=250, name="date")


def two_assets(seed: int = 0, means=(0.0006, 0.0003), vols=(0.012, 0.008), rho=0.3):
    rng = np.random.default_rng(seed)
    cov = np.array(
        [[vols[0] ** 2, rho * vols[0] * vols[1]], [rho * vols[0] * vols[1], vols[1] ** 2]]
    )
    draws = rng.multivariate_normal(means, cov, size=len(INDEX))
    return pd.DataFrame(draws, index=INDEX, columns=["X", "Y"])


def closed_form(returns: pd.DataFrame, gamma: float) -> np.ndarray:
    """argmax w'mu - gamma/2 w'Sigma w s.t. 1'w = 1, from the Lagrangian's first-order conditions:
    mu - gamma Sigma w - lambda 1 = 0  =>  w = Sigma^-1 (mu - lambda 1) / gamma, and 1'w = 1 gives
    lambda = (1'Sigma^-1 mu - gamma) / (1'Sigma^-1 1)."""
    mu = returns.mean().to_numpy()
    inverse = np.linalg.inv(np.cov(returns.to_numpy(), rowvar=False, ddof=1))
    ones = np.ones(len(mu))
    lam = (ones @ inverse @ mu - gamma) / (ones @ inverse @ ones)
    return inverse @ (mu - lam * ones) / gamma


def objective(weights, returns, gamma):
    mu = returns.mean().to_numpy()
    sigma = np.cov(returns.to_numpy(), rowvar=False, ddof=1)
    return weights @ mu - gamma / 2 * weights @ sigma @ weights


@pytest.mark.parametrize("gamma", [10.0, 25.0, 50.0])
def test_mean_variance_matches_the_closed_form_without_binding_constraints(gamma):
    returns = two_assets()
    expected = closed_form(returns, gamma)
    assert ((expected > 0.05) & (expected < 0.95)).all()  # interior: no bound binds
    weights = MeanVariance(risk_aversion=gamma)(returns)
    np.testing.assert_allclose(weights.to_numpy(), expected, rtol=0, atol=1e-8)
    assert list(weights.index) == ["X", "Y"]


def test_mean_variance_on_the_bounds_when_they_bind():
    """The objective is concave in w_X on the budget line, so the optimum is the bound closest
    to the unconstrained optimum."""
    returns = two_assets(seed=1, means=(0.002, -0.001))
    gamma = 2.0
    unconstrained = closed_form(returns, gamma)
    assert unconstrained[0] > 1  # would short Y
    np.testing.assert_allclose(MeanVariance(gamma)(returns), [1.0, 0.0], atol=1e-7)
    capped = MeanVariance(gamma, max_weight=0.7)(returns)
    np.testing.assert_allclose(capped, [0.7, 0.3], atol=1e-7)
    for w_x in np.linspace(0.3, 0.7, 41):  # no feasible point beats the solver
        assert (
            objective(capped.to_numpy(), returns, gamma)
            >= objective(np.array([w_x, 1 - w_x]), returns, gamma) - 1e-12
        )


def exact_mean_variance(
    returns: pd.DataFrame, gamma: float, cap: float, guess: np.ndarray
) -> np.ndarray:
    """The exact optimum of max w'mu - gamma/2 w'Sigma w, sum w = 1, 0 <= w <= cap.

    Solver-free: take the weights ``guess`` puts at 0 and at the cap as the active set; the
    first-order conditions on the free weights, ``mu_F - gamma (Sigma w)_F = lambda`` with
    ``sum w = 1``, are a linear system, solved exactly. A free weight outside [0, cap]
    moves to its bound, a bound weight whose multiplier has the wrong sign
    (``mu_i - gamma (Sigma w)_i - lambda`` > 0 at 0, < 0 at the cap) moves back, until the
    KKT conditions hold exactly; the objective is strictly concave, so that point is the
    optimum whatever the guess was. Annualizing mu and Sigma (as the allocator does) does
    not move it.
    """
    mu = returns.mean().to_numpy()
    sigma = np.cov(returns.to_numpy(), rowvar=False, ddof=1)
    at_zero, at_cap = guess < 1e-6, guess > cap - 1e-6
    for _ in range(4 * len(mu)):
        free = ~(at_zero | at_cap)
        w = np.where(at_cap, cap, 0.0)
        k = int(free.sum())
        kkt = np.block([[gamma * sigma[np.ix_(free, free)], np.ones((k, 1))], [np.ones(k), 0]])
        rhs = np.r_[mu[free] - gamma * sigma[np.ix_(free, at_cap)] @ w[at_cap], 1 - w.sum()]
        solution = np.linalg.solve(kkt, rhs)
        w[free], lam = solution[:k], solution[k]
        outside = free & ((w < 0) | (w > cap))
        if outside.any():
            i = np.argmax(np.where(outside, np.maximum(-w, w - cap), -np.inf))
            at_zero[i], at_cap[i] = w[i] < 0, w[i] > cap
            continue
        slope = mu - gamma * sigma @ w - lam
        wrong = (at_zero & (slope > 0)) | (at_cap & (slope < 0))
        if not wrong.any():
            return w
        i = np.argmax(np.where(wrong, np.abs(slope), -np.inf))
        at_zero[i] = at_cap[i] = False
    raise AssertionError("the active set did not settle")


@pytest.mark.parametrize("seed", range(6))
def test_mean_variance_is_within_1e_7_of_the_exact_optimum(seed):
    """Ten assets whose volatilities differ up to tenfold, capped at 30%: the case where
    Clarabel's default tolerances leave weights far off (measured on these six windows: up
    to 2.5e-6 at the defaults, 3e-10 at portflow's settings)."""
    rng = np.random.default_rng(seed)
    returns = pd.DataFrame(rng.normal(0.0005, 0.01, (252, 10)) @ np.diag(rng.uniform(0.3, 3, 10)))
    weights = MeanVariance(5.0, max_weight=0.3)(returns)
    expected = exact_mean_variance(returns, 5.0, 0.3, guess=weights.to_numpy())
    np.testing.assert_allclose(weights.to_numpy(), expected, rtol=0, atol=1e-7)


def test_mean_variance_resolves_the_compiled_problem_with_new_data():
    """Re-solving the DPP problem with new parameter values = solving a fresh problem."""
    rng = np.random.default_rng(5)
    first, second = (
        pd.DataFrame(rng.normal(0.0005, 0.01, (120, 6)), columns=list("ABCDEF")) for _ in range(2)
    )
    reused = MeanVariance(4.0, max_weight=0.4)
    reused(first)
    problem = reused._problem
    again = reused(second)
    assert reused._problem is problem
    np.testing.assert_allclose(again, MeanVariance(4.0, max_weight=0.4)(second), atol=1e-8)
    assert again.sum() == pytest.approx(1.0, abs=1e-12)
    assert (again >= 0).all() and (again <= 0.4 + 1e-7).all()


def test_inverse_volatility_by_hand():
    returns = pd.DataFrame({"A": [0.01, -0.01, 0.01, -0.01], "B": [0.02, -0.02, 0.02, -0.02]})
    # std(A) = s, std(B) = 2s, so w ∝ (1/s, 1/(2s)) = (2/3, 1/3).
    np.testing.assert_allclose(InverseVolatility()(returns), [2 / 3, 1 / 3], rtol=1e-14)
    with pytest.raises(DataError, match="zero volatility"):
        InverseVolatility()(returns.assign(B=0.0))


def test_fixed_and_equal_weights():
    window = pd.DataFrame(0.0, index=range(3), columns=["A", "B", "C", "D"])
    np.testing.assert_array_equal(EqualWeight()(window), [0.25] * 4)
    fixed = FixedWeights({"C": 0.7, "A": 0.3})(window)
    assert fixed.to_dict() == {"A": 0.3, "B": 0.0, "C": 0.7, "D": 0.0}
    with pytest.raises(DataError, match="Z are not in the universe"):
        FixedWeights({"Z": 1.0})(window)


def test_registry_and_config_union_cover_the_same_kinds_with_matching_settings():
    assert set(ALLOCATORS) == set(ALLOCATOR_CONFIGS)
    common = {"kind", "name", "window", "seeds"}
    for kind, model in ALLOCATOR_CONFIGS.items():
        assert model.model_fields["kind"].default == kind
        settings = set(model.model_fields) - common
        if kind == "lstm":
            assert ALLOCATORS[kind] is WalkForwardLSTM
            accepted = set(inspect.signature(LSTMAllocator).parameters) | set(
                inspect.signature(WalkForwardLSTM).parameters
            )
            assert settings <= accepted and "seed" in accepted
        else:
            assert settings == set(inspect.signature(ALLOCATORS[kind]).parameters)
    built = make_allocator("mean_variance", {"risk_aversion": 3.0, "max_weight": None})
    assert isinstance(built, MeanVariance) and built.risk_aversion == 3.0
    with pytest.raises(DataError, match="unknown kind 'black_litterman'"):
        make_allocator("black_litterman", {})


def test_allocation_config_parses_a_yaml_like_mapping():
    config = AllocationConfig.model_validate(
        {
            "tickers": ["VTI", "AGG", "DBC", "^VIX"],
            "rebalance": "weekly",
            "allocators": [
                {"kind": "fixed", "name": "60_40", "weights": {"VTI": 0.6, "AGG": 0.4}},
                {"kind": "mean_variance", "risk_aversion": 3, "max_weight": 0.5},
                {"kind": "lstm", "window": 504, "seeds": [1, 2]},
            ],
            "costs": {"proportional_cost": 0.001},
            "data": {"source": "sample", "universe": "multi_asset"},
        }
    )
    kinds = [type(spec) for spec in config.allocators]
    assert kinds == [FixedAllocator, MeanVarianceAllocator, LSTMAllocatorConfig]
    assert config.costs.fixed_cost == 0.0 and config.data.universe == "multi_asset"
    model = LSTMModelParams.from_allocation(config, "lstm", benchmark="VTI")
    assert (model.window, model.seed, model.lookback, model.hidden_size) == (504, 1, 50, 64)
    assert model.tickers == ("VTI", "AGG", "DBC", "^VIX")
    bad = [
        {"allocators": [{"kind": "fixed", "name": "x", "weights": {"A": 0.5}}]},
        {"allocators": [{"kind": "mean_variance", "gamma": 3}]},
        {"allocators": [{"kind": "equal_weight"}, {"kind": "equal_weight"}]},
        {"rebalance": "calendar"},
        {"allocators": [{"kind": "lstm", "seeds": [1, 1]}]},
        {"allocators": [{"kind": "hrp"}]},
    ]
    for raw in bad:
        with pytest.raises(ValidationError):
            AllocationTargetsConfig.model_validate(raw)
