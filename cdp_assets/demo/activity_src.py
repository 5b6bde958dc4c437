"""The activity sources: shop orders and their items, store (POS) sales and their items, web
events, surveys, support tickets and erasure requests.

shop_orders / shop_order_items
    Online orders (web and app) in the file of their month, in the customer's currency;
    `account_id` points at shop_accounts, guest checkouts carry only an email.
pos_sales / pos_sale_items
    Store sales in USD, local New York time without offset. A sale is known by a loyalty card,
    a phone typed at the till, the store's own phone typed as a placeholder (many people share
    it: an over-merge trap, not a defect) or nothing at all.
web_events
    One JSON Lines file per month: browsing sessions of customers and of anonymous visitors,
    and the sessions that end in an online purchase; `user_id` is the shop account id when
    logged in, `email` comes with sign-ups and guest purchases.
surveys, support_tickets, erasure_requests
    Post-purchase NPS/CSAT answers, tickets about orders (resolved or not), and a handful of
    requests to erase real demo people, by email, phone or source record id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from cdp_assets.demo import badvalues as bad
from cdp_assets.demo import identities as ids
from cdp_assets.demo import text
from cdp_assets.demo.catalogue import CATEGORIES, Catalogue
from cdp_assets.demo.commerce import (
    APP,
    ONLINE_STATUSES,
    ORDER_CURRENCIES,
    POS_LOYALTY,
    POS_PHONE,
    POS_STATUSES,
    POS_STORE_PHONE,
    STORE,
    Orders,
)
from cdp_assets.demo.customers_src import DAY, ISO_Z, month_files
from cdp_assets.demo.delivery import NULLED, QUARANTINE, CellDefect, SourceTable
from cdp_assets.demo.people import Population
from cdp_assets.demo.places import STORE_TIME_ZONE, STORES
from cdp_assets.demo.settings import DemoSettings

ORDER_DEFECTS = [
    CellDefect("total", "amount", "negative_amount", QUARANTINE, bad.NEGATIVE_AMOUNTS),
    CellDefect("total", "amount", "amount_out_of_range", QUARANTINE, bad.ABSURD_AMOUNTS),
    CellDefect("total", "amount", "invalid_number", QUARANTINE, bad.NOT_NUMBERS),
]
ITEM_DEFECTS = [
    CellDefect("qty", "quantity", "invalid_quantity", NULLED, bad.one_of("0", "5000")),
    CellDefect("unit_price", "unit_price", "negative_amount", NULLED, bad.NEGATIVE_AMOUNTS),
    CellDefect("unit_price", "unit_price", "amount_out_of_range", NULLED, bad.one_of("25000.00")),
    CellDefect("sku", "product_id", "missing_required", QUARANTINE, bad.empty()),
]
EVENT_TYPES = ("page_view", "product_view", "add_to_cart", "checkout_started", "purchase")
UTM = (
    ("google", "cpc", "brand"),
    ("newsletter", "email", "weekly"),
    ("instagram", "social", "spring"),
)


def _items(
    orders: Orders,
    catalogue: Catalogue,
    keep: np.ndarray,
    order_ids: pa.Array,
    files: list[str],
    file_code: np.ndarray,
    name: str,
    price_column: str,
) -> SourceTable:
    """The item lines of the orders `keep` (positions into `orders`), in their order's file."""
    position = np.full(len(orders), -1, dtype=np.int64)
    position[keep] = np.arange(len(keep))
    rows = np.flatnonzero(position[orders.item_order] >= 0)
    owner = position[orders.item_order[rows]]
    order = np.argsort(owner, kind="stable")
    rows, owner = rows[order], owner[order]
    product = orders.item_product[rows]
    sku = text.pick(catalogue.product_id, product)
    oid = text.take(order_ids, owner)
    columns = {
        "order_id": oid,
        "sku": sku,
        "description": text.pick(catalogue.name, product),
        "category": text.pick(CATEGORIES, catalogue.category[product]),
        "qty": text.integers(orders.item_quantity[rows]),
        price_column: text.money(orders.item_price_cents[rows]),
    }
    defects = [
        CellDefect(
            d.column if d.column != "unit_price" else price_column,
            d.field,
            d.rule,
            d.action,
            d.values,
        )
        for d in ITEM_DEFECTS
    ]
    return SourceTable(
        name=name,
        format="csv",
        columns=columns,
        record_id=text.cat(oid, "|", sku),
        person=orders.person[keep][owner],
        files=[
            f.replace("orders_", "items_")
            .replace("sales_", "sale_items_")
            .replace("/orders/", "/order_items/")
            .replace("/sales/", "/sale_items/")
            for f in files
        ],
        file_code=file_code[owner],
        defects=defects,
        identity=False,
    )


