"""The contract of uplift scores (`cdp_assets.ml.uplift.score_uplift`): one row per customer
of the features frame, with the offer to make them and what it is expected to change."""

from __future__ import annotations

# column -> (pandas dtype, description)
UPLIFT_SCORE_COLUMNS: dict[str, tuple[str, str]] = {
    "customer_id": ("string", "the customer (core.customer_profiles)"),
    "as_of": ("datetime64[us]", "the features' date: facts up to the end of this day count"),
    "best_arm": (
        "string",
        "the offer (campaign arm) with the highest expected uplift; null: do not target, no "
        "offer is expected to help (every expected uplift is 0 or below)",
    ),
    "expected_uplift": (
        "float64",
        "the predicted effect of the best offer: conversion probability with it minus without "
        "it (outcome 'converted'), or revenue with minus without, base currency (outcome "
        "'revenue'); 0 or below when best_arm is null",
    ),
    "uplift_decile": (
        "int64",
        "1 = the tenth of the scored customers with the highest expected_uplift, 10 = the "
        "lowest; customers with equal expected_uplift share a decile",
    ),
    "outcome": ("string", "what expected_uplift is an effect on: 'converted' or 'revenue'"),
    "model_version": ("string", "the model store version that scored"),
}
UPLIFT_SCORE_DTYPES: dict[str, str] = {
    name: dtype for name, (dtype, _) in UPLIFT_SCORE_COLUMNS.items()
}
