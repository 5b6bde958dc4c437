"""BG/NBD and Gamma-Gamma: summaries, likelihoods, parameter recovery, predictions."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from cdp_assets.ml import btyd

# CDNOW estimates [Fader, Hardie & Lee 2005] with alpha converted from weeks to days.
CDNOW_BG = btyd.BgNbdParams(r=0.243, alpha=4.414 * 7, a=0.793, b=2.426)
CDNOW_BG_WEEKS = btyd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
CDNOW_GG = btyd.GammaGammaParams(p=6.25, q=3.74, v=15.44)


def _orders(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "ordered_at", "net_amount_base"])
    frame["ordered_at"] = pd.to_datetime(frame["ordered_at"], utc=True)
    return frame


def test_rfm_summary_follows_the_lifetimes_conventions() -> None:
    orders = _orders(
        [
            ("A", "2025-01-01 09:00", 10.0),
            ("A", "2025-01-01 18:00", 5.0),  # same day: one purchase period worth 15
            ("A", "2025-01-11 10:00", 30.0),
            ("A", "2025-01-21 23:59", 50.0),
            ("A", "2025-02-01 00:00", 99.0),  # after as_of: ignored
            ("B", "2025-01-31 23:30", 20.0),  # on as_of: counts, T = 0
            ("C", "2025-01-15 12:00", 7.0),
        ]
    )
    summary = btyd.rfm_summary(orders, dt.date(2025, 1, 31)).set_index("customer_id")
    assert list(summary.index) == ["A", "B", "C"]
    a = summary.loc["A"]
    assert (a["frequency"], a["recency"], a["T"]) == (2, 20.0, 30.0)
    assert a["monetary_value"] == pytest.approx(40.0)  # mean of the repeat days (30, 50)
    assert a["historical_revenue"] == pytest.approx(95.0)
    assert a["purchases"] == 4
    assert a["first_order_at"] == pd.Timestamp("2025-01-01 09:00", tz="UTC")
    b = summary.loc["B"]
    assert (b["frequency"], b["recency"], b["T"], b["monetary_value"]) == (0, 0.0, 0.0, 0.0)
    assert summary.loc["C", "T"] == 16.0


def test_rfm_summary_by_week_and_purchase_flag() -> None:
    orders = _orders(
        [
            ("A", "2025-01-01 09:00", 10.0),
            ("A", "2025-01-02 09:00", 10.0),  # same 7-day block as Jan 1 (blocks end Jan 31)
            ("A", "2025-01-20 09:00", 10.0),
            ("A", "2025-01-25 09:00", 1.0),
        ]
    )
    orders["is_purchase"] = [True, True, True, False]
    summary = btyd.rfm_summary(orders, dt.date(2025, 1, 31), period="W").iloc[0]
    # Blocks end on Jan 31, 24, 17, 10, 3: Jan 1-2 fall in the block ending Jan 3.
    assert (summary["frequency"], summary["recency"], summary["T"]) == (1, 21.0, 28.0)
    assert summary["monetary_value"] == pytest.approx(10.0)
    with pytest.raises(ValueError, match="period"):
        btyd.rfm_summary(orders, dt.date(2025, 1, 31), period="M")


def _direct_bg_nbd_log_likelihood(params: btyd.BgNbdParams, x: int, t_x: float, T: float) -> float:
    """[BG/NBD eq. 6] written out term by term with math.lgamma, one customer at a time:
    L = B(a, b+x)/B(a, b) * Gamma(r+x) alpha^r / (Gamma(r) (alpha+T)^(r+x))
        + [x > 0] B(a+1, b+x-1)/B(a, b) * Gamma(r+x) alpha^r / (Gamma(r) (alpha+t_x)^(r+x))."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b

    def beta(p: float, q: float) -> float:
        return math.exp(math.lgamma(p) + math.lgamma(q) - math.lgamma(p + q))

    rate_part = math.exp(math.lgamma(r + x) - math.lgamma(r)) * alpha**r
    likelihood = beta(a, b + x) / beta(a, b) * rate_part / (alpha + T) ** (r + x)
    if x > 0:
        likelihood += beta(a + 1, b + x - 1) / beta(a, b) * rate_part / (alpha + t_x) ** (r + x)
    return math.log(likelihood)


