"""The contract of `ml.customer_ltv`: one row per customer with a purchase up to `as_of`."""

from __future__ import annotations

BTYD_MODEL = "bg_nbd_gamma_gamma"
BOOSTING_MODEL = "gradient_boosting"
NAIVE_MODEL = "naive_baseline"

# column -> (pandas dtype, description)
LTV_COLUMNS: dict[str, tuple[str, str]] = {
    "customer_id": ("string", "the customer (core.customer_profiles)"),
    "as_of": ("datetime64[us]", "the scoring date; purchases up to the end of it are known"),
    "horizon_days": ("int64", "the forecast window after as_of, in days"),
    "p_alive": ("float64", "the purchase model's probability that the customer still buys"),
    "expected_purchases": ("float64", "expected purchase days in the horizon"),
    "expected_order_value": ("float64", "Gamma-Gamma expected value of a purchase day"),
    "predicted_revenue": ("float64", "net revenue expected in the horizon, base currency"),
    "expected_next_order_date": (
        "datetime64[us]",
        "first day by whose end one purchase is expected (null: under one in the horizon)",
    ),
    "historical_revenue": ("float64", "net revenue of all purchases up to as_of"),
    "model": (
        "string",
        "what the forecast comes from: <purchase model>_gamma_gamma_corrected (bg_nbd, "
        "pareto_nbd, mbg_nbd, learned_covariates or blend, totals corrected; see "
        f"cdp_assets.ml.ltv_selection), {BTYD_MODEL} or {BOOSTING_MODEL}",
    ),
    "model_version": ("string", "the model store version that scored"),
}
LTV_DTYPES: dict[str, str] = {name: dtype for name, (dtype, _) in LTV_COLUMNS.items()}
