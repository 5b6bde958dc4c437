"""Splink 5 prototype matcher for bench/identity_probabilistic.py (time-boxed, issue #13).

    PYTHONPATH=<dir with splink 5> .venv/bin/python bench/identity_probabilistic.py \
        --records 50000 --population dedupe --matcher splink

Splink's out-of-the-box comparisons (ForenameSurnameComparison with term frequencies on the
full name, DateOfBirthComparison) plus one address comparison (street, postcode and city are
one fact; three comparisons linked households); blocking rules like ours; u by random
sampling, λ from deterministic rules, m by EM sessions blocked on the full name and on the
birth date, as in Splink's tutorials. Splink is not a dependency of the project: this file is
the measured prototype behind the decision in the README (identity, issue #13).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

THRESHOLD = 0.95  # our default when the prototype ran (now 0.98); the same match probability threshold as our matcher's default


def _address_comparison():
    """Street, postcode and city as one comparison: they describe one fact (the address), so
    separate comparisons would count a shared home three times and link households."""
    import splink.comparison_library as cl

    both = "{c}_l IS NOT NULL AND {c}_r IS NOT NULL"
    return cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[
            {
                "sql_condition": "(street_l IS NULL OR street_r IS NULL) AND "
                "(postcode_l IS NULL OR postcode_r IS NULL) AND (city_l IS NULL OR city_r IS NULL)",
                "label_for_charts": "null",
                "is_null_level": True,
            },
            {
                "sql_condition": "levenshtein(street_l, street_r) <= 3",
                "label_for_charts": "same street",
            },
            {
                "sql_condition": f"({both.format(c='street')}) AND NOT "
                "(levenshtein(street_l, street_r) <= 3)",
                "label_for_charts": "different street",
            },
            {"sql_condition": "postcode_l = postcode_r", "label_for_charts": "same postcode"},
            {"sql_condition": "city_l = city_r", "label_for_charts": "same city"},
            {"sql_condition": "ELSE", "label_for_charts": "different"},
        ],
    )


def match_with_splink(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    df = pd.DataFrame(
        {
            "unique_id": frame["node"].to_numpy(np.int64),
            "first_name": frame["first_name"].str.lower().astype(object),
            "surname": frame["last_name"].str.lower().astype(object),
            "dob": frame["birth_date"].dt.strftime("%Y-%m-%d").astype(object),
            "city": frame["city"].str.lower().astype(object),
            "postcode": frame["postal_code"].astype(object),
            "street": frame["street"].str.lower().astype(object),
        }
    )
    df = df.where(df.notna(), None)
    df["first_name_surname_concat"] = (
        df["first_name"].fillna("") + " " + df["surname"].fillna("")
    ).str.strip()
    db_api = DuckDBAPI()
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("postcode", "substr(surname, 1, 1)"),
            block_on("dob", "substr(first_name, 1, 1)"),
            block_on("surname", "city"),
            block_on("surname", "dob"),
            block_on("first_name", "surname"),
            block_on("first_name", "postcode"),
            block_on("street", "city"),
        ],
        comparisons=[
            cl.ForenameSurnameComparison(
                "first_name",
                "surname",
                forename_surname_concat_col_name="first_name_surname_concat",
            ),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            _address_comparison(),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(db_api.register(df), settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "surname", "dob"), block_on("surname", "dob", "postcode")],
        recall=0.7,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "surname")
    )
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    predictions = linker.inference.predict(threshold_match_probability=THRESHOLD)
    pairs = predictions.as_pandas_dataframe()
    left = pairs["unique_id_l"].to_numpy(np.int64)
    right = pairs["unique_id_r"].to_numpy(np.int64)
    edges = pd.DataFrame(
        {"left_node": np.minimum(left, right), "right_node": np.maximum(left, right)}
    )
    return edges, {"candidate_pairs": -1}