HAND_ROWS = [(0, 0.0, 0.0), (0, 0.0, 38.86), (1, 1.71, 38.86), (2, 30.43, 38.86), (7, 35.0, 39.0)]


@pytest.mark.parametrize(
    "params", [CDNOW_BG_WEEKS, btyd.BgNbdParams(1.3, 12.0, 2.5, 0.6)], ids=["cdnow", "other"]
)
def test_bg_nbd_log_likelihood_matches_a_direct_calculation(params: btyd.BgNbdParams) -> None:
    x, t_x, T = (np.array(column, float) for column in zip(*HAND_ROWS, strict=True))
    vectorised = btyd.bg_nbd_log_likelihood(params, x, t_x, T)
    direct = [_direct_bg_nbd_log_likelihood(params, int(a), b, c) for a, b, c in HAND_ROWS]
    np.testing.assert_allclose(vectorised, direct, rtol=1e-12)
    assert vectorised[0] == pytest.approx(0.0)  # x = 0 at T = 0: nothing could happen


def test_analytic_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 6, 200).astype(float)
    T = rng.uniform(30, 300, 200)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, 200), 0.0)
    w = rng.integers(1, 5, 200).astype(float)
    point = np.log([0.4, 25.0, 0.9, 2.2])
    data = btyd._BgNbdData.of(x, t_x, T, w)
    error = optimize.check_grad(
        lambda p: btyd._bg_nbd_objective(p, data)[0],
        lambda p: btyd._bg_nbd_objective(p, data)[1],
        point,
    )
    assert error < 1e-5
    # The objective is the weighted mean of the per-customer log-likelihood, negated.
    params = btyd.BgNbdParams(*np.exp(point))
    mean = np.dot(w, btyd.bg_nbd_log_likelihood(params, x, t_x, T)) / w.sum()
    assert btyd._bg_nbd_objective(point, data)[0] == pytest.approx(-mean, rel=1e-12)
    m = rng.gamma(5.0, 10.0, 200)
    repeat = np.maximum(x, 1)
    gg_data = btyd._GammaGammaData.of(repeat, m)
    gg_point = np.log([4.0, 3.0, 12.0])
    error = optimize.check_grad(
        lambda p: btyd._gamma_gamma_objective(p, gg_data)[0],
        lambda p: btyd._gamma_gamma_objective(p, gg_data)[1],
        gg_point,
    )
    assert error < 1e-5
    gg_params = btyd.GammaGammaParams(*np.exp(gg_point))
    mean = btyd.gamma_gamma_log_likelihood(gg_params, repeat, m).mean()
    assert btyd._gamma_gamma_objective(gg_point, gg_data)[0] == pytest.approx(-mean, rel=1e-12)


