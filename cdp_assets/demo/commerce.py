"""Purchases: when people buy, where, what, and for how much.

Order counts are Poisson given each person's purchase rate (a gamma draw), over the days they
are active (from becoming a customer to their churn day, within the history), with days drawn
in proportion to the country's seasonal demand. Many online customers buy on the day they sign
up. Baskets follow the person's category affinities and product popularity, and often add the
first product's companion (coffee grinder → coffee beans). Online orders are priced in the
customer's currency; store sales in USD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cdp_assets.demo.catalogue import Catalogue, draw_categories, draw_products
from cdp_assets.demo.people import Population
from cdp_assets.demo.places import COUNTRIES, CURRENCIES, STORES, UTC_OFFSET_HOURS
from cdp_assets.demo.seasonality import DemandCalendar, black_friday, day_number
from cdp_assets.demo.settings import DemoSettings

WEB, APP, STORE = 0, 1, 2
CHANNELS = ("web", "app", "store")
ONLINE_STATUSES = ("completed", "cancelled", "refunded", "partially_refunded", "pending")
POS_STATUSES = ("completed", "returned", "voided")  # the POS system's words
_ONLINE_STATUS_P = np.array([0.875, 0.04, 0.055, 0.02, 0.01])
_POS_STATUS_P = np.array([0.95, 0.04, 0.01])
# Free shipping above a threshold, else a fee (hundredths of the currency).
_SHIPPING = {"USD": (5_000, 595), "GBP": (4_000, 395), "EUR": (5_000, 495), "CNY": (30_000, 1_500)}
COUPONS = ("WELCOME10", "SPRING15", "VIP20", "BFCM25")
_COUPON_OFF = np.array([0.10, 0.15, 0.20, 0.25])

# How people are known at the till.
POS_ANONYMOUS, POS_LOYALTY, POS_PHONE, POS_STORE_PHONE = range(4)


@dataclass
class Orders:
    """Orders of every channel, sorted by time; items reference orders by position."""

    person: np.ndarray
    second: np.ndarray  # UTC instant (online) / the UTC-ish instant of the store sale
    local_second: np.ndarray  # store sales: local wall-clock time as epoch seconds
    channel: np.ndarray
    store: np.ndarray  # index into STORES, -1 online
    currency: np.ndarray  # index into CURRENCIES-like list below
    status: np.ndarray  # index into ONLINE_STATUSES or POS_STATUSES (by channel)
    coupon: np.ndarray  # index into COUPONS, -1 none
    amount_cents: np.ndarray
    guest: np.ndarray  # online order without an account
    pos_id: np.ndarray  # how a store sale is identified (POS_* codes), -1 online
    number: np.ndarray  # sequence within shop (online) or within store
    item_order: np.ndarray  # per item: order position
    item_product: np.ndarray
    item_quantity: np.ndarray
    item_price_cents: np.ndarray

    def __len__(self) -> int:
        return len(self.person)


ORDER_CURRENCIES = ("USD", "GBP", "EUR", "CNY")


def _currency_index(country: np.ndarray) -> np.ndarray:
    codes = np.array([ORDER_CURRENCIES.index(CURRENCIES[c]) for c in range(len(COUNTRIES))])
    return codes[country]


def _hours(rng: np.random.Generator, n: int, store: np.ndarray) -> np.ndarray:
    """Local time of day in seconds: online evenings, stores during opening hours."""
    online = np.clip(rng.normal(20.0, 3.5, n), 6.0, 23.95)
    morning = rng.random(n) < 0.25
    online = np.where(morning, np.clip(rng.normal(12.0, 2.5, n), 6.0, 23.95), online)
    shop = np.clip(rng.normal(15.0, 2.8, n), 9.0, 20.95)
    hours = np.where(store, shop, online)
    return (hours * 3600).astype(np.int64) + rng.integers(0, 60, n)


def make_orders(
    rng: np.random.Generator,
    pop: Population,
    settings: DemoSettings,
    calendar: DemandCalendar,
    catalogue: Catalogue,
) -> Orders:
    start_day, end_day = settings.start_day, settings.end_day
    shopper = pop.online_shopper | pop.store_shopper
    active_from = np.maximum(pop.acquired_day, start_day)
    active_to = np.minimum(pop.churn_day, end_day) + 1
    mass = np.where(
        shopper & (active_to > active_from), calendar.mass(pop.country, active_from, active_to), 0.0
    )
    count = rng.poisson(pop.rate / 365.25 * mass)
    # Many sign-ups come with a first purchase the same day.
    signup = pop.online_shopper & (pop.acquired_day >= start_day) & (rng.random(pop.n) < 0.55)
    total = count + signup
    person = np.repeat(np.arange(pop.n), total)
    first = np.zeros(len(person), dtype=bool)
    starts = np.concatenate([[0], np.cumsum(total)[:-1]])
    first[starts[signup]] = True
    day = calendar.draw_days(rng, pop.country[person], active_from[person], active_to[person])
    day = np.where(first, pop.acquired_day[person], day)
    n = len(person)

    # Channel: store shoppers buy in store (omnichannel people half the time).
    both = pop.online_shopper[person] & pop.store_shopper[person]
    in_store = (pop.store_shopper[person] & ~pop.online_shopper[person]) | (
        both & (rng.random(n) < 0.5) & ~first
    )
    app = ~in_store & pop.app_user[person] & (rng.random(n) < 0.7)
    channel = np.where(in_store, STORE, np.where(app, APP, WEB))
    store = np.where(in_store, pop.home_store[person], -1)
    wander = in_store & (rng.random(n) < 0.08)
    store = np.where(wander, rng.integers(0, len(STORES), n), store)

    local = _hours(rng, n, in_store)
    offset = UTC_OFFSET_HOURS[pop.country[person]] * 3600
    second = day * 86_400 + local - offset
    local_second = day * 86_400 + local
    # Keep every instant within the history (local evening on the last day may be UTC tomorrow).
    late = second > settings.end_second
    second = np.where(late, second - 86_400, second)
    local_second = np.where(late, local_second - 86_400, local_second)
    if first.any():
        signup_at = pop.acquired_day[person] * 86_400 + local - offset
        second = np.where(first & ~late, np.maximum(second, signup_at), second)

    order = np.lexsort((person, second))
    person, second, local_second = person[order], second[order], local_second[order]
    channel, store, first = channel[order], store[order], first[order]
    day = day[order]

    currency = np.where(
        channel == STORE, ORDER_CURRENCIES.index("USD"), _currency_index(pop.country[person])
    )
    pending_window = second >= (end_day - 2) * 86_400
    online_status = rng.choice(len(ONLINE_STATUSES), n, p=_ONLINE_STATUS_P)
    online_status = np.where(
        (online_status == ONLINE_STATUSES.index("pending")) & ~pending_window,
        ONLINE_STATUSES.index("completed"),
        online_status,
    )
    online_status = np.where(
        pending_window & (rng.random(n) < 0.5), ONLINE_STATUSES.index("pending"), online_status
    )
    pos_status = rng.choice(len(POS_STATUSES), n, p=_POS_STATUS_P)
    status = np.where(channel == STORE, pos_status, online_status)

    bf_days = np.array([day_number(black_friday(y)) for y in range(1990, 2100)])
    near_bf = np.isin(day, np.concatenate([bf_days + k for k in range(4)]))
    coupon = np.where(rng.random(n) < 0.08, rng.integers(0, 3, n), -1)
    coupon = np.where(first & (rng.random(n) < 0.5), 0, coupon)
    coupon = np.where(near_bf & (rng.random(n) < 0.35), 3, coupon)
    coupon = np.where(channel == STORE, -1, coupon)

    item_order, item_product, item_quantity = _baskets(rng, pop, catalogue, person)
    price_table = np.stack([catalogue.price_cents[c] for c in ORDER_CURRENCIES])
    item_price = price_table[currency[item_order], item_product]
    subtotal = np.bincount(item_order, weights=item_price * item_quantity, minlength=n)
    discount = np.where(coupon >= 0, _COUPON_OFF[np.maximum(coupon, 0)], 0.0)
    threshold = np.array([_SHIPPING[c][0] for c in ORDER_CURRENCIES])[currency]
    fee = np.array([_SHIPPING[c][1] for c in ORDER_CURRENCIES])[currency]
    shipping = np.where((channel != STORE) & (subtotal < threshold), fee, 0)
    amount = np.round(subtotal * (1 - discount)).astype(np.int64) + shipping

    guest = pop.guest[person] & (channel != STORE)
    pos_id = _pos_identification(rng, pop, person, channel)
    number = np.zeros(n, dtype=np.int64)
    online = np.flatnonzero(channel != STORE)
    number[online] = np.arange(1, len(online) + 1)
    for s in range(len(STORES)):
        rows = np.flatnonzero((channel == STORE) & (store == s))
        number[rows] = np.arange(1, len(rows) + 1)
    return Orders(
        person=person,
        second=second,
        local_second=local_second,
        channel=channel,
        store=store,
        currency=currency,
        status=status,
        coupon=coupon,
        amount_cents=amount,
        guest=guest,
        pos_id=pos_id,
        number=number,
        item_order=item_order,
        item_product=item_product,
        item_quantity=item_quantity,
        item_price_cents=item_price,
    )


def _baskets(
    rng: np.random.Generator, pop: Population, catalogue: Catalogue, person: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items per order: products by the owner's affinities, companions, no repeats."""
    n = len(person)
    size = np.minimum(1 + rng.poisson(0.75, n), 7)
    item_order = np.repeat(np.arange(n), size)
    cumulative = pop.affinity_cumulative
    categories = np.empty(len(item_order), dtype=np.int64)
    step = 1_000_000
    for lo in range(0, len(item_order), step):
        owners = person[item_order[lo : lo + step]]
        categories[lo : lo + step] = draw_categories(rng, cumulative, owners)
    product = draw_products(rng, catalogue, categories)
    # The second item is often the first one's companion.
    firsts = np.concatenate([[0], np.cumsum(size)[:-1]])
    second = firsts[size >= 2] + 1
    companion = catalogue.companion[product[second - 1]]
    swap = (companion >= 0) & (rng.random(len(second)) < 0.45)
    product[second[swap]] = companion[swap]
    # One line per product and order.
    key = item_order * len(catalogue) + product
    _, keep = np.unique(key, return_index=True)
    keep = np.sort(keep)
    item_order, product = item_order[keep], product[keep]
    quantity = np.where(
        rng.random(len(keep)) < 0.82,
        1,
        np.where(rng.random(len(keep)) < 0.8, 2, rng.integers(3, 6, len(keep))),
    )
    return item_order, product, quantity


def _pos_identification(
    rng: np.random.Generator, pop: Population, person: np.ndarray, channel: np.ndarray
) -> np.ndarray:
    """Loyalty card, phone, the store's own phone typed in, or nothing."""
    n = len(person)
    u = rng.random(n)
    member = pop.loyalty[person]
    member_way = np.where(
        u < 0.74,
        POS_LOYALTY,
        np.where(u < 0.84, POS_PHONE, np.where(u < 0.87, POS_STORE_PHONE, POS_ANONYMOUS)),
    )
    other_way = np.where(u < 0.20, POS_PHONE, np.where(u < 0.28, POS_STORE_PHONE, POS_ANONYMOUS))
    way = np.where(member, member_way, other_way)
    return np.where(channel == STORE, way, -1)
