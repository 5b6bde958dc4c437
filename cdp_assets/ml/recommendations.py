"""`ml.product_recommendations`: item-to-item collaborative filtering with a popularity
fallback, and its evaluation on a later held-out period.

Interactions. Each (customer, product) pair gets a weight from the purchases (lines of
purchase orders: status completed, partially_refunded or unknown) and the product views
before the cutoff, with repeat counts damped so that one heavy buyer does not dominate:

    weight = 4 * log2(1 + orders containing the product) + 1 * log2(1 + views)

Similarity. Item-item cosine similarity of the columns of the customer x product weight
matrix (a sparse matrix product, computed a block of products at a time), so two products
are similar when the same customers bought or viewed both. Each product keeps only its
`neighbours` most similar products (default 50), which bounds memory and drops the long tail
of weak, noisy co-occurrences. Only products bought at least once before the cutoff can be
recommended (views alone can carry retired or mistyped product ids). A product in a
consumable category is also its own neighbour with similarity 1, through purchases only:
buying coffee beans is the best evidence that a customer will buy them again.

Scoring. A customer's score for a product is the sum over their history of
`weight(history item) * similarity(history item, product)`: sparse customer-chunk x
similarity products, then the top `top_n` per customer. Already-bought products are
excluded unless their category is consumable. The reason names the history item that
contributed most: "bought with SKU-1001" (the customer bought SKU-1001), "viewed with
SKU-1001" (they only viewed it), or "bought before" for a consumable bought again. Customers with no history, or too few candidates, are filled up with the products
most customers bought in the last 90 days ("popular in the last 90 days"); those rows come
after the collaborative ones and their score is the share of recent buyers who bought the
product, so scores compare only between rows of the same kind.

Time. `as_of` is the analysis date: facts before the UTC midnight after it count, as in
analytics. The evaluation trains on facts before `as_of - holdout_days` and measures hit
rate and NDCG at 10 on the purchases of the holdout window, against the popularity list
alone with the same exclusion rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from cdp_assets.identity.facts import PURCHASE_STATUSES
from cdp_assets.identity.membership import arrow_strings, string_positions

PURCHASE_WEIGHT = 4.0
VIEW_WEIGHT = 1.0
NEIGHBOURS = 50
POPULAR_DAYS = 90
EVALUATION_K = 10
# Customers scored at once, and similarity cells (products x products) computed at once:
# both bound the memory of the sparse products.
CUSTOMER_CHUNK = 20_000
SIMILARITY_BLOCK_CELLS = 4_000_000

RECOMMENDATION_DTYPES: dict[str, str] = {
    "customer_id": "string",
    "rank": "int64",
    "product_id": "string",
    "score": "float64",
    "reason": "string",
}
METRICS_DTYPES: dict[str, str] = {
    "model": "string",
    "hit_rate_at_10": "float64",
    "ndcg_at_10": "float64",
    "customers": "int64",
}
CF_MODEL = "item_to_item"
POPULARITY_MODEL = "popularity"


@dataclass(frozen=True)
class RecommenderModel:
    """A fitted item-to-item recommender (see the module docstring).

    `weights` and `bought` are customers x products (rows in `customers` order, columns in
    `products` order, which is sorted); `similarity` is products x products with at most
    `neighbours` entries per row and an empty diagonal.
    """

    cutoff: pd.Timestamp
    customers: pd.Index
    products: pd.Index
    weights: sp.csr_array
    bought: sp.csr_array
    similarity: sp.csr_array
    repeatable: np.ndarray
    popular: np.ndarray
    popular_score: np.ndarray
    popular_reason: str

    def recommend(
        self,
        customers: Iterable[str] | None = None,
        top_n: int = 10,
        use_similarity: bool = True,
    ) -> pd.DataFrame:
        """Up to `top_n` ranked products per customer (RECOMMENDATION_DTYPES).

        `customers`: whom to recommend for (default: everyone with history); unknown ones get
        the popular list. `use_similarity=False` gives the popularity baseline, with the same
        exclusion of already-bought products.
        """
        if top_n < 1:
            raise ValueError(f"top_n must be at least 1, got {top_n}")
        wanted = self.customers if customers is None else _customer_ids(customers)
        rows = string_positions(wanted, self.customers)
        parts = [
            _recommend_chunk(self, rows[start : start + CUSTOMER_CHUNK], top_n, use_similarity)
            for start in range(0, len(rows), CUSTOMER_CHUNK)
        ]
        offsets = range(0, len(rows), CUSTOMER_CHUNK)
        return _recommendation_frame(self, wanted, parts, offsets)


@dataclass(frozen=True)
class _Chunk:
    """Recommendations of one chunk of customers, as arrays (owner = position in chunk)."""

    owner: np.ndarray
    rank: np.ndarray
    item: np.ndarray
    score: np.ndarray
    reason: np.ndarray


def _concat(parts: list[_Chunk]) -> _Chunk:
    if not parts:
        return _empty_chunk()
    return _Chunk(
        owner=np.concatenate([p.owner for p in parts]),
        rank=np.concatenate([p.rank for p in parts]),
        item=np.concatenate([p.item for p in parts]),
        score=np.concatenate([p.score for p in parts]),
        reason=np.concatenate([p.reason for p in parts]),
    )


def _take(chunk: _Chunk, order: np.ndarray) -> _Chunk:
    return _Chunk(
        chunk.owner[order],
        chunk.rank[order],
        chunk.item[order],
        chunk.score[order],
        chunk.reason[order],
    )


def _empty_chunk() -> _Chunk:
    empty = np.zeros(0, dtype=np.int64)
    return _Chunk(empty, empty, empty, np.zeros(0), empty)


def cutoff_of(as_of: dt.date | str | pd.Timestamp) -> pd.Timestamp:
    """The UTC midnight after the analysis date `as_of`: facts at or after it are ignored."""
    day = pd.Timestamp(as_of)
    if day.tzinfo is not None:
        day = day.tz_convert("UTC").tz_localize(None)
    return day.normalize().tz_localize("UTC") + pd.Timedelta(days=1)


def purchase_lines(
    order_items: pd.DataFrame | None, start: pd.Timestamp | None, end: pd.Timestamp
) -> pd.DataFrame:
    """Lines of purchase orders ordered in [start, end) with a customer and a product:
    customer_id, order_id, product_id, category, ordered_at."""
    columns = ["customer_id", "order_id", "product_id", "category", "ordered_at"]
    if order_items is None or order_items.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    at = pd.to_datetime(order_items["ordered_at"], utc=True)
    status = order_items["status"]
    keep = (
        (status.isna() | status.isin(PURCHASE_STATUSES))
        & order_items["customer_id"].notna()
        & order_items["product_id"].notna()
        & (at < end)
    )
    if start is not None:
        keep &= at >= start
    lines = order_items.loc[keep, columns[:-1]].copy()
    lines["ordered_at"] = at[keep]
    return lines.reset_index(drop=True)


def product_views(events: pd.DataFrame | None, end: pd.Timestamp) -> pd.DataFrame:
    """Product views before `end` by known customers: customer_id, product_id."""
    if events is None or events.empty:
        return pd.DataFrame(
            {"customer_id": pd.Series(dtype="object"), "product_id": pd.Series(dtype="object")}
        )
    keep = (
        (events["event_type"] == "product_view")
        & events["customer_id"].notna()
        & events["product_id"].notna()
        & (pd.to_datetime(events["occurred_at"], utc=True) < end)
    )
    return events.loc[keep.fillna(False), ["customer_id", "product_id"]].reset_index(drop=True)


def fit_recommender(
    order_items: pd.DataFrame | None,
    events: pd.DataFrame | None,
    as_of: dt.date | str | pd.Timestamp,
    consumable_categories: Iterable[str] = (),
    neighbours: int = NEIGHBOURS,
    popular_days: int = POPULAR_DAYS,
) -> RecommenderModel:
    """Fit the recommender on the purchases and product views before the cutoff of `as_of`."""
    return _fit(
        order_items, events, cutoff_of(as_of), consumable_categories, neighbours, popular_days
    )


def _fit(
    order_items: pd.DataFrame | None,
    events: pd.DataFrame | None,
    cutoff: pd.Timestamp,
    consumable_categories: Iterable[str],
    neighbours: int = NEIGHBOURS,
    popular_days: int = POPULAR_DAYS,
) -> RecommenderModel:
    """`fit_recommender` at an exact `cutoff` instant."""
    lines = purchase_lines(order_items, None, cutoff)
    views = product_views(events, cutoff)
    customers = _sorted_index(pd.concat([lines["customer_id"], views["customer_id"]]))
    products = _sorted_index(pd.concat([lines["product_id"], views["product_id"]]))
    line_c = string_positions(lines["customer_id"], customers)
    line_i = string_positions(lines["product_id"], products)
    view_c = string_positions(views["customer_id"], customers)
    view_i = string_positions(views["product_id"], products)

    shape = (len(customers), len(products))
    bought = _order_counts(line_c, line_i, pd.factorize(lines["order_id"])[0], shape)
    viewed = _counts(view_c, view_i, shape)
    weights = _interaction_weights(bought, viewed)

    sellable = np.zeros(len(products), dtype=bool)
    sellable[line_i] = True
    repeatable = _repeatable(lines, products, line_i, consumable_categories)
    similarity = item_similarity(weights, neighbours, sellable)
    popular, share, reason = _popular_items(lines, line_c, line_i, cutoff, popular_days)
    return RecommenderModel(
        cutoff=cutoff,
        customers=customers,
        products=products,
        weights=weights,
        bought=bought,
        similarity=similarity,
        repeatable=repeatable,
        popular=popular,
        popular_score=share,
        popular_reason=reason,
    )


def recommend(
    order_items: pd.DataFrame | None,
    events: pd.DataFrame | None,
    customers: Iterable[str] | None,
    as_of: dt.date | str | pd.Timestamp,
    top_n: int = 10,
    consumable_categories: Iterable[str] = (),
) -> pd.DataFrame:
    """`ml.product_recommendations` rows (customer_id, rank, product_id, score, reason) for
    `customers` (default: everyone with a purchase or a product view before the cutoff)."""
    model = fit_recommender(order_items, events, as_of, consumable_categories)
    return model.recommend(customers, top_n)


def evaluate_recommendations(
    order_items: pd.DataFrame | None,
    events: pd.DataFrame | None,
    as_of: dt.date | str | pd.Timestamp,
    holdout_days: int = 60,
    top_n: int = 10,
    consumable_categories: Iterable[str] = (),
) -> pd.DataFrame:
    """Hit rate and NDCG at 10 of the item-to-item model and of the popularity baseline,
    trained before `as_of - holdout_days` and judged on the purchases of the holdout window
    (METRICS_DTYPES; one row per model, over the customers who bought in the holdout).

    Both models recommend `top_n` products with the same exclusions; the metrics look at the
    first 10 of them (all of them when `top_n` is smaller).
    """
    cutoff = cutoff_of(as_of)
    model = _fit(
        order_items, events, cutoff - pd.Timedelta(days=holdout_days), consumable_categories
    )
    holdout = purchase_lines(order_items, model.cutoff, cutoff)
    relevant = holdout[["customer_id", "product_id"]].drop_duplicates()
    buyers = _customer_ids(relevant["customer_id"])
    rows = []
    for name, use_similarity in ((CF_MODEL, True), (POPULARITY_MODEL, False)):
        recommended = model.recommend(buyers, top_n, use_similarity)
        hit_rate, ndcg, count = ranking_metrics(recommended, relevant, EVALUATION_K)
        rows.append((name, hit_rate, ndcg, count))
    return pd.DataFrame(rows, columns=list(METRICS_DTYPES)).astype(METRICS_DTYPES)


def ranking_metrics(
    recommended: pd.DataFrame, relevant: pd.DataFrame, k: int = EVALUATION_K
) -> tuple[float, float, int]:
    """(hit rate at k, mean NDCG at k, customers) over the customers in `relevant`.

    `recommended`: customer_id, rank (1 = first), product_id. `relevant`: customer_id,
    product_id — what each customer actually bought. Binary relevance: DCG sums
    1 / log2(rank + 1) over the relevant products in the first k; the ideal DCG puts
    min(k, relevant products) of them first. A customer without recommendations scores 0.
    """
    keys = ["customer_id", "product_id"]
    truth = relevant[keys].astype("string").drop_duplicates()
    customers = truth["customer_id"].nunique()
    if customers == 0:
        return 0.0, 0.0, 0
    top = recommended.loc[recommended["rank"] <= k, [*keys, "rank"]]
    top = top.astype({"customer_id": "string", "product_id": "string"})
    hits = top.merge(truth, on=keys)
    gain = 1.0 / np.log2(hits["rank"].to_numpy(dtype="float64") + 1.0)
    dcg = pd.Series(gain).groupby(hits["customer_id"].to_numpy()).sum()
    ideal_table = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    relevant_count = truth.groupby("customer_id").size().clip(upper=k)
    ideal = pd.Series(ideal_table[relevant_count.to_numpy()], index=relevant_count.index)
    ndcg = (dcg / ideal.reindex(dcg.index)).sum() / customers
    return float(hits["customer_id"].nunique() / customers), float(ndcg), int(customers)


def item_similarity(
    weights: sp.csr_array,
    neighbours: int,
    candidates: np.ndarray,
) -> sp.csr_array:
    """Products x products cosine similarity of the columns of `weights`, keeping per row the
    `neighbours` most similar `candidates` products (never the product itself)."""
    n_items = weights.shape[1]
    norms = np.sqrt(np.asarray((weights.multiply(weights)).sum(axis=0))).ravel()
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    unit = (weights @ sp.diags_array(inverse.astype(np.float32))).tocsr()
    unit_t = unit.T.tocsr()
    step = max(1, SIMILARITY_BLOCK_CELLS // max(n_items, 1))
    rows, cols = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    values = [np.zeros(0, dtype=np.float32)]
    for start in range(0, n_items, step):
        gram = unit_t[start : start + step] @ unit
        gram.sort_indices()
        gram = gram.tocoo()
        r, c = gram.coords[0].astype(np.int64) + start, gram.coords[1].astype(np.int64)
        keep = (r != c) & candidates[c] & (gram.data > 0)
        r, c, v = r[keep], c[keep], gram.data[keep]
        chosen, _ = top_per_row(r, v, neighbours)
        rows.append(r[chosen])
        cols.append(c[chosen])
        values.append(v[chosen])
    similarity = sp.csr_array(
        (np.concatenate(values).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_items, n_items),
    )
    similarity.sum_duplicates()
    similarity.sort_indices()
    return similarity


def top_per_row(rows: np.ndarray, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the `k` largest values of each row, ordered by row then rank, and their
    0-based ranks. Entries must come in (row, col) order and values be non-negative; ties
    keep the lower column first.
    """
    # Non-negative float32 values order like their bit patterns: one stable integer sort
    # (fast on the already row-sorted input) replaces a three-key lexsort.
    bits = np.asarray(values, dtype=np.float32).view(np.uint32).astype(np.int64)
    order = np.argsort((rows.astype(np.int64) << 32) | (0xFFFFFFFF - bits), kind="stable")
    sorted_rows = rows[order]
    positions = np.arange(len(order))
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_rows[1:] != sorted_rows[:-1]
    rank = positions - np.maximum.accumulate(np.where(first, positions, 0))
    keep = rank < k
    return order[keep], rank[keep]