def _simulated_rfm(
    params: btyd.BgNbdParams, customers: int, seed: int, extra_days: float = 0.0
) -> tuple[np.ndarray, ...]:
    """(x, t_x, T, purchases in the `extra_days` after T) of a CDNOW-like cohort: first
    purchases over 12 weeks, observed until week 39 (T from 27 to 39 weeks, in days)."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(27 * 7, 39 * 7, customers)
    who, when = btyd.simulate_bg_nbd(params, T + extra_days, rng)
    inside = when <= T[who]
    x = np.bincount(who[inside], minlength=customers).astype(float)
    t_x = np.zeros(customers)
    np.maximum.at(t_x, who[inside], when[inside])
    later = np.bincount(who[~inside], minlength=customers).astype(float)
    return x, t_x, T, later


def test_bg_nbd_recovers_the_parameters_it_was_simulated_with() -> None:
    x, t_x, T, _ = _simulated_rfm(CDNOW_BG, 20_000, seed=11)
    fit = btyd.fit_bg_nbd(x, t_x, T)
    assert fit.converged
    assert fit.customers == 20_000
    for name in ("r", "alpha", "a", "b"):
        truth, estimate = getattr(CDNOW_BG, name), getattr(fit.params, name)
        assert estimate == pytest.approx(truth, rel=0.2), name
    # The maximum beats the truth's likelihood, by little.
    at_truth = btyd.bg_nbd_log_likelihood(CDNOW_BG, x, t_x, T).sum()
    assert at_truth <= fit.log_likelihood < at_truth + 20


def test_fitting_on_unique_rows_equals_fitting_on_customers() -> None:
    x, t_x, T, _ = _simulated_rfm(CDNOW_BG, 3_000, seed=5)
    x, t_x, T = x, np.round(t_x), np.round(T)  # daily data repeat rows
    rows, inverse = btyd.unique_rfm(x, t_x, T)
    assert len(rows) < len(x) and rows["count"].sum() == len(x)
    np.testing.assert_array_equal(rows["x"].to_numpy()[inverse], x)
    np.testing.assert_array_equal(rows["T"].to_numpy()[inverse], T)
    fit = btyd.fit_bg_nbd(x, t_x, T)
    weighted = btyd.fit_bg_nbd(rows["x"], rows["t_x"], rows["T"], weights=rows["count"])
    assert fit.unique_rows == len(rows)
    assert fit.log_likelihood == pytest.approx(
        btyd.bg_nbd_log_likelihood(fit.params, x, t_x, T).sum()
    )
    assert weighted.params.r == pytest.approx(fit.params.r, rel=1e-6)


def test_gamma_gamma_recovers_the_parameters_it_was_simulated_with() -> None:
    rng = np.random.default_rng(7)
    customers = 20_000
    x = 1 + rng.poisson(3.0, customers)
    purchase_customer = np.repeat(np.arange(customers), x)
    values = btyd.simulate_gamma_gamma(CDNOW_GG, purchase_customer, customers, rng)
    m = np.bincount(purchase_customer, weights=values) / x
    fit = btyd.fit_gamma_gamma(x, m)
    assert fit.converged and fit.customers == customers
    for name in ("p", "q", "v"):
        truth, estimate = getattr(CDNOW_GG, name), getattr(fit.params, name)
        assert estimate == pytest.approx(truth, rel=0.2), name
    assert fit.params.population_mean == pytest.approx(CDNOW_GG.population_mean, rel=0.05)
    assert fit.warning is None  # simulated spend is independent of frequency


def test_gamma_gamma_warns_when_spend_follows_frequency() -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(1, 20, 500).astype(float)
    m = 10 * x * rng.uniform(0.9, 1.1, 500)
    fit = btyd.fit_gamma_gamma(x, m)
    assert fit.frequency_monetary_correlation > 0.9
    assert fit.warning is not None and "independence" in fit.warning
    with pytest.raises(ValueError, match="repeat buyers"):
        btyd.fit_gamma_gamma(np.array([0, 1, 2]), np.array([0.0, 5.0, 6.0]))


def test_gamma_gamma_expectation_shrinks_own_mean_towards_the_population() -> None:
    params = CDNOW_GG
    mean = params.population_mean
    values = btyd.gamma_gamma_expected_value(params, np.array([0, 1, 50]), np.array([0, 100, 100]))
    assert values[0] == pytest.approx(mean)  # no repeat purchase: the population mean
    assert mean < values[1] < values[2] < 100  # more purchases, closer to their own mean
    # [GG 2013 note, eq. 5] by hand for x = 1, m = 100
    p, q = params.p, params.q
    assert values[1] == pytest.approx((q - 1) / (p + q - 1) * mean + p / (p + q - 1) * 100)


def test_cdnow_published_predictions() -> None:
    params = CDNOW_BG_WEEKS
    # Customer 1 of the CDNOW sample (x=2, t_x=30.43, T=38.86 weeks): 1.226 purchases
    # expected in the next 39 weeks, as published with the model.
    one = btyd.bg_nbd_expected_purchases(params, 39, [2], [30.43], [38.86])
    assert one[0] == pytest.approx(1.226, abs=1e-3)


def test_p_alive_closed_form() -> None:
    params = CDNOW_BG
    x = np.array([0, 0, 3, 3, 3])
    t_x = np.array([0.0, 0.0, 100.0, 100.0, 200.0])
    T = np.array([10.0, 400.0, 200.0, 400.0, 200.0])
    alive = btyd.bg_nbd_p_alive(params, x, t_x, T)
    # No repeat purchase: alive by definition (dropout only follows a repeat purchase).
    assert alive[0] == alive[1] == 1.0
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    expected = 1 / (1 + a / (b + 3 - 1) * ((alpha + 200) / (alpha + 100)) ** (r + 3))
    assert alive[2] == pytest.approx(expected)
    assert alive[3] < alive[2]  # a longer silence since the last purchase
    assert alive[4] > alive[2]  # the last purchase at T


def test_expected_purchases_closed_form_and_shape() -> None:
    params = CDNOW_BG
    # A customer who has just bought for the first time is a new customer: eq. 10 = eq. 9.
    for t in (30.0, 365.0):
        assert btyd.bg_nbd_expected_purchases(params, t, [0], [0], [0])[0] == pytest.approx(
            btyd.bg_nbd_unconditional_purchases(params, t)
        )
    t = np.array([0.0, 10.0, 100.0, 1000.0, 1e5])
    rising = btyd.bg_nbd_expected_purchases(params, t, [4] * 5, [150] * 5, [200] * 5)
    assert rising[0] == 0 and np.all(np.diff(rising) > 0)
    # Very frequent buyers and far horizons stay finite (the direct 2F1 form overflows).
    heavy = btyd.bg_nbd_expected_purchases(params, t, [300] * 5, [270] * 5, [272] * 5)
    assert np.all(np.isfinite(heavy)) and np.all(np.diff(heavy) > 0)


def test_expected_purchases_match_simulated_future_purchases() -> None:
    """With the true parameters, the summed forecast for the 365 days after T matches what
    the simulated customers went on to buy."""
    x, t_x, T, later = _simulated_rfm(CDNOW_BG, 20_000, seed=21, extra_days=365)
    expected = btyd.bg_nbd_expected_purchases(CDNOW_BG, 365.0, x, t_x, T)
    assert expected.sum() == pytest.approx(later.sum(), rel=0.05)
    # ... and customers with repeat purchases on record keep buying more, as forecast.
    repeat = x > 0
    assert expected[repeat].mean() > expected[~repeat].mean()
    assert later[repeat].mean() > later[~repeat].mean()


def test_days_to_expected_purchase() -> None:
    params = CDNOW_BG
    x = np.array([20.0, 20.0, 0.0])
    t_x = np.array([199.0, 30.0, 0.0])
    T = np.array([200.0, 200.0, 200.0])
    days = btyd.days_to_expected_purchase(params, 365, x, t_x, T)
    assert np.isnan(days[2])  # a one-time buyer is not expected to buy within a year
    d = days[0]
    assert 1 <= d <= 365
    at = btyd.bg_nbd_expected_purchases(params, np.array([d - 1, d]), x[:1], t_x[:1], T[:1])
    assert at[0] < 1 <= at[1]
    year = btyd.bg_nbd_expected_purchases(params, 365.0, x, t_x, T)
    assert np.isnan(days[1]) == (year[1] < 1)


def test_a_population_that_never_drops_out_still_gives_finite_predictions() -> None:
    # Poisson buyers with no dropout push a and b towards infinity; they stay bounded so the
    # expected-purchases formula does not overflow (428 such customers once gave NaN).
    rng = np.random.default_rng(3)
    n = 400
    big_t = rng.uniform(30, 365, n)
    times = [np.sort(rng.uniform(0, t, rng.poisson(t / 120))) for t in big_t]
    frequency = np.array([len(s) for s in times], dtype=float)
    recency = np.array([s[-1] if len(s) else 0.0 for s in times])
    fit = btyd.fit_bg_nbd(frequency, recency, big_t)
    assert fit.params.a <= math.exp(7) + 1e-6 and fit.params.b <= math.exp(7) + 1e-6
    expected = btyd.bg_nbd_expected_purchases(fit.params, 365.0, frequency, recency, big_t)
    assert np.isfinite(expected).all() and (expected >= 0).all()


def test_rfm_summary_of_no_purchases_is_empty() -> None:
    # Bug: an empty order history raised IndexError instead of giving no customers.
    orders = pd.DataFrame(
        {
            "customer_id": pd.Series([], dtype="string"),
            "ordered_at": pd.to_datetime(pd.Series([], dtype="datetime64[ns]"), utc=True),
            "net_amount_base": pd.Series([], dtype=float),
        }
    )
    summary = btyd.rfm_summary(orders, dt.date(2026, 6, 30))
    assert summary.empty and list(summary.columns) == list(btyd.SUMMARY_COLUMNS)
