"""Pareto/NBD and MBG/NBD: likelihoods against an independent computation, parameters
recovered from simulated data, and forecasts that add up to what the simulation did next."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, special

from cdp_assets.ml import btyd
from cdp_assets.ml import purchase_models as pm

PARETO = pm.ParetoNbdParams(r=0.8, alpha=60.0, s=0.7, beta=300.0)
MBG = pm.MbgNbdParams(r=0.8, alpha=60.0, a=0.6, b=2.5)
BG = btyd.BgNbdParams(r=0.8, alpha=60.0, a=0.6, b=2.5)


def _pareto_likelihood_by_quadrature(p: pm.ParetoNbdParams, x: int, t_x: float, T: float) -> float:
    """The Pareto/NBD likelihood from its definition: alive at T, or dead at tau in (t_x, T)
    (integrated numerically), mixed over the Gamma rates."""
    r, alpha, s, beta = p.r, p.alpha, p.s, p.beta
    constant = special.gamma(r + x) / special.gamma(r) * alpha**r * beta**s
    alive = (alpha + T) ** -(r + x) * (beta + T) ** -s
    dead = integrate.quad(
        lambda tau: (alpha + tau) ** -(r + x) * s * (beta + tau) ** -(s + 1), t_x, T
    )[0]
    return float(np.log(constant * (alive + dead)))


@pytest.mark.parametrize("swap", [False, True])  # alpha < beta and alpha > beta: both 2F1 forms
def test_pareto_nbd_log_likelihood_matches_its_definition(swap: bool) -> None:
    p = pm.ParetoNbdParams(PARETO.r, PARETO.beta, PARETO.s, PARETO.alpha) if swap else PARETO
    rows = [(0, 0.0, 100.0), (3, 50.0, 400.0), (10, 300.0, 310.0), (20, 100.0, 700.0)]
    x, t_x, T = (np.array(c, float) for c in zip(*rows, strict=True))
    got = pm.pareto_nbd_log_likelihood(p, x, t_x, T)
    expected = [_pareto_likelihood_by_quadrature(p, *row) for row in rows]
    np.testing.assert_allclose(got, expected, rtol=1e-7)


def _simulated(model: str, n: int, seed: int, extra_days: float = 0.0):
    """Summaries at T, and each customer's purchases in (T, T + extra_days]."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(200, 700, n)
    simulate = {
        pm.PARETO_NBD: lambda: pm.simulate_pareto_nbd(PARETO, T + extra_days, rng),
        pm.MBG_NBD: lambda: pm.simulate_mbg_nbd(MBG, T + extra_days, rng),
        pm.BG_NBD: lambda: btyd.simulate_bg_nbd(BG, T + extra_days, rng),
    }[model]
    customer, time = simulate()
    before = time <= T[customer]
    summary = pm.summary_of_simulation(customer[before], time[before], T)
    later = np.bincount(customer[~before], minlength=n)
    return summary, later


@pytest.mark.parametrize(
    ("model", "truth"),
    [(pm.PARETO_NBD, PARETO.__dict__), (pm.MBG_NBD, MBG.__dict__)],
)
def test_maximum_likelihood_recovers_simulated_parameters(model: str, truth: dict) -> None:
    summary, _ = _simulated(model, 8_000, seed=3)
    fit = pm.fit_purchase_model(model, summary)
    assert fit.converged, fit.message
    # The rate parameters are well identified; the dropout ones less so (wider tolerance).
    for key, value in truth.items():
        tolerance = 0.15 if key in ("r", "alpha") else 0.35
        assert fit.params[key] == pytest.approx(value, rel=tolerance), (key, fit.params)


@pytest.mark.parametrize("model", pm.PARAMETRIC_MODELS)
def test_forecasts_with_the_true_parameters_match_what_happened_next(model: str) -> None:
    horizon = 180.0
    summary, later = _simulated(model, 20_000, seed=11, extra_days=horizon)
    truth = {pm.PARETO_NBD: PARETO, pm.MBG_NBD: MBG, pm.BG_NBD: BG}[model].__dict__
    fit = pm.PurchaseFit(model, dict(truth), 0.0, len(summary), True, "true parameters")
    predicted = pm.predict_summary(fit, summary, horizon)
    assert predicted["expected_purchases"].sum() == pytest.approx(later.sum(), rel=0.04)
    silent = predicted["p_no_purchase"].to_numpy()
    assert silent.mean() == pytest.approx((later == 0).mean(), abs=0.01)
    # P(no purchase) is a probability, and more likely for those predicted to buy less.
    assert ((silent >= 0) & (silent <= 1)).all()
    assert np.corrcoef(silent, predicted["expected_purchases"])[0, 1] < 0


def test_mbg_nbd_one_time_buyers_may_have_left_bg_nbd_ones_not() -> None:
    x, t_x, T = np.array([0.0]), np.array([0.0]), np.array([300.0])
    mbg = pm.PurchaseFit(pm.MBG_NBD, dict(MBG.__dict__), 0.0, 1, True, "")
    bg = pm.PurchaseFit(pm.BG_NBD, dict(BG.__dict__), 0.0, 1, True, "")
    assert bg.p_alive(x, t_x, T)[0] == 1.0
    # 1 / (1 + a/b ((alpha+T)/alpha)^r) by hand.
    odds = MBG.a / MBG.b * ((MBG.alpha + 300) / MBG.alpha) ** MBG.r
    assert mbg.p_alive(x, t_x, T)[0] == pytest.approx(1 / (1 + odds))


def test_pareto_nbd_expected_purchases_at_s_equal_one_is_the_limit() -> None:
    x, t_x, T = np.array([2.0]), np.array([100.0]), np.array([300.0])
    near = {**PARETO.__dict__, "s": 1.0 + 1e-6}
    at = {**PARETO.__dict__, "s": 1.0}
    a = pm.PurchaseFit(pm.PARETO_NBD, near, 0, 1, True, "").expected_purchases(90, x, t_x, T)
    b = pm.PurchaseFit(pm.PARETO_NBD, at, 0, 1, True, "").expected_purchases(90, x, t_x, T)
    assert a[0] == pytest.approx(b[0], rel=1e-5)