def _customer_ids(customers: Iterable[str]) -> pd.Index:
    """The distinct customer ids asked for, sorted."""
    if not isinstance(customers, pd.Series | pd.Index | np.ndarray):
        customers = list(customers)
    return _sorted_index(pd.Series(customers))


def _sorted_index(values: pd.Series | pd.Index) -> pd.Index:
    """Distinct non-null values as a sorted string index."""
    unique = pd.Index(pd.unique(pd.Series(values).dropna().astype("string")))
    return unique.sort_values()


def _counts(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_array:
    """Occurrences of each (row, col) pair as a sparse matrix."""
    ones = np.ones(len(rows), dtype=np.float32)
    matrix = sp.csr_array((ones, (rows, cols)), shape=shape)
    matrix.sum_duplicates()
    return matrix


def _order_counts(
    rows: np.ndarray, cols: np.ndarray, orders: np.ndarray, shape: tuple[int, int]
) -> sp.csr_array:
    """Distinct orders per (customer, product): an order counts once however many lines."""
    distinct = pd.DataFrame({"r": rows, "c": cols, "o": orders}).drop_duplicates()
    return _counts(distinct["r"].to_numpy(), distinct["c"].to_numpy(), shape)


def _interaction_weights(bought: sp.csr_array, viewed: sp.csr_array) -> sp.csr_array:
    """PURCHASE_WEIGHT * log2(1 + orders) + VIEW_WEIGHT * log2(1 + views), per pair."""
    damped_bought = bought.copy()
    damped_bought.data = (PURCHASE_WEIGHT * np.log2(1.0 + damped_bought.data)).astype(np.float32)
    damped_viewed = viewed.copy()
    damped_viewed.data = (VIEW_WEIGHT * np.log2(1.0 + damped_viewed.data)).astype(np.float32)
    weights = (damped_bought + damped_viewed).tocsr()
    weights.sort_indices()
    return weights


def _repeatable(
    lines: pd.DataFrame, products: pd.Index, line_i: np.ndarray, consumable: Iterable[str]
) -> np.ndarray:
    """Products whose (most recently seen) category is consumable."""
    repeatable = np.zeros(len(products), dtype=bool)
    wanted = set(consumable)
    if not wanted or lines.empty:
        return repeatable
    latest = pd.DataFrame({"i": line_i, "category": lines["category"], "at": lines["ordered_at"]})
    latest = latest.dropna(subset=["category"]).sort_values("at").drop_duplicates("i", keep="last")
    repeatable[latest.loc[latest["category"].isin(wanted), "i"].to_numpy()] = True
    return repeatable


def _popular_items(
    lines: pd.DataFrame,
    line_c: np.ndarray,
    line_i: np.ndarray,
    cutoff: pd.Timestamp,
    days: int,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Products by the number of distinct customers who bought them in the last `days` days
    (all history when that window is empty): product codes, share of buyers, reason."""
    recent = (lines["ordered_at"] >= cutoff - pd.Timedelta(days=days)).to_numpy()
    reason = f"popular in the last {days} days"
    if not recent.any():
        recent = np.ones(len(lines), dtype=bool)
        reason = "popular overall"
    pairs = pd.DataFrame({"c": line_c[recent], "i": line_i[recent]}).drop_duplicates()
    if pairs.empty:
        return np.zeros(0, dtype=np.int64), np.zeros(0), reason
    buyers = pairs.groupby("i").size()
    ranked = buyers.reset_index(name="n").sort_values(["n", "i"], ascending=[False, True])
    share = ranked["n"].to_numpy(dtype="float64") / pairs["c"].nunique()
    return ranked["i"].to_numpy(dtype=np.int64), share, reason


def _chunk_rows(matrix: sp.csr_array, rows: np.ndarray) -> sp.csr_array:
    """Rows of `matrix` by position; -1 gives an empty row (a customer without history)."""
    known = rows >= 0
    if not known.any():
        return sp.csr_array((len(rows), matrix.shape[1]), dtype=matrix.dtype)
    picked = matrix[np.where(known, rows, 0)].tocsr()
    if not known.all():
        picked = (sp.diags_array(known.astype(np.float32)) @ picked).tocsr()
        picked.eliminate_zeros()
    picked.sort_indices()
    return picked


def _keys(rows: np.ndarray, cols: np.ndarray, n_cols: int) -> np.ndarray:
    return rows.astype(np.int64) * n_cols + cols.astype(np.int64)


def _lookup(matrix: sp.csr_array, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """matrix[rows, cols] for a canonical CSR matrix (sorted indices, no duplicates)."""
    n_cols = matrix.shape[1]
    stored_rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    stored = _keys(stored_rows, matrix.indices, n_cols)
    wanted = _keys(rows, cols, n_cols)
    if len(stored) == 0:
        return np.zeros(len(wanted), dtype=np.float32)
    position = np.minimum(np.searchsorted(stored, wanted), len(stored) - 1)
    return np.where(stored[position] == wanted, matrix.data[position], 0).astype(np.float32)


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Whether each of `keys` is in `sorted_keys` (sorted, int64)."""
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    position = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[position] == keys


def _ragged(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of `counts` consecutive positions from `starts`: (group, position) pairs."""
    group = np.repeat(np.arange(len(counts)), counts)
    offsets = np.cumsum(counts) - counts
    positions = np.arange(int(counts.sum()), dtype=np.int64) - offsets[group] + starts[group]
    return group, positions


def _recommend_chunk(
    model: RecommenderModel, rows: np.ndarray, top_n: int, use_similarity: bool
) -> _Chunk:
    """Collaborative candidates first, then popular products up to `top_n` per customer."""
    n_items = len(model.products)
    weights = _chunk_rows(model.weights, rows)
    bought = _chunk_rows(model.bought, rows)
    b_rows, b_cols = bought.nonzero()
    excluded = ~model.repeatable[b_cols]
    excluded_keys = np.sort(_keys(b_rows[excluded], b_cols[excluded], n_items))
    excluded_count = np.bincount(b_rows[excluded], minlength=len(rows))

    collaborative = _collaborative(model, weights, bought, excluded_keys, top_n, use_similarity)
    cf_count = np.bincount(collaborative.owner, minlength=len(rows))
    recommended_keys = _keys(collaborative.owner, collaborative.item, n_items)
    taken_keys = np.sort(np.concatenate([excluded_keys, recommended_keys]))
    fill = _popular_fill(model, cf_count, excluded_count, taken_keys, top_n)
    merged = _concat([collaborative, fill])
    return _take(merged, np.lexsort((merged.rank, merged.owner)))


def _collaborative(
    model: RecommenderModel,
    weights: sp.csr_array,
    bought: sp.csr_array,
    excluded_keys: np.ndarray,
    top_n: int,
    use_similarity: bool,
) -> _Chunk:
    """The top `top_n` products by summed weighted similarity, with the reason code of the
    history item contributing most."""
    if not use_similarity or weights.nnz == 0:
        return _empty_chunk()
    n_items = len(model.products)
    repeat = _repeat_weights(model, bought)
    scores = (weights @ model.similarity + repeat).tocsr()
    scores.sort_indices()
    scores = scores.tocoo()
    owner, item = scores.coords[0].astype(np.int64), scores.coords[1].astype(np.int64)
    keep = (scores.data > 0) & ~_contains(excluded_keys, _keys(owner, item, n_items))
    owner, item, value = owner[keep], item[keep], scores.data[keep]
    chosen, rank = top_per_row(owner, value, top_n)
    owner, item, value = owner[chosen], item[chosen], value[chosen]
    reason = _reason_codes(model, weights, bought, repeat, owner, item)
    return _Chunk(owner, rank + 1, item, value.astype("float64"), reason)


def _repeat_weights(model: RecommenderModel, bought: sp.csr_array) -> sp.csr_array:
    """The purchase weights of the consumable products the customers bought: a consumable
    is its own neighbour with similarity 1, but only through purchases."""
    repeat = bought.copy()
    repeat.data = (PURCHASE_WEIGHT * np.log2(1.0 + repeat.data)).astype(np.float32)
    repeat.data[~model.repeatable[repeat.indices]] = 0
    repeat.eliminate_zeros()
    return repeat


def _reason_codes(
    model: RecommenderModel,
    weights: sp.csr_array,
    bought: sp.csr_array,
    repeat: sp.csr_array,
    owner: np.ndarray,
    item: np.ndarray,
) -> np.ndarray:
    """Per recommended (owner, item): the code of its reason in `_reason_vocabulary`.

    The anchor is the owner's history item with the largest weight x similarity to the
    item; a consumable's own purchases win when they contribute at least as much.
    """
    n_items = len(model.products)
    pair, position = _ragged(weights.indptr[owner], np.diff(weights.indptr)[owner])
    anchor = weights.indices[position].astype(np.int64)
    contribution = weights.data[position] * _lookup(model.similarity, anchor, item[pair])
    best, _ = top_per_row(pair, contribution, 1)
    anchor, strongest = anchor[best], contribution[best]
    was_bought = _lookup(bought, owner, anchor) > 0
    code = np.where(was_bought, anchor, n_items + anchor)
    again = _lookup(repeat, owner, item) >= strongest
    return np.where(again, 2 * n_items, code)


def _popular_fill(
    model: RecommenderModel,
    cf_count: np.ndarray,
    excluded_count: np.ndarray,
    taken_keys: np.ndarray,
    top_n: int,
) -> _Chunk:
    """Popular products for the slots collaborative filtering left empty, skipping products
    already recommended or excluded."""
    need = np.maximum(top_n - cf_count, 0)
    if len(model.popular) == 0 or not need.any():
        return _empty_chunk()
    n_items = len(model.products)
    # A customer loses at most (recommended + excluded) products of the list: scanning that
    # many more than top_n always finds enough.
    scan = np.where(need > 0, np.minimum(len(model.popular), top_n + excluded_count), 0)
    owner, position = _ragged(np.zeros(len(scan), dtype=np.int64), scan)
    item = model.popular[position]
    free = ~_contains(taken_keys, _keys(owner, item, n_items))
    owner, position, item = owner[free], position[free], item[free]
    order = np.arange(len(owner))
    first = np.ones(len(owner), dtype=bool)
    first[1:] = owner[1:] != owner[:-1]
    slot = order - np.maximum.accumulate(np.where(first, order, 0))
    keep = slot < need[owner]
    owner, position, item, slot = owner[keep], position[keep], item[keep], slot[keep]
    reason = np.full(len(owner), 2 * n_items + 1, dtype=np.int64)
    score = model.popular_score[position]
    return _Chunk(owner, cf_count[owner] + slot + 1, item, score, reason)


def _reason_vocabulary(model: RecommenderModel) -> pa.Array:
    """Reason texts by code: bought with p, viewed with p (per product), bought before,
    popular."""
    products = model.products.to_numpy(dtype=object)
    return arrow_strings(
        np.concatenate(
            [
                "bought with " + products,
                "viewed with " + products,
                np.array(["bought before", model.popular_reason], dtype=object),
            ]
        )
    )


def _taken(texts: pa.Array, codes: np.ndarray) -> pd.arrays.ArrowStringArray:
    """`texts[codes]` as a `string` column, built in Arrow: ten rows per customer would be
    tens of millions of Python strings to convert one by one."""
    return pd.arrays.ArrowStringArray(texts.take(pa.array(codes, type=pa.int64())))


def _recommendation_frame(
    model: RecommenderModel, wanted: pd.Index, parts: list[_Chunk], offsets: Iterable[int]
) -> pd.DataFrame:
    """The chunks' arrays as one typed frame (RECOMMENDATION_DTYPES)."""
    shifted = [
        _Chunk(p.owner + offset, p.rank, p.item, p.score, p.reason)
        for p, offset in zip(parts, offsets, strict=True)
    ]
    rows = _concat(shifted)
    frame = pd.DataFrame(
        {
            "customer_id": _taken(arrow_strings(wanted), rows.owner),
            "rank": rows.rank,
            "product_id": _taken(arrow_strings(model.products), rows.item),
            "score": np.round(rows.score, 6),
            "reason": _taken(_reason_vocabulary(model), rows.reason),
        }
    )
    return frame.astype(RECOMMENDATION_DTYPES)