def shop_orders(
    rng: np.random.Generator, pop: Population, orders: Orders, catalogue: Catalogue
) -> tuple[SourceTable, SourceTable]:
    keep = np.flatnonzero(orders.channel != STORE)
    person = orders.person[keep]
    n = len(keep)
    files, code = month_files("shop/orders/orders_", orders.second[keep], ".csv")
    account = ~orders.guest[keep] & pop.has_account[person]
    email_style = ids.styles(
        rng,
        n,
        {
            ids.EMAIL_AS_IS: 0.9,
            ids.EMAIL_GMAIL_DOTS: 0.04,
            ids.EMAIL_TAG: 0.03,
            ids.EMAIL_UPPER: 0.03,
        },
    )
    status = orders.status[keep]
    order_ids = text.ids("SO-", orders.number[keep], 8)
    columns = {
        "order_number": order_ids,
        "account_id": text.null_where(~account, pop.account_ids(person)),
        "email": ids.emails(pop, person, email_style),
        "ordered_at": text.instants(orders.second[keep], ISO_Z),
        "total": text.money(orders.amount_cents[keep]),
        "currency": text.pick(ORDER_CURRENCIES, orders.currency[keep]),
        "status": text.pick(ONLINE_STATUSES, status),
        "channel": text.where(orders.channel[keep] == APP, "app", "web"),
        "coupon_code": text.pick(
            ("WELCOME10", "SPRING15", "VIP20", "BFCM25", None),
            np.where(orders.coupon[keep] < 0, 4, orders.coupon[keep]),
        ),
    }
    defects = ORDER_DEFECTS + [
        CellDefect(
            "ordered_at", "ordered_at", "invalid_date", QUARANTINE, bad.IMPOSSIBLE_TIMESTAMPS
        ),
        CellDefect("ordered_at", "ordered_at", "future_date", QUARANTINE, bad.FUTURE_TIMESTAMPS),
        CellDefect("email", "email", "test_email", NULLED, bad.TEST_EMAILS),
        CellDefect("status", "status", "invalid_enum", NULLED, bad.one_of("lost", "???")),
    ]
    table = SourceTable(
        name="shop_orders",
        format="csv",
        columns=columns,
        record_id=order_ids,
        person=person,
        files=files,
        file_code=code,
        defects=defects,
    )
    items = _items(
        orders, catalogue, keep, order_ids, files, code, "shop_order_items", "unit_price"
    )
    return table, items


def pos_sales(
    rng: np.random.Generator, pop: Population, orders: Orders, catalogue: Catalogue, cards: pa.Array
) -> tuple[SourceTable, SourceTable]:
    keep = np.flatnonzero(orders.channel == STORE)
    person = orders.person[keep]
    n = len(keep)
    store = orders.store[keep]
    local = text.instants(orders.second[keep], "%Y-%m-%d %H:%M:%S", STORE_TIME_ZONE)
    months = (
        np.array([s[:7] for s in text.to_numpy(local)], dtype=object)
        if n
        else np.zeros(0, dtype=object)
    )
    unique, code = np.unique(months.astype(str), return_inverse=True)
    files = [f"pos/sales/sales_{m}.csv" for m in unique]
    way = orders.pos_id[keep]
    has_card = (way == POS_LOYALTY) & pop.loyalty[person]
    store_phone = text.pick(
        [f"({s.phone_area}) {s.phone_sub[:3]}-{s.phone_sub[3:]}" for s in STORES], store
    )
    own_phone = ids.phones(pop, person, rng.integers(0, 7, n), rng.random(n) < 0.3)
    phone = text.where(
        way == POS_PHONE, own_phone, text.where(way == POS_STORE_PHONE, store_phone, None)
    )
    sale_ids = text.cat(
        text.pick([s.store_id for s in STORES], store),
        "-",
        text.zero_padded(orders.number[keep], 7),
    )
    status = np.minimum(orders.status[keep], len(POS_STATUSES) - 1)
    columns = {
        "sale_id": sale_ids,
        "store_id": text.pick([s.store_id for s in STORES], store),
        "sold_at": local,
        "loyalty_card": text.null_where(~has_card, text.take(cards, person)),
        "phone": phone,
        "total": text.money(orders.amount_cents[keep]),
        "status": text.pick(POS_STATUSES, status),
    }
    defects = ORDER_DEFECTS + [
        CellDefect(
            "sold_at",
            "ordered_at",
            "invalid_date",
            QUARANTINE,
            bad.one_of("2026-02-30 10:00:00", "31/12/2025 18:00"),
        ),
        CellDefect("phone", "phone", "fake_phone", NULLED, bad.FAKE_PHONES),
    ]
    known = has_card | (way == POS_PHONE) | (way == POS_STORE_PHONE)
    table = SourceTable(
        name="pos_sales",
        format="csv",
        columns=columns,
        record_id=sale_ids,
        person=np.where(known, person, -1),
        files=files,
        file_code=code,
        defects=defects,
    )
    items = _items(orders, catalogue, keep, sale_ids, files, code, "pos_sale_items", "price")
    return table, items


