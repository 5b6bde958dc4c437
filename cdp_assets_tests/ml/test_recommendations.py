"""ml.recommendations: item-to-item scores and reasons, exclusions, the popularity fallback,
ranking metrics against hand computations and the holdout evaluation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cdp_assets.ml import recommendations as rec
from cdp_assets.ml.recommendations import (
    METRICS_DTYPES,
    RECOMMENDATION_DTYPES,
    evaluate_recommendations,
    fit_recommender,
    item_similarity,
    ranking_metrics,
    recommend,
)

AS_OF = "2025-03-31"
DAY = pd.Timestamp("2025-03-01", tz="UTC")


def _items(rows: list[tuple]) -> pd.DataFrame:
    """core.order_items from (customer_id, order_id, product_id, category[, status[, at]])
    rows; status defaults to completed and the time to DAY."""
    records = []
    for customer, order, product, category, *rest in rows:
        status = rest[0] if rest else "completed"
        at = rest[1] if len(rest) > 1 else DAY
        records.append((customer, order, product, category, status, at))
    columns = ["customer_id", "order_id", "product_id", "category", "status", "ordered_at"]
    frame = pd.DataFrame(records, columns=columns)
    frame["product_name"] = frame["product_id"]
    frame["quantity"] = 1
    frame["unit_price_base"] = 10.0
    return frame


def _views(rows: list[tuple[str, str]], day: pd.Timestamp = DAY) -> pd.DataFrame:
    """core.events product views from (customer_id, product_id)."""
    frame = pd.DataFrame(rows, columns=["customer_id", "product_id"])
    frame["event_type"] = "product_view"
    frame["occurred_at"] = day
    return frame


def _baskets() -> list[tuple]:
    """A and B always bought together (5 baskets), C and D together (3 baskets); E alone
    (2 baskets) - so A and B are the most popular, then C and D, then E."""
    rows: list[tuple] = []
    for c in range(5):
        rows += [(f"ab{c}", f"o-ab{c}", "A", "Kitchen"), (f"ab{c}", f"o-ab{c}", "B", "Kitchen")]
    for c in range(3):
        rows += [(f"cd{c}", f"o-cd{c}", "C", "Garden"), (f"cd{c}", f"o-cd{c}", "D", "Garden")]
    rows += [("e0", "o-e0", "E", "Toys"), ("e1", "o-e1", "E", "Toys")]
    return rows


def _for(frame: pd.DataFrame, customer: str) -> pd.DataFrame:
    return frame.loc[frame["customer_id"] == customer].reset_index(drop=True)


def test_product_always_bought_with_the_customers_purchase_comes_first() -> None:
    items = _items([*_baskets(), ("new", "o-new", "A", "Kitchen")])
    result = _for(recommend(items, None, ["new"], AS_OF, top_n=3), "new")
    assert result.loc[0, "product_id"] == "B"
    assert result.loc[0, "reason"] == "bought with A"
    assert result["rank"].tolist() == [1, 2, 3]


def test_too_few_candidates_are_filled_with_popular_products_after_the_collaborative_ones() -> None:
    items = _items([*_baskets(), ("new", "o-new", "A", "Kitchen")])
    result = _for(recommend(items, None, ["new"], AS_OF, top_n=4), "new")
    # B from co-purchases; then by recent buyers C and D (3 each), E (2); A is already bought.
    assert result["product_id"].tolist() == ["B", "C", "D", "E"]
    assert result["reason"].tolist()[1:] == ["popular in the last 90 days"] * 3
    # 11 recent buyers (5 + 3 + 2 + "new"): C and D were bought by 3 of them.
    assert result.loc[1, "score"] == pytest.approx(3 / 11, abs=1e-6)


def test_already_bought_products_are_never_recommended() -> None:
    result = recommend(_items(_baskets()), None, None, AS_OF, top_n=10)
    for customer, group in result.groupby("customer_id"):
        owned = {"A", "B"} if customer.startswith("ab") else set()
        owned |= {"C", "D"} if customer.startswith("cd") else set()
        owned |= {"E"} if customer.startswith("e") else set()
        assert owned.isdisjoint(group["product_id"]), customer


def test_consumable_products_stay_eligible_and_are_recommended_again() -> None:
    rows = [
        *_baskets(),
        ("coffee", "o-c1", "Beans", "Coffee"),
        ("coffee", "o-c2", "Beans", "Coffee"),
        ("coffee", "o-c2", "A", "Kitchen"),
    ]
    plain = _for(recommend(_items(rows), None, ["coffee"], AS_OF, top_n=10), "coffee")
    assert "Beans" not in set(plain["product_id"])
    assert "A" not in set(plain["product_id"])

    repeat = recommend(_items(rows), None, ["coffee"], AS_OF, 10, consumable_categories=["Coffee"])
    repeat = _for(repeat, "coffee")
    beans = repeat.loc[repeat["product_id"] == "Beans"].iloc[0]
    assert beans["rank"] == 1
    assert beans["reason"] == "bought before"
    # two orders: 4 * log2(1 + 2) from its own purchases, plus the co-purchase with A
    assert beans["score"] > 4 * math.log2(3)
    assert "A" not in set(repeat["product_id"])  # Kitchen is not consumable


def test_a_customer_without_history_gets_the_popular_list() -> None:
    result = _for(recommend(_items(_baskets()), None, ["stranger"], AS_OF, top_n=3), "stranger")
    assert result["product_id"].tolist() == ["A", "B", "C"]
    assert set(result["reason"]) == {"popular in the last 90 days"}
    assert result["score"].tolist() == pytest.approx([5 / 10, 5 / 10, 3 / 10])


def test_popularity_counts_recent_buyers_only() -> None:
    old = DAY - pd.Timedelta(days=200)
    rows = [
        ("x1", "o1", "Old", "Toys", "completed", old),
        ("x2", "o2", "Old", "Toys", "completed", old),
        ("x3", "o3", "Old", "Toys", "completed", old),
        ("y1", "o4", "New", "Toys"),
    ]
    result = _for(recommend(_items(rows), None, ["z"], AS_OF, top_n=2), "z")
    assert result["product_id"].tolist() == ["New"]

    only_old = _items(rows[:3])
    result = _for(recommend(only_old, None, ["z"], AS_OF, top_n=2), "z")
    assert result["product_id"].tolist() == ["Old"]
    assert result.loc[0, "reason"] == "popular overall"


def test_a_customer_who_only_viewed_gets_products_viewed_with_it() -> None:
    views = _views([(f"v{c}", p) for c in range(4) for p in ("C", "E")] + [("looker", "E")])
    result = _for(recommend(_items(_baskets()), views, ["looker"], AS_OF, top_n=2), "looker")
    assert result.loc[0, "product_id"] == "C"
    assert result.loc[0, "reason"] == "viewed with E"
    # viewing is no purchase: E itself stays eligible (it comes from the popular list)
    assert result.loc[1, "product_id"] == "A"


def test_purchases_outweigh_views() -> None:
    rows = [(f"p{c}", f"o{c}", p, "Toys") for c in range(3) for p in ("A", "B")]
    views = _views([(f"p{c}", "C") for c in range(3)] + [("fan", "C")])
    items = _items([*rows, ("fan", "o-fan", "A", "Toys")])
    model = fit_recommender(items, views, AS_OF)
    fan = model.customers.get_loc("fan")
    a, c = model.products.get_loc("A"), model.products.get_loc("C")
    assert model.weights[fan, a] == pytest.approx(4.0)
    assert model.weights[fan, c] == pytest.approx(1.0)
    result = _for(model.recommend(["fan"], 1), "fan")
    assert result.loc[0, "product_id"] == "B"
    assert result.loc[0, "reason"] == "bought with A"


def test_later_facts_and_non_purchases_are_ignored() -> None:
    late = pd.Timestamp("2025-04-01", tz="UTC")  # the day after as_of
    same_day = pd.Timestamp("2025-03-31 23:59", tz="UTC")
    rows = [
        ("a", "o1", "A", "Toys", "completed", same_day),
        ("a", "o1", "B", "Toys", "completed", same_day),
        ("b", "o2", "A", "Toys", "completed", late),
        ("b", "o2", "C", "Toys", "completed", late),
        ("c", "o3", "A", "Toys", "cancelled"),
        ("c", "o3", "D", "Toys", "cancelled"),
        ("d", "o4", "A", "Toys", None),
        ("d", "o4", "B", "Toys", None),
    ]
    model = fit_recommender(_items(rows), None, AS_OF)
    assert list(model.customers) == ["a", "d"]  # null status counts as a purchase
    assert list(model.products) == ["A", "B"]


def test_similarity_is_cosine_with_top_k_neighbours_per_product() -> None:
    rng = np.random.default_rng(3)
    dense = (rng.random((40, 8)) < 0.4) * rng.integers(1, 4, (40, 8)).astype(np.float32)
    candidates = np.ones(8, dtype=bool)
    candidates[7] = False
    similarity = item_similarity(sp.csr_array(dense), 2, candidates).toarray()
    norms = np.linalg.norm(dense, axis=0)
    cosine = (dense.T @ dense) / np.outer(norms, norms)
    np.fill_diagonal(cosine, 0)
    cosine[:, 7] = 0
    for i in range(8):
        kept = np.flatnonzero(similarity[i])
        assert len(kept) == 2
        assert set(kept) == set(np.argsort(-cosine[i], kind="stable")[:2])
        assert similarity[i, kept] == pytest.approx(cosine[i, kept], rel=1e-5)


def test_chunked_scoring_gives_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    items = _items([*_baskets(), ("new", "o-new", "A", "Kitchen"), ("x", "o-x", "C", "Garden")])
    customers = ["ab0", "cd1", "new", "stranger", "x", "e0", "ab3"]
    whole = recommend(items, None, customers, AS_OF, top_n=4)
    monkeypatch.setattr(rec, "CUSTOMER_CHUNK", 2)
    chunked = recommend(items, None, customers, AS_OF, top_n=4)
    pd.testing.assert_frame_equal(whole, chunked)
    assert sorted(whole["customer_id"].unique()) == sorted(customers)
    assert (
        whole.groupby("customer_id")["rank"].apply(list)
        == whole.groupby("customer_id")["rank"].apply(lambda r: list(range(1, len(r) + 1)))
    ).all()


def test_no_data_or_no_customers_give_typed_empty_frames() -> None:
    empty = recommend(None, None, ["a"], AS_OF)
    assert empty.empty
    assert dict(empty.dtypes.astype(str)) == RECOMMENDATION_DTYPES
    result = recommend(_items(_baskets()), None, [], AS_OF)
    assert result.empty
    assert dict(result.dtypes.astype(str)) == RECOMMENDATION_DTYPES


def test_ranking_metrics_match_hand_computation() -> None:
    recommended = pd.DataFrame(
        [
            ("u1", 1, "X"),
            ("u1", 2, "A"),
            ("u2", 1, "B"),
            ("u2", 2, "Y"),
            ("u2", 3, "C"),
            ("u4", 1, "Z"),  # not in the holdout: ignored
        ],
        columns=["customer_id", "rank", "product_id"],
    )
    relevant = pd.DataFrame(
        [("u1", "A"), ("u2", "B"), ("u2", "C"), ("u3", "D")],
        columns=["customer_id", "product_id"],
    )
    hit_rate, ndcg, customers = ranking_metrics(recommended, relevant, k=10)
    u1 = (1 / math.log2(3)) / 1.0
    u2 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert customers == 3
    assert hit_rate == pytest.approx(2 / 3)
    assert ndcg == pytest.approx((u1 + u2 + 0.0) / 3)


def test_ranking_metrics_cut_at_k() -> None:
    recommended = pd.DataFrame(
        {"customer_id": ["u"] * 3, "rank": [1, 2, 3], "product_id": ["X", "Y", "A"]}
    )
    relevant = pd.DataFrame({"customer_id": ["u"], "product_id": ["A"]})
    assert ranking_metrics(recommended, relevant, k=2) == (0.0, 0.0, 1)
    assert ranking_metrics(recommended, relevant, k=3)[1] == pytest.approx(0.5)


def _affinity_population(seed: int = 7) -> pd.DataFrame:
    """Customers who buy mostly within one of 6 product groups; globally, group 0 sells most,
    so that popularity alone is a fair but weaker baseline."""
    rng = np.random.default_rng(seed)
    groups, per, customers = 6, 10, 1500
    group = rng.choice(groups, customers, p=[0.3, 0.2, 0.15, 0.15, 0.1, 0.1])
    rows: list[tuple] = []
    start = pd.Timestamp("2024-06-01", tz="UTC")
    for c in range(customers):
        for o in range(1 + rng.poisson(1.5)):
            own = rng.random() < 0.9
            g = group[c] if own else rng.integers(groups)
            products = rng.choice(per, size=1 + rng.integers(2), replace=False)
            at = start + pd.Timedelta(days=int(rng.integers(0, 300)))
            rows += [(f"c{c}", f"o{c}-{o}", f"P{g}{p}", f"G{g}", "completed", at) for p in products]
    return _items(rows)


def test_evaluation_on_a_population_with_affinities_beats_popularity() -> None:
    items = _affinity_population()
    metrics = evaluate_recommendations(items, None, "2025-03-27", holdout_days=60, top_n=10)
    assert dict(metrics.dtypes.astype(str)) == METRICS_DTYPES
    assert metrics["model"].tolist() == ["item_to_item", "popularity"]
    cutoff = pd.Timestamp("2025-03-28", tz="UTC")
    holdout = items.loc[items["ordered_at"] >= cutoff - pd.Timedelta(days=60)]
    assert (metrics["customers"] == holdout["customer_id"].nunique()).all()
    cf, popular = metrics.iloc[0], metrics.iloc[1]
    assert cf["hit_rate_at_10"] > popular["hit_rate_at_10"] + 0.1
    assert cf["ndcg_at_10"] > popular["ndcg_at_10"]
    assert 0 < popular["ndcg_at_10"] <= popular["hit_rate_at_10"] <= 1
