"""Scoring a resolution against ground truth: pairwise and cluster-level figures.

Pairwise figures count record pairs: a predicted pair is two records given the same customer
id, a true pair two records of the same person. They are computed from the contingency table
of (customer, person) without listing pairs, so millions of records score in seconds.
Records without a customer id count as singletons; records without a person (anonymous
rows) belong to nobody and form no true pair.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _pairs(counts: pd.Series | np.ndarray) -> float:
    values = np.asarray(counts, dtype=np.float64)
    return float((values * (values - 1) / 2).sum())


def pairwise_scores(customer_id: pd.Series, person_id: pd.Series) -> dict[str, float]:
    """Precision, recall and F1 over record pairs, and cluster figures.

    `customer_id` and `person_id` are aligned per record (null = none).
    """
    n = len(customer_id)
    predicted = customer_id.astype("string").reset_index(drop=True)
    truth = person_id.astype("string").reset_index(drop=True)
    # Unresolved records and anonymous rows are singletons of their own.
    predicted = predicted.fillna("_unresolved_" + pd.Series(np.arange(n)).astype("string"))
    truth = truth.fillna("_nobody_" + pd.Series(np.arange(n)).astype("string"))
    frame = pd.DataFrame({"c": predicted, "p": truth})
    both = _pairs(frame.groupby(["c", "p"]).size())
    predicted_pairs = _pairs(frame.groupby("c").size())
    true_pairs = _pairs(frame.groupby("p").size())
    precision = both / predicted_pairs if predicted_pairs else 1.0
    recall = both / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    # Cluster level: a person is exactly recovered when one customer holds all of its records
    # and nothing else.
    known = person_id.notna().to_numpy()
    exact = frame[known].groupby("p")["c"].agg(lambda s: s.nunique() == 1)
    purity = frame.groupby("c")["p"].nunique()
    clean_customers = frame.groupby("c")["p"].nunique() == 1
    holders = frame[known].groupby("p")["c"].first()
    sizes_match = (
        frame.groupby("c").size().reindex(holders.to_numpy()).to_numpy()
        == frame[known].groupby("p").size().to_numpy()
    )
    return {
        "records": n,
        "true_pairs": true_pairs,
        "predicted_pairs": predicted_pairs,
        "pair_precision": precision,
        "pair_recall": recall,
        "pair_f1": f1,
        "people": int(exact.size),
        "customers": int(purity.size),
        "people_in_one_customer": float(exact.mean()) if exact.size else 1.0,
        "people_exactly_recovered": float((exact.to_numpy() & sizes_match).mean())
        if exact.size
        else 1.0,
        "pure_customers": float(clean_customers.mean()) if clean_customers.size else 1.0,
    }