# -- web -----------------------------------------------------------------------------------------


def _sessions(
    rng: np.random.Generator, pop: Population, settings: DemoSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Browsing sessions: (person or -1, start second)."""
    active = np.flatnonzero(pop.web_active)
    lo = np.maximum(pop.acquired_day[active] - 30, settings.start_day)
    hi = np.minimum(pop.churn_day[active], settings.end_day)
    span = np.maximum(hi - lo, 0)
    count = rng.poisson(0.5 + 0.6 * pop.rate[active] * span / 365.25)
    person = np.repeat(active, count)
    day = np.repeat(lo, count) + (rng.random(len(person)) * np.repeat(span, count)).astype(np.int64)
    anonymous = int(pop.n * 0.3)
    a_day = settings.start_day + (
        rng.random(anonymous) * (settings.end_day - settings.start_day)
    ).astype(np.int64)
    person = np.concatenate([person, np.full(anonymous, -1)])
    day = np.concatenate([day, a_day])
    return person, day * DAY + rng.integers(6 * 3600, 23 * 3600, len(person))


@dataclass
class Sessions:
    """Web sessions sorted by start: who (-1 anonymous), when, and the order they end in."""

    person: np.ndarray
    start: np.ndarray
    purchase: np.ndarray  # order position, -1 for browsing only


def web_sessions(
    rng: np.random.Generator, pop: Population, orders: Orders, settings: DemoSettings
) -> Sessions:
    s_person, s_start = _sessions(rng, pop, settings)
    online = np.flatnonzero(orders.channel != STORE)
    buy = online[rng.random(len(online)) < 0.8]
    person = np.concatenate([s_person, orders.person[buy]])
    start = np.concatenate([s_start, orders.second[buy] - rng.integers(300, 1800, len(buy))])
    purchase = np.concatenate([np.full(len(s_person), -1), buy])
    order = np.argsort(start, kind="stable")
    return Sessions(person[order], start[order], purchase[order])


def web_events(
    rng: np.random.Generator,
    pop: Population,
    orders: Orders,
    settings: DemoSettings,
    catalogue: Catalogue,
) -> Iterator[SourceTable]:
    """The web events, one month (one file) at a time, so memory stays bounded."""
    sessions = web_sessions(rng, pop, orders, settings)
    files, code = month_files("web/events/events_", sessions.start, ".jsonl")
    bounds = np.searchsorted(code, np.arange(len(files) + 1))
    first_id = 1
    for k, name in enumerate(files):
        rows = np.arange(bounds[k], bounds[k + 1])
        table = _month_events(rng, pop, sessions, rows, settings, catalogue, first_id, name)
        first_id += table.n
        yield table


def _month_events(
    rng: np.random.Generator,
    pop: Population,
    sessions: Sessions,
    rows: np.ndarray,
    settings: DemoSettings,
    catalogue: Catalogue,
    first_id: int,
    file: str,
) -> SourceTable:
    views = 1 + rng.poisson(1.5, len(rows))
    lengths = views + np.where(sessions.purchase[rows] >= 0, 3, 0)
    session = np.repeat(rows, lengths)
    step = np.arange(len(session)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    tail = step - np.repeat(views, lengths)  # 0, 1, 2: add_to_cart, checkout, purchase
    etype = np.where(tail < 0, np.where(rng.random(len(session)) < 0.5, 1, 0), 2 + tail)
    gap = np.repeat(rng.integers(20, 90, len(rows)), lengths)  # seconds between clicks
    when = np.minimum(sessions.start[session] + step * gap, settings.end_second)
    p = sessions.person[session]
    anyone = np.maximum(p, 0)
    signed_in = (p >= 0) & pop.has_account[anyone] & ~pop.guest[anyone]
    logged = np.repeat(rng.random(len(rows)) < 0.6, lengths) & signed_in
    product = rng.integers(0, len(catalogue.product_id), len(session))
    order = np.lexsort((step, session, when))
    session, etype, when, p, logged, product = (
        a[order] for a in (session, etype, when, p, logged, product)
    )
    anyone = np.maximum(p, 0)
    n = len(session)
    guest_purchase = (etype == 4) & ~logged & (p >= 0)
    # Known people's cookies are 3 mod 14, anonymous visitors' 10 mod 14: they never collide.
    cookie = text.cat(
        "anon-", text.zero_padded(np.where(p >= 0, p * 14 + 3, session * 14 + 10) % 10**9, 9)
    )
    utm = rng.integers(0, len(UTM) + 4, n)
    tagged = utm < len(UTM)
    utm_index = np.minimum(utm, len(UTM) - 1)
    product_ids = text.pick(catalogue.product_id, product)
    columns = {
        "event_id": text.ids("EV", first_id + np.arange(n), 10),
        "anonymous_id": cookie,
        "user_id": text.null_where(~logged, pop.account_ids(anyone)),
        "email": text.null_where(
            ~guest_purchase, ids.emails(pop, anyone, np.zeros(n, dtype=np.int64))
        ),
        "type": text.pick(EVENT_TYPES, etype),
        "timestamp": text.instants(when, ISO_Z),
        "product_id": text.null_where(etype == 0, product_ids),
        "session_id": text.ids("s", session, 9),
        "page_url": text.where(
            etype == 0,
            "https://shop.example.com/",
            text.cat("https://shop.example.com/p/", product_ids),
        ),
        "utm_source": text.null_where(~tagged, text.pick([u[0] for u in UTM], utm_index)),
        "utm_medium": text.null_where(~tagged, text.pick([u[1] for u in UTM], utm_index)),
        "utm_campaign": text.null_where(~tagged, text.pick([u[2] for u in UTM], utm_index)),
    }
    defects = [
        CellDefect(
            "timestamp", "occurred_at", "invalid_date", QUARANTINE, bad.IMPOSSIBLE_TIMESTAMPS
        ),
        CellDefect(
            "type", "event_type", "invalid_enum", QUARANTINE, bad.one_of("hover", "scroll_deep")
        ),
        CellDefect("email", "email", "invalid_email", NULLED, bad.INVALID_EMAILS, "has_email"),
    ]
    return SourceTable(
        name="web_events",
        format="jsonl",
        columns=columns,
        record_id=columns["event_id"],
        person=p,
        files=[file],
        file_code=np.zeros(n, dtype=np.int64),
        defects=defects,
        masks={"has_email": guest_purchase},
        min_each=False,
    )


# -- service -------------------------------------------------------------------------------------


def surveys(
    rng: np.random.Generator, pop: Population, orders: Orders, settings: DemoSettings
) -> SourceTable:
    online = np.flatnonzero(orders.channel != STORE)
    pick = online[rng.random(len(online)) < 0.12]
    submitted = orders.second[pick] + rng.integers(2 * DAY, 10 * DAY, len(pick))
    pick, submitted = (
        pick[submitted <= settings.end_second],
        submitted[submitted <= settings.end_second],
    )
    order = np.argsort(submitted, kind="stable")
    pick, submitted = pick[order], submitted[order]
    person = orders.person[pick]
    n = len(pick)
    sat = pop.satisfaction[person]
    nps = np.clip(np.round(sat * 10 + rng.normal(0, 1.5, n)), 0, 10).astype(np.int64)
    csat = np.clip(np.round(1 + sat * 4 + rng.normal(0, 0.7, n)), 1, 5).astype(np.int64)
    account = pop.has_account[person] & ~orders.guest[pick]
    files, code = month_files("surveys/responses_", submitted, ".csv")
    comments = (
        "Great quality, fast delivery",
        "Took too long to arrive",
        "Love it",
        "Sizing runs small",
        None,
        None,
        None,
    )
    columns = {
        "response_id": text.ids("R", np.arange(1, n + 1), 8),
        "account_id": text.null_where(~account, pop.account_ids(person)),
        "email": ids.emails(pop, person, np.zeros(n, dtype=np.int64)),
        "submitted_at": text.instants(submitted, ISO_Z),
        "nps": text.integers(nps),
        "csat": text.integers(csat),
        "purchase_for": text.pick(("myself", "a gift", "my family"), rng.integers(0, 3, n)),
        "comment": text.pick(comments, rng.integers(0, len(comments), n)),
    }
    defects = [
        CellDefect("nps", "nps", "nps_out_of_range", NULLED, bad.one_of("11", "15", "-1")),
        CellDefect("csat", "csat", "csat_out_of_range", NULLED, bad.one_of("0", "7")),
        CellDefect("nps", "nps", "invalid_integer", NULLED, bad.one_of("ten", "8.5")),
        CellDefect(
            "submitted_at", "submitted_at", "future_date", QUARANTINE, bad.FUTURE_TIMESTAMPS
        ),
    ]
    return SourceTable(
        name="surveys",
        format="csv",
        columns=columns,
        record_id=columns["response_id"],
        person=person,
        files=files,
        file_code=code,
        defects=defects,
    )


def support_tickets(
    rng: np.random.Generator, pop: Population, orders: Orders, settings: DemoSettings
) -> tuple[SourceTable, np.ndarray]:
    """Tickets about orders; also returns who contacted support (they end up in the CRM)."""
    pick = np.flatnonzero(rng.random(len(orders)) < 0.04)
    opened = orders.second[pick] + rng.integers(DAY, 20 * DAY, len(pick))
    pick, opened = pick[opened <= settings.end_second], opened[opened <= settings.end_second]
    order = np.argsort(opened, kind="stable")
    pick, opened = pick[order], opened[order]
    person = orders.person[pick]
    n = len(pick)
    resolved = opened + rng.integers(1800, 6 * DAY, n)
    done = resolved <= settings.end_second
    status = np.where(
        done, np.where(rng.random(n) < 0.6, 3, 2), np.where(rng.random(n) < 0.5, 0, 1)
    )
    channels = ("email", "phone", "chat", "web", "store", "social")
    email_style = ids.styles(rng, n, {ids.EMAIL_AS_IS: 0.9, ids.EMAIL_OTHER: 0.1})
    years = (opened // DAY).astype("datetime64[D]").astype("datetime64[Y]").astype(str)
    unique, code = np.unique(years, return_inverse=True)
    columns = {
        "ticket_id": text.ids("T", np.arange(1, n + 1), 7),
        "customer_email": ids.emails(pop, person, email_style),
        "opened_at": text.instants(opened, ISO_Z),
        "resolved_at": text.null_where(~done, text.instants(resolved, ISO_Z)),
        "category": text.pick(
            ("delivery", "returns", "product", "payment", "account", "other"), rng.integers(0, 6, n)
        ),
        "channel": text.pick(channels, rng.integers(0, len(channels), n)),
        "status": text.pick(("open", "pending", "resolved", "closed"), status),
    }
    defects = [
        CellDefect("opened_at", "opened_at", "invalid_date", QUARANTINE, bad.IMPOSSIBLE_TIMESTAMPS),
        CellDefect(
            "resolved_at",
            "resolved_at",
            "invalid_date",
            NULLED,
            bad.one_of("2000-01-01T00:00:00Z"),
            "resolved",
        ),
        CellDefect("customer_email", "email", "test_email", NULLED, bad.TEST_EMAILS),
        CellDefect("opened_at", "opened_at", "date_too_early", QUARANTINE, bad.EARLY_TIMESTAMPS),
    ]
    table = SourceTable(
        name="support_tickets",
        format="csv",
        columns=columns,
        record_id=columns["ticket_id"],
        person=person,
        files=[f"support/tickets_{y}.csv" for y in unique],
        file_code=code,
        defects=defects,
        masks={"resolved": done},
    )
    return table, person


def erasure_requests(
    rng: np.random.Generator, pop: Population, settings: DemoSettings
) -> SourceTable:
    """A handful of requests by real account holders: by email, by phone, by record id."""
    holders = np.flatnonzero(pop.has_account)
    n = min(len(holders), max(3, min(30, pop.n // 1000)))
    person = np.sort(rng.choice(holders, n, replace=False))
    how = np.arange(n) % 3
    requested = (settings.end_day - rng.integers(1, 20, n)) * DAY + rng.integers(
        9 * 3600, 17 * 3600, n
    )
    columns = {
        "request_id": text.ids("ER-", np.arange(1, n + 1), 5),
        "email": text.null_where(how != 0, pop.email().take(pa.array(person))),
        "phone": text.null_where(how != 1, pop.e164().take(pa.array(person))),
        "customer_id": text.const(None, n),  # requests by customer id come from the platform
        "source": text.null_where(how != 2, text.const("shop_accounts", n)),
        "source_record_id": text.null_where(how != 2, pop.account_ids(person)),
        "requested_at": text.instants(requested, ISO_Z),
    }
    return SourceTable(
        name="erasure_requests",
        format="csv",
        columns=columns,
        record_id=columns["request_id"],
        person=person,
        files=["privacy/erasure_requests.csv"],
        file_code=np.zeros(n, dtype=np.int64),
        line_defects=False,
    )
