"""Erasure on a tiny hand-built warehouse: resolution, deletion in every layer, the shared
identifier rule, suppression bookkeeping and the trace check — with exact known answers.

Two people live in every table. Jane (customer C-JANE) has two shop accounts: A1 (her own
mobile) and A2 (the household landline), a registered order O1 with two items, a guest order
O2, a login E2 that stitched her cookie anon-1 and an anonymous page view E1 of that cookie.
Bob (C-BOB) has account B1 (the same household landline, listed in core.shared_identifiers),
orders O3 (one item) and O4, and events E3/E4 on cookie anon-2.

Erasure costs about a second per pass whatever the size, so each module-scoped run below
builds its warehouse, erases and captures all that the tests check in one rolled-back
transaction (see `isolated`), once per engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from cdp_assets.activation.ad_hashing import hash_email, hash_phone
from cdp_assets.config import CDPConfig, parse_config
from cdp_assets.contracts.canonical import (
    ISSUE_DTYPES,
    QUARANTINE_DTYPES,
    RAW_LINEAGE_DTYPES,
    RECORD_ID_FIELD,
    staging_contract,
)
from cdp_assets.privacy.erasure import (
    KEYS,
    ErasureRequest,
    Subject,
    append_suppression,
    delete_rows,
    erase_subjects,
    log_rows,
    pending_requests,
    read_identity_tables,
    resolve,
    suppression_rows,
)
from cdp_assets.privacy.identifiers import KINDS, Identifiers, identifier_hash
from cdp_assets.privacy.suppression import SUPPRESSION, load_suppressed, salt_fingerprint
from cdp_assets.privacy.trace import warehouse_traces
from cdp_assets.warehouse import (
    TableRef,
    Warehouse,
    WarehouseSession,
    coerce_frame,
    dispose_engines,
)
from cdp_assets_tests.analytics.warehouse_fixtures import frame as core_frame
from cdp_assets_tests.conftest import POSTGRES_ENV, postgres_url_or_fail

SALT = b"erasure-test-salt"
AT = pd.Timestamp("2026-11-20 09:00", tz="UTC")
INGESTED = pd.Timestamp("2026-11-19 06:00", tz="UTC")

JANE_EMAIL, JANE_KEY = "jane.doe@gmail.com", "janedoe@gmail.com"
JANE_PHONE = "+16502530000"
HOUSE_PHONE = "+16502530099"  # Jane's account A2 and Bob's account B1: a household landline
BOB_EMAIL, BOB_PHONE = "bob@example.com", HOUSE_PHONE

SOURCES: list[dict[str, Any]] = [
    {
        "name": "shop_accounts",
        "kind": "customers",
        "format": "csv",
        "path": "shop_accounts/*.csv",
        "columns": {"source_record_id": "account_id", "email": "email", "phone": "phone"},
    },
    {
        "name": "shop_orders",
        "kind": "orders",
        "format": "csv",
        "path": "shop_orders/*.csv",
        "customer_ref_source": "shop_accounts",
        "columns": {
            "order_id": "order_id",
            "customer_ref": "account_id",
            "email": "email",
            "ordered_at": "ordered_at",
            "amount": "amount",
        },
    },
    {
        "name": "shop_order_items",
        "kind": "order_items",
        "format": "csv",
        "path": "shop_order_items/*.csv",
        "columns": {"order_id": "order_id", "product_id": "sku", "quantity": "qty"},
    },
    {
        "name": "web_events",
        "kind": "events",
        "format": "csv",
        "path": "web_events/*.csv",
        "customer_ref_source": "shop_accounts",
        "columns": {
            "event_id": "event_id",
            "anonymous_id": "anonymous_id",
            "customer_ref": "account_id",
            "event_type": "type",
            "occurred_at": "ts",
        },
    },
    {
        "name": "erasure_requests",
        "kind": "erasure_requests",
        "format": "csv",
        "path": "privacy/*.csv",
        "columns": {
            c: c
            for c in (
                "request_id",
                "email",
                "phone",
                "customer_id",
                "record_source",
                "source_record_id",
                "requested_at",
            )
        },
    },
]


def make_config(tmp_path: Path, sources: list[dict[str, Any]] = SOURCES) -> CDPConfig:
    return parse_config(
        {"landing_dir": "landing", "sources": sources},
        file=Path("cdp.yaml"),
        base_dir=tmp_path,
    )


# --------------------------------------------------------------------------- table builders


def raw(columns: list[str], file: str, rows: Iterable[tuple]) -> pd.DataFrame:
    """Rows of (source column values..., line[, batch]) as a raw table: text + lineage."""
    records = []
    for i, row in enumerate(rows):
        values, line = row[: len(columns)], row[len(columns)]
        batch = row[len(columns) + 1] if len(row) > len(columns) + 1 else "b1"
        records.append(
            {
                **dict(zip(columns, values, strict=True)),
                "_file": file,
                "_line": line,
                "_batch_id": batch,
                "_ingested_at": INGESTED,
                "_row_hash": 1000 + i,
            }
        )
    dtypes = {**dict.fromkeys(columns, "string"), **RAW_LINEAGE_DTYPES}
    return coerce_frame(pd.DataFrame(records, columns=list(dtypes)), dtypes)


def staged(kind: str, source: str, file: str, rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Staging rows (dicts of some contract columns, `record_id` and `_line` included) of one
    source; the record's id field holds its record id, as staging makes it."""
    contract = staging_contract(kind)
    numbers = {c: float("nan") for c, dtype in contract.items() if dtype == "float64"}
    id_field = RECORD_ID_FIELD[kind] if kind != "order_items" else None
    records = [
        {"source": source, "_file": file, "_batch_id": "b1", "_ingested_at": INGESTED}
        | numbers
        | ({id_field: row["record_id"]} if id_field else {})
        | row
        for row in rows
    ]
    return coerce_frame(pd.DataFrame(records), contract)


def typed(rows: list[dict[str, Any]], dtypes: dict[str, str]) -> pd.DataFrame:
    return coerce_frame(pd.DataFrame(rows, columns=list(dtypes)), dtypes)


def string_frame(columns: list[str], rows: Iterable[tuple]) -> pd.DataFrame:
    return typed(
        [dict(zip(columns, r, strict=True)) for r in rows], dict.fromkeys(columns, "string")
    )


REQUEST_COLUMNS = [
    "request_id",
    "email",
    "phone",
    "customer_id",
    "record_source",
    "source_record_id",
    "requested_at",
]


def request_tables(requests: list[dict[str, str]]) -> dict[TableRef, pd.DataFrame]:
    """Raw and staged erasure requests: dicts of request_id and the fields that name the
    person (`email` as written; staging holds it lower-cased with its key)."""
    raw_rows, staged_rows = [], []
    for line, request in enumerate(requests, start=2):
        row = {c: request.get(c) for c in REQUEST_COLUMNS}
        row["requested_at"] = "2026-11-19T08:00:00Z"
        raw_rows.append((*row.values(), line))
        email = row["email"].strip().lower() if row["email"] else None
        staged_rows.append(
            {
                **row,
                "record_id": row["request_id"],
                "email": email,
                "email_key": {JANE_EMAIL: JANE_KEY}.get(email or "", email),
                "requested_at": pd.Timestamp("2026-11-19 08:00", tz="UTC"),
                "_line": line,
            }
        )
    return {
        TableRef("raw", "erasure_requests"): raw(REQUEST_COLUMNS, "privacy/r.csv", raw_rows),
        TableRef("staging", "erasure_requests"): staged(
            "erasure_requests", "erasure_requests", "privacy/r.csv", staged_rows
        ),
    }


def warehouse_tables(requests: list[dict[str, str]]) -> dict[TableRef, pd.DataFrame]:
    accounts = ["account_id", "email", "phone"]
    tables: dict[TableRef, pd.DataFrame] = {
        TableRef("raw", "shop_accounts"): raw(
            accounts,
            "shop_accounts/1.csv",
            [
                ("A1", " Jane.Doe@GMail.com ", "(650) 253-0000", 2),
                ("A2", "JaneDoe@gmail.com", "650-253-0099", 3),
                ("B1", "Bob@Example.com", "650.253.0099", 4),
                ("A1", "jane.doe@gmail.com", None, 2, "b0"),  # an older version of A1
            ],
        ),
        TableRef("staging", "shop_accounts"): staged(
            "customers",
            "shop_accounts",
            "shop_accounts/1.csv",
            [
                {"record_id": r, "email": e, "email_key": k, "phone": p, "_line": n}
                for r, e, k, p, n in [
                    ("A1", JANE_EMAIL, JANE_KEY, JANE_PHONE, 2),
                    ("A2", JANE_KEY, JANE_KEY, HOUSE_PHONE, 3),
                    ("B1", BOB_EMAIL, BOB_EMAIL, BOB_PHONE, 4),
                ]
            ],
        ),
        TableRef("raw", "shop_orders"): raw(
            ["order_id", "account_id", "email", "ordered_at", "amount"],
            "shop_orders/1.csv",
            [
                ("O1", "A1", "Jane.Doe@gmail.com", "2026-01-05", "10", 2),
                ("O2", None, "JANE.DOE@GMAIL.COM", "2026-02-05", "20", 3),
                ("O3", "B1", "bob@example.com", "2026-01-06", "30", 4),
                ("O4", None, "bob@example.com", "2026-02-06", "40", 5),
            ],
        ),
        TableRef("staging", "shop_orders"): staged(
            "orders",
            "shop_orders",
            "shop_orders/1.csv",
            [
                {"record_id": "O1", "customer_ref": "A1", "email": JANE_EMAIL, "_line": 2},
                {"record_id": "O2", "customer_ref": None, "email": JANE_EMAIL, "_line": 3},
                {"record_id": "O3", "customer_ref": "B1", "email": BOB_EMAIL, "_line": 4},
                {"record_id": "O4", "customer_ref": None, "email": BOB_EMAIL, "_line": 5},
            ],
        ),
        TableRef("raw", "shop_order_items"): raw(
            ["order_id", "sku", "qty"],
            "shop_order_items/1.csv",
            [("O1", "SKU1", "1", 2), ("O1", "SKU2", "2", 3), ("O3", "SKU1", "1", 4)],
        ),
        TableRef("staging", "shop_order_items"): staged(
            "order_items",
            "shop_order_items",
            "shop_order_items/1.csv",
            [
                {"record_id": f"{o}|{p}", "order_id": o, "product_id": p, "_line": n}
                for o, p, n in [("O1", "SKU1", 2), ("O1", "SKU2", 3), ("O3", "SKU1", 4)]
            ],
        ),
        TableRef("raw", "web_events"): raw(
            ["event_id", "anonymous_id", "account_id", "type", "ts"],
            "web_events/1.csv",
            [
                ("E1", "anon-1", None, "page_view", "2026-01-05T10:00:00Z", 2),
                ("E2", "anon-1", "A1", "login", "2026-01-05T10:01:00Z", 3),
                ("E3", "anon-2", None, "page_view", "2026-01-06T10:00:00Z", 4),
                ("E4", "anon-2", "B1", "login", "2026-01-06T10:01:00Z", 5),
            ],
        ),
        TableRef("staging", "web_events"): staged(
            "events",
            "web_events",
            "web_events/1.csv",
            [
                {"record_id": e, "anonymous_id": a, "customer_ref": r, "_line": n}
                for e, a, r, n in [
                    ("E1", "anon-1", None, 2),
                    ("E2", "anon-1", "A1", 3),
                    ("E3", "anon-2", None, 4),
                    ("E4", "anon-2", "B1", 5),
                ]
            ],
        ),
        TableRef("ops", "quarantine"): typed(
            [
                # A malformed line naming Jane by her email only, and one naming Bob.
                quarantined(
                    "shop_accounts",
                    "ingest",
                    "shop_accounts/1.csv",
                    5,
                    None,
                    "A9,Jane.Doe@GMail.com,oops,x",
                ),
                quarantined(
                    "shop_accounts",
                    "ingest",
                    "shop_accounts/1.csv",
                    6,
                    None,
                    "B9,bob@example.com,oops,x",
                ),
                # Staged rows refused: their JSON payload names the account they belong to.
                quarantined(
                    "shop_orders",
                    "staging",
                    "shop_orders/1.csv",
                    6,
                    "O5",
                    '{"order_id": "O5", "account_id": "A1", "amount": "ten"}',
                ),
                quarantined(
                    "shop_orders",
                    "staging",
                    "shop_orders/1.csv",
                    7,
                    "O6",
                    '{"order_id": "O6", "account_id": "B1", "amount": "ten"}',
                ),
            ],
            QUARANTINE_DTYPES,
        ),
        TableRef("ops", "data_quality_issues"): typed(
            [
                issue("shop_accounts", "A2", 3, "phone", "650-253-0099"),
                issue("shop_accounts", "B1", 4, "phone", "650.253.0099"),
            ],
            ISSUE_DTYPES,
        ),
        TableRef("core", "customer_xref"): string_frame(
            ["source", "source_record_id", "identity_kind", "customer_id"],
            [
                ("shop_accounts", "A1", "record", "C-JANE"),
                ("shop_accounts", "A2", "record", "C-JANE"),
                ("shop_accounts", "B1", "record", "C-BOB"),
                ("shop_orders", "A1", "customer_ref", "C-JANE"),
                ("shop_orders", "B1", "customer_ref", "C-BOB"),
                ("web_events", "A1", "customer_ref", "C-JANE"),
                ("web_events", "B1", "customer_ref", "C-BOB"),
                ("web_events", "anon-1", "anonymous_id", "C-JANE"),
                ("web_events", "anon-2", "anonymous_id", "C-BOB"),
                ("shop_orders", f"email:{JANE_KEY}", "identifiers", "C-JANE"),
                ("shop_orders", f"email:{BOB_EMAIL}", "identifiers", "C-BOB"),
            ],
        ),
        TableRef("core", "customer_profiles"): string_frame(
            ["customer_id", "email", "email_key", "phone"],
            [
                ("C-JANE", JANE_EMAIL, JANE_KEY, JANE_PHONE),
                ("C-BOB", BOB_EMAIL, BOB_EMAIL, BOB_PHONE),
            ],
        ),
        TableRef("core", "orders"): core_frame(
            "orders",
            [
                {"customer_id": c, "source": "shop_orders", "order_id": o, "amount": a}
                for c, o, a in [("C-JANE", "O1", 10), ("C-JANE", "O2", 20)]
                + [("C-BOB", "O3", 30), ("C-BOB", "O4", 40)]
            ],
        ),
        TableRef("core", "order_items"): core_frame(
            "order_items",
            [
                {
                    "customer_id": c,
                    "source": "shop_order_items",
                    "order_source": "shop_orders",
                    "order_id": o,
                    "product_id": p,
                }
                for c, o, p in [("C-JANE", "O1", "SKU1"), ("C-JANE", "O1", "SKU2")]
                + [("C-BOB", "O3", "SKU1")]
            ],
        ),
        TableRef("core", "events"): core_frame(
            "events",
            [
                {"customer_id": c, "source": "web_events", "event_id": e, "anonymous_id": a}
                for c, e, a in [("C-JANE", "E1", "anon-1"), ("C-JANE", "E2", "anon-1")]
                + [("C-BOB", "E3", "anon-2"), ("C-BOB", "E4", "anon-2")]
            ],
        ),
        TableRef("core", "fact_identities"): string_frame(
            [
                "source",
                "customer_ref",
                "email_key",
                "phone",
                "loyalty_id",
                "anonymous_id",
                "customer_id",
            ],
            [
                ("shop_orders", "A1", JANE_KEY, None, None, None, "C-JANE"),
                ("shop_orders", None, JANE_KEY, None, None, None, "C-JANE"),
                ("shop_orders", "B1", BOB_EMAIL, None, None, None, "C-BOB"),
                ("shop_orders", None, BOB_EMAIL, None, None, None, "C-BOB"),
                ("web_events", None, None, None, None, "anon-1", "C-JANE"),
                ("web_events", "A1", None, None, None, "anon-1", "C-JANE"),
                ("web_events", None, None, None, None, "anon-2", "C-BOB"),
                ("web_events", "B1", None, None, None, "anon-2", "C-BOB"),
            ],
        ),
        TableRef("core", "identity_nodes"): string_frame(
            ["node_key", "customer_id"],
            [
                ("record|shop_accounts|A1", "C-JANE"),
                ("record|shop_accounts|A2", "C-JANE"),
                ("record|shop_accounts|B1", "C-BOB"),
                ("anon|web_events|anon-1", "C-JANE"),
                ("anon|web_events|anon-2", "C-BOB"),
                (f"ids|shop_orders|email:{JANE_KEY}", "C-JANE"),
                (f"ids|shop_orders|email:{BOB_EMAIL}", "C-BOB"),
            ],
        ),
        TableRef("core", "shared_identifiers"): string_frame(
            ["type", "value", "rule"], [("phone", HOUSE_PHONE, "shared_by_records")]
        ),
        TableRef("analytics", "rfm"): typed(
            [
                {"customer_id": "C-JANE", "recency_days": 30, "segment": "loyal"},
                {"customer_id": "C-BOB", "recency_days": 40, "segment": "at_risk"},
            ],
            {"customer_id": "string", "recency_days": "Int64", "segment": "string"},
        ),
    }
    tables.update(request_tables(requests))
    return tables


def quarantined(
    source: str, stage: str, file: str, line: int, record_id: str | None, payload: str
) -> dict[str, Any]:
    return {
        "source": source,
        "stage": stage,
        "file": file,
        "line": line,
        "batch_id": "b1",
        "record_id": record_id,
        "raw_payload": payload,
        "rule": "malformed_line" if stage == "ingest" else "invalid_amount",
        "reason": "...",
        "quarantined_at": INGESTED,
    }


def issue(source: str, record_id: str, line: int, field: str, value: str) -> dict[str, Any]:
    return {
        "source": source,
        "record_id": record_id,
        "file": f"{source}/1.csv",
        "line": line,
        "batch_id": "b1",
        "field": field,
        "value": value,
        "rule": "flagged_phone",
        "action": "flagged",
        "reason": "...",
    }


PLATFORM_SCHEMAS = ("raw", "staging", "ops", "core", "analytics", "ml", "activation")


@contextmanager
def isolated(url: str) -> Iterator[WarehouseSession]:
    """One transaction, rolled back at the end, starting from an empty warehouse. The
    PostgreSQL test database is shared: the platform's schemas are dropped inside the
    transaction, so that a concurrent test run waits rather than changes the tables under this
    one (or shows this one its own), and they come back as they were."""
    engine = Warehouse(url).engine
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            session = WarehouseSession(conn)
            if session.dialect == "postgresql":
                for schema in PLATFORM_SCHEMAS:
                    conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            yield session
        finally:
            transaction.rollback()


def build(session: WarehouseSession, tables: dict[TableRef, pd.DataFrame]) -> None:
    for ref, df in tables.items():
        session.replace_table(ref, df)


# --------------------------------------------------------------------------- what remains

# Per table: the columns that name its rows in the assertions below.
LABELS: dict[str, list[str]] = {
    "raw.shop_accounts": ["account_id", "_batch_id"],
    "staging.shop_accounts": ["record_id"],
    "raw.shop_orders": ["order_id"],
    "staging.shop_orders": ["record_id"],
    "raw.shop_order_items": ["order_id", "sku"],
    "staging.shop_order_items": ["record_id"],
    "raw.web_events": ["event_id"],
    "staging.web_events": ["record_id"],
    "raw.erasure_requests": ["request_id"],
    "staging.erasure_requests": ["record_id"],
    "ops.quarantine": ["source", "line"],
    "ops.data_quality_issues": ["source", "record_id"],
    "core.customer_xref": ["source", "source_record_id", "identity_kind"],
    "core.customer_profiles": ["customer_id"],
    "core.orders": ["order_id"],
    "core.order_items": ["order_id", "product_id"],
    "core.events": ["event_id"],
    "core.fact_identities": ["source", "customer_ref", "anonymous_id", "customer_id"],
    "core.identity_nodes": ["node_key"],
    "core.shared_identifiers": ["value"],
    "analytics.rfm": ["customer_id"],
}


def label(values: tuple) -> str:
    parts = ["-" if v is None or pd.isna(v) else str(v) for v in values]
    return "/".join(parts)


def contents(session: WarehouseSession) -> dict[str, list[str]]:
    """The labels of the rows of every table of LABELS the warehouse has."""
    found = {}
    for name, columns in LABELS.items():
        ref = TableRef(*name.split("."))
        if not session.table_exists(ref):
            continue
        df = session.read_table(ref, columns=columns)
        found[name] = sorted(label(tuple(r)) for r in df.itertuples(index=False))
    return found


BOB_ONLY: dict[str, list[str]] = {
    "raw.shop_accounts": ["B1/b1"],
    "staging.shop_accounts": ["B1"],
    "raw.shop_orders": ["O3", "O4"],
    "staging.shop_orders": ["O3", "O4"],
    "raw.shop_order_items": ["O3/SKU1"],
    "staging.shop_order_items": ["O3|SKU1"],
    "raw.web_events": ["E3", "E4"],
    "staging.web_events": ["E3", "E4"],
    "raw.erasure_requests": [],
    "staging.erasure_requests": [],
    "ops.quarantine": ["shop_accounts/6", "shop_orders/7"],
    "ops.data_quality_issues": ["shop_accounts/B1"],
    "core.customer_xref": [
        "shop_accounts/B1/record",
        "shop_orders/B1/customer_ref",
        f"shop_orders/email:{BOB_EMAIL}/identifiers",
        "web_events/B1/customer_ref",
        "web_events/anon-2/anonymous_id",
    ],
    "core.customer_profiles": ["C-BOB"],
    "core.orders": ["O3", "O4"],
    "core.order_items": ["O3/SKU1"],
    "core.events": ["E3", "E4"],
    "core.fact_identities": [
        "shop_orders/-/-/C-BOB",
        "shop_orders/B1/-/C-BOB",
        "web_events/-/anon-2/C-BOB",
        "web_events/B1/anon-2/C-BOB",
    ],
    "core.identity_nodes": [
        "anon|web_events|anon-2",
        f"ids|shop_orders|email:{BOB_EMAIL}",
        "record|shop_accounts|B1",
    ],
    "core.shared_identifiers": [HOUSE_PHONE],  # it names Bob too: kept
    "analytics.rfm": ["C-BOB"],
}

# Jane's identifiers, wherever the request named her (the household phone is shared: kept).
JANE: dict[str, set[str]] = {
    "email": {JANE_EMAIL, JANE_KEY},
    "phone": {JANE_PHONE},
    "record": {
        "shop_accounts:A1",
        "shop_accounts:A2",
        "shop_orders:O1",
        "shop_orders:O2",
        "web_events:E1",
        "web_events:E2",
    },
    "order": {"O1", "O2"},
    "customer_id": {"C-JANE"},
    "loyalty_id": set(),
    "anonymous_id": {"anon-1"},
    "email_sha256": {hash_email(JANE_EMAIL)},  # ads normalisation drops gmail dots: one hash
    "phone_sha256": {hash_phone(JANE_PHONE)},
}

BY_EMAIL = {"request_id": "R1", "email": "JANE.DOE@GMAIL.COM"}
BY_PHONE = {"request_id": "R2", "phone": JANE_PHONE}
BY_CUSTOMER = {"request_id": "R3", "customer_id": "C-JANE"}
BY_RECORD = {"request_id": "R4", "record_source": "shop_accounts", "source_record_id": "A2"}
BY_HOUSE_PHONE = {"request_id": "R5", "phone": HOUSE_PHONE}

NOBODY = {"request_id": "R9", "email": "nobody@nowhere.org"}


# --------------------------------------------------------------------------- running erasure


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


def engine_url(engine: str, folder: Path) -> str:
    """A warehouse URL on `engine`, as the shared `warehouse_url` fixture gives one (a test
    fails, never skips, when CDP_TEST_POSTGRES_URL is set but unreachable); `isolated` empties
    it."""
    if engine == "duckdb":
        return f"duckdb:///{folder / 'warehouse.duckdb'}"
    url = postgres_url_or_fail()
    if url is None:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    return url


@dataclass
class Run:
    """Everything one erasure pass showed; captured while it ran, so that the module-scoped
    runs below share one warehouse build each and never depend on a later warehouse state."""

    pending: list[ErasureRequest]
    shared_phones: set[str]
    subjects: list[Subject]
    deleted: dict[str, int]
    added: tuple[int, int]
    before: dict[str, list[str]]
    after: dict[str, list[str]]
    traces_before: dict[str, int]
    traces_after: dict[str, int]
    rows_scanned_after: int
    suppression: pd.DataFrame
    log: pd.DataFrame
    keys_left: bool
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def processed_requests(requests: list[ErasureRequest]) -> Identifiers:
    processed = Identifiers()
    processed.add("record", (f"{r.source}:{r.request_id}" for r in requests))
    return processed


def traces_of(
    session: WarehouseSession, config: CDPConfig, suppressed: frozenset[str]
) -> pd.DataFrame:
    return warehouse_traces(session, config, SALT, suppressed)


def nonzero(traces: pd.DataFrame) -> dict[str, int]:
    return {t: int(n) for t, n in zip(traces["table"], traces["traces"], strict=True) if n}


def run_erasure(
    url: str,
    config: CDPConfig,
    tables: dict[TableRef, pd.DataFrame],
    *,
    read: Iterable[TableRef] = (),
    trace_before: bool = False,
    trace_after: bool = True,
) -> Run:
    """What the erasure asset does in the warehouse: resolve every pending request, delete,
    suppress (twice, to see no duplicates), log — plus the trace check before and after."""
    try:
        with isolated(url) as session:
            build(session, tables)
            before = contents(session)
            pending = pending_requests(session, config)
            identity = read_identity_tables(session, config)
            subjects = [resolve(session, config, r, identity) for r in pending]
            erasing = [s for s in subjects if not s.ambiguous]
            rows = suppression_rows(erasing, SALT, AT)
            traces_before = (
                nonzero(traces_of(session, config, frozenset(rows["identifier_hash"])))
                if trace_before
                else {}
            )
            processed = processed_requests([s.request for s in erasing])
            deleted = erase_subjects(session, config, erasing, processed)
            added = (append_suppression(session, rows), append_suppression(session, rows))
            keys_left = session.table_exists(KEYS)
            suppressed = load_suppressed(session, SALT)
            after_traces = (
                traces_of(session, config, suppressed)
                if trace_after
                else pd.DataFrame({"table": [], "rows": [], "traces": []})
            )
            return Run(
                pending=pending,
                shared_phones=set(identity.shared.values["phone"]),
                subjects=subjects,
                deleted=deleted,
                added=added,
                before=before,
                after=contents(session),
                traces_before=traces_before,
                traces_after=nonzero(after_traces),
                rows_scanned_after=int(after_traces["rows"].sum()),
                suppression=session.read_table(SUPPRESSION),
                log=log_rows(subjects, SALT, AT, "run-1", {"R1": 2}),
                keys_left=keys_left,
                tables={str(ref): session.read_table(ref) for ref in read},
            )
    finally:
        dispose_engines()


@pytest.fixture(scope="module")
def jane_run(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Jane asks four times: by email (another case), by phone, by customer id, by record."""
    folder = tmp_path_factory.mktemp("jane")
    url = engine_url(engine, folder)
    tables = warehouse_tables([BY_EMAIL, BY_PHONE, BY_CUSTOMER, BY_RECORD])
    read = [TableRef("raw", "shop_accounts"), TableRef("ops", "data_quality_issues")]
    read.append(TableRef("core", "customer_profiles"))
    return run_erasure(url, make_config(folder), tables, read=read, trace_before=True)


@pytest.fixture(scope="module")
def household_run(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A request naming the household landline (a shared identifier) itself."""
    folder = tmp_path_factory.mktemp("household")
    url = engine_url(engine, folder)
    tables = only(warehouse_tables([BY_HOUSE_PHONE]), HOUSEHOLD_TABLES)
    return run_erasure(url, make_config(folder), tables)


# The tables that hold the household phone, or lead to the people who have it.
HOUSEHOLD_TABLES = (
    "raw.shop_accounts",
    "staging.shop_accounts",
    "ops.data_quality_issues",
    "core.customer_xref",
    "core.customer_profiles",
    "core.shared_identifiers",
    "raw.erasure_requests",
    "staging.erasure_requests",
)


def only(
    tables: dict[TableRef, pd.DataFrame], names: Iterable[str]
) -> dict[TableRef, pd.DataFrame]:
    """A smaller warehouse (erasure's cost is per table): these tables only."""
    return {ref: df for ref, df in tables.items() if str(ref) in set(names)}


# --------------------------------------------------------------------------- resolution


def test_pending_requests_read_every_kind_of_request(jane_run: Run) -> None:
    pending = jane_run.pending
    assert [(r.request_id, r.source) for r in pending] == [
        ("R1", "erasure_requests"),
        ("R2", "erasure_requests"),
        ("R3", "erasure_requests"),
        ("R4", "erasure_requests"),
    ]
    assert {r.requested_at for r in pending} == {pd.Timestamp("2026-11-19 08:00", tz="UTC")}
    seeds = {r.request_id: {k: v for k, v in r.seeds.values.items() if v} for r in pending}
    assert seeds == {
        "R1": {"email": {JANE_EMAIL, JANE_KEY}},
        "R2": {"phone": {JANE_PHONE}},
        "R3": {"customer_id": {"C-JANE"}},
        "R4": {"record": {"shop_accounts:A2"}},
    }
    assert jane_run.shared_phones == {HOUSE_PHONE}


def test_each_kind_of_request_resolves_to_jane_and_all_her_identifiers(jane_run: Run) -> None:
    for subject in jane_run.subjects:
        request = subject.request.request_id
        assert subject.customer_ids == {"C-JANE"}, request
        found = subject.identifiers.values
        for kind in KINDS:
            if kind != "phone_sha256":  # see test_shared_phone_leaves_no_ads_hash_behind
                assert found[kind] == JANE[kind], (request, kind)
        assert hash_phone(JANE_PHONE) in found["phone_sha256"]
        assert subject.shared_kept == 1, request  # the household phone


# --------------------------------------------------------------------------- deletion

JANES_ROWS: dict[str, int] = {
    "raw.shop_accounts": 3,  # A1 (two versions) and A2
    "staging.shop_accounts": 2,
    "raw.shop_orders": 2,  # her registered order and her guest order
    "staging.shop_orders": 2,
    "raw.shop_order_items": 2,  # the items of her order, found by order id alone
    "staging.shop_order_items": 2,
    "raw.web_events": 2,  # her login and the page view of the cookie it stitched
    "staging.web_events": 2,
    "raw.erasure_requests": 4,  # the processed requests
    "staging.erasure_requests": 4,
    "ops.quarantine": 2,  # her email in a malformed line, her account in a payload
    "ops.data_quality_issues": 1,
    "core.customer_xref": 6,
    "core.customer_profiles": 1,
    "core.orders": 2,
    "core.order_items": 2,
    "core.events": 2,
    "core.fact_identities": 4,
    "core.identity_nodes": 4,
    "analytics.rfm": 1,
}


def test_the_warehouse_held_both_people(jane_run: Run) -> None:
    counts = {table: len(rows) for table, rows in jane_run.before.items()}
    expected = {t: JANES_ROWS.get(t, 0) + len(BOB_ONLY[t]) for t in BOB_ONLY}
    assert counts == expected


def test_erasure_deletes_exactly_janes_rows(jane_run: Run) -> None:
    assert jane_run.after == BOB_ONLY
    assert jane_run.deleted == JANES_ROWS
    for subject in jane_run.subjects:
        # Every request names the same person: each is credited with all her rows.
        assert subject.rows == JANES_ROWS, subject.request.request_id
    assert not jane_run.keys_left


def test_shared_phone_alone_is_not_a_reason_to_delete(jane_run: Run) -> None:
    """Jane's own rows with the household phone went (by record); the rows that carry it for
    Bob, and the shared list's own row, stay — also in the text of his quality issue."""
    assert jane_run.after["core.shared_identifiers"] == [HOUSE_PHONE]
    assert jane_run.tables["raw.shop_accounts"]["phone"].tolist() == ["650.253.0099"]
    assert jane_run.tables["ops.data_quality_issues"]["value"].tolist() == ["650.253.0099"]
    assert jane_run.tables["core.customer_profiles"]["phone"].tolist() == [HOUSE_PHONE]


def test_a_request_naming_only_the_shared_phone_is_ambiguous(household_run: Run) -> None:
    """The household phone names Jane and Bob: nobody is erased, nothing is deleted (the
    request itself stays pending until amended), and the log says how many people it matched
    and what would settle it."""
    (subject,) = household_run.subjects
    assert subject.ambiguous and subject.status == "ambiguous"
    assert subject.customer_ids == set() and len(subject.identifiers) == 0
    assert subject.people_matched == 2
    assert household_run.deleted == {}
    assert household_run.after == household_run.before
    assert household_run.added == (0, 0)
    (row,) = household_run.log.itertuples()
    assert (row.status, row.people_matched, row.customers_erased) == ("ambiguous", 2, 0)
    assert row.rows_deleted == 0 and json.loads(row.identifier_hashes) == []
    assert "customer_id" in row.resolution_hint and "2 people" in row.resolution_hint
    assert HOUSE_PHONE.lstrip("+") not in row.resolution_hint


@pytest.fixture(scope="module")
def settled_run(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The household phone with Jane's own email settles who is meant."""
    folder = tmp_path_factory.mktemp("settled")
    url = engine_url(engine, folder)
    requests = [{"request_id": "R6", "email": JANE_EMAIL, "phone": HOUSE_PHONE}]
    tables = only(warehouse_tables(requests), HOUSEHOLD_TABLES)
    return run_erasure(url, make_config(folder), tables)


def test_a_shared_identifier_with_one_of_the_persons_own_names_that_person(
    settled_run: Run,
) -> None:
    (jane,) = settled_run.subjects
    assert (jane.status, jane.customer_ids, jane.people_matched) == ("erased", {"C-JANE"}, 2)
    assert HOUSE_PHONE not in jane.identifiers.values["phone"]  # named, yet Bob's too: kept
    assert settled_run.after["staging.shop_accounts"] == ["B1"]
    assert settled_run.after["core.customer_profiles"] == ["C-BOB"]
    assert settled_run.after["core.shared_identifiers"] == [HOUSE_PHONE]
    assert settled_run.after["staging.erasure_requests"] == []
    assert settled_run.traces_after == {}


@pytest.fixture(scope="module")
def conflicting_run(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Bob's email with Jane's customer id: two people, and the kinds disagree."""
    folder = tmp_path_factory.mktemp("conflicting")
    url = engine_url(engine, folder)
    requests = [{"request_id": "R7", "email": BOB_EMAIL, "customer_id": "C-JANE"}]
    tables = only(warehouse_tables(requests), HOUSEHOLD_TABLES)
    return run_erasure(url, make_config(folder), tables)


def test_identifiers_of_two_people_make_a_request_ambiguous(conflicting_run: Run) -> None:
    (subject,) = conflicting_run.subjects
    assert (subject.status, subject.people_matched) == ("ambiguous", 2)
    assert conflicting_run.deleted == {}
    assert conflicting_run.after["staging.erasure_requests"] == ["R7"]  # pending until amended
    assert conflicting_run.after["core.customer_profiles"] == ["C-BOB", "C-JANE"]


# --------------------------------------------------------------------------- bookkeeping


def test_traces_before_and_after_erasure(jane_run: Run) -> None:
    assert jane_run.traces_before == JANES_ROWS
    assert jane_run.traces_after == {}
    assert jane_run.rows_scanned_after == sum(len(rows) for rows in BOB_ONLY.values())


def test_append_suppression_adds_no_duplicate_hashes(jane_run: Run) -> None:
    hashes = jane_run.subjects[0].identifiers.hashes(SALT)
    assert jane_run.added == (len(hashes), 0)  # four requests, one person: each hash once
    listed = jane_run.suppression
    assert len(listed) == len(hashes) and listed["identifier_hash"].is_unique
    assert set(listed["identifier_hash"]) == set(hashes["identifier_hash"])
    assert listed["request_id"].tolist() == ["R1"] * len(hashes)  # the first request listed it
    assert set(listed["salt_fingerprint"]) == {salt_fingerprint(SALT)}
    assert set(listed["identifier_kind"]) == {k for k, v in JANE.items() if v}
    assert identifier_hash(SALT, "customer_id", "C-JANE") in set(listed["identifier_hash"])
    assert identifier_hash(SALT, "phone", HOUSE_PHONE) not in set(listed["identifier_hash"])


def test_log_rows_hold_no_identifier_in_clear(jane_run: Run) -> None:
    log = jane_run.log
    assert log["request_id"].tolist() == ["R1", "R2", "R3", "R4"]
    assert log["request_source"].tolist() == ["erasure_requests"] * 4
    assert log["status"].tolist() == ["erased"] * 4
    assert log["customers_erased"].tolist() == [1] * 4
    assert log["export_rows_removed"].tolist() == [2, 0, 0, 0]
    assert log["run_id"].tolist() == ["run-1"] * 4
    first = log.iloc[0]
    hashes = json.loads(first["identifier_hashes"])
    assert hashes == jane_run.subjects[0].identifiers.hashes(SALT)["identifier_hash"].tolist()
    assert first["identifiers"] == len(hashes)
    assert json.loads(first["tables_touched"]) == JANES_ROWS
    assert first["rows_deleted"] == sum(JANES_ROWS.values())

    needles = [
        JANE_EMAIL,
        JANE_KEY,
        "jane",
        JANE_PHONE.lstrip("+"),
        "253-0000",
        HOUSE_PHONE.lstrip("+"),
        "c-jane",
        "anon-1",
    ]
    cells = [str(v).lower() for v in log.astype(str).to_numpy().ravel()]
    assert [(n, c) for n in needles for c in cells if n in c] == []


@pytest.fixture(scope="module")
def nobody_run(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A request naming an address nobody in the warehouse has."""
    folder = tmp_path_factory.mktemp("nobody")
    url = engine_url(engine, folder)
    names = ["staging.shop_accounts", "core.customer_profiles", "core.orders"]
    names += ["raw.erasure_requests", "staging.erasure_requests"]
    tables = only(warehouse_tables([NOBODY]), names)
    return run_erasure(url, make_config(folder), tables, trace_after=False)


def test_a_request_naming_nobody_deletes_only_itself(nobody_run: Run) -> None:
    (subject,) = nobody_run.subjects
    assert subject.customer_ids == set()
    assert nobody_run.deleted == {"raw.erasure_requests": 1, "staging.erasure_requests": 1}
    requests = {"raw.erasure_requests": [], "staging.erasure_requests": []}
    assert nobody_run.after == {**nobody_run.before, **requests}
    assert nobody_run.before["raw.erasure_requests"] == ["R9"]


def test_a_request_naming_nobody_is_logged_as_no_match(nobody_run: Run) -> None:
    assert nobody_run.log["status"].tolist() == ["no_match"]
    assert nobody_run.log["rows_deleted"].tolist() == [2]  # its own raw and staged rows


# --------------------------------------------------------------------------- known bugs


@pytest.fixture(scope="module")
def variant_run(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Jane asks by email, in a warehouse where (independently of each other):
    - an ads audience table holds Jane's and Bob's unsalted hashes (Bob's: the household phone);
    - Jane's account A2 and Bob's B1 share a family inbox (core.shared_identifiers lists its
      key), spelt with gmail dots;
    - a second orders source (store tills) has Bob's receipt O1: the same id as Jane's order."""
    folder = tmp_path_factory.mktemp("variant")
    url = engine_url(engine, folder)
    pos = {
        "name": "pos_orders",
        "kind": "orders",
        "format": "csv",
        "path": "pos_orders/*.csv",
        "columns": {"order_id": "ticket", "ordered_at": "at", "amount": "total"},
    }
    config = make_config(folder, [*SOURCES, pos])
    tables = only(warehouse_tables([BY_EMAIL]), VARIANT_TABLES)
    tables[ADS] = string_frame(
        ["email_sha256", "phone_sha256"],
        [
            (hash_email(JANE_EMAIL), hash_phone(JANE_PHONE)),
            (hash_email(BOB_EMAIL), hash_phone(HOUSE_PHONE)),
        ],
    )
    family, family_key = "the.smiths@gmail.com", "thesmiths@gmail.com"
    accounts = tables[TableRef("staging", "shop_accounts")]
    family_rows = accounts["record_id"].isin(["A2", "B1"])
    accounts.loc[family_rows, "email"] = family
    accounts.loc[family_rows, "email_key"] = family_key
    raw_accounts = tables[TableRef("raw", "shop_accounts")]
    raw_accounts.loc[raw_accounts["account_id"].isin(["A2", "B1"]), "email"] = (
        "The.Smiths@gmail.com"
    )
    tables[TableRef("core", "shared_identifiers")] = string_frame(
        ["type", "value", "rule"],
        [
            ("phone", HOUSE_PHONE, "shared_by_records"),
            ("email_key", family_key, "shared_by_records"),
        ],
    )
    tables[TableRef("raw", "pos_orders")] = raw(
        ["ticket", "at", "total"], "pos_orders/1.csv", [("O1", "2026-03-01", "5", 2)]
    )
    tables[TableRef("staging", "pos_orders")] = staged(
        "orders", "pos_orders", "pos_orders/1.csv", [{"record_id": "O1", "_line": 2}]
    )
    read = [ADS, TableRef("raw", "pos_orders"), TableRef("staging", "pos_orders")]
    return run_erasure(url, config, tables, read=read, trace_after=False)


ADS = TableRef("activation", "ads_audience")
VARIANT_TABLES = (
    "raw.shop_accounts",
    "staging.shop_accounts",
    "raw.shop_orders",
    "staging.shop_orders",
    "core.customer_xref",
    "raw.erasure_requests",
    "staging.erasure_requests",
)


def test_variant_run_erases_jane(variant_run: Run) -> None:
    (subject,) = variant_run.subjects
    assert subject.customer_ids == {"C-JANE"}
    # the household phone, and the family inbox as her address and its matching key
    assert subject.shared_kept == 3
    assert variant_run.after["raw.shop_orders"] == ["O3", "O4"]


def test_shared_phone_leaves_no_ads_hash_behind(variant_run: Run) -> None:
    assert variant_run.subjects[0].identifiers.values["phone_sha256"] == {hash_phone(JANE_PHONE)}
    left = variant_run.tables[str(ADS)]
    assert left["phone_sha256"].tolist() == [hash_phone(HOUSE_PHONE)]


def test_shared_email_is_not_erased_from_the_other_person(variant_run: Run) -> None:
    assert "the.smiths@gmail.com" not in variant_run.subjects[0].identifiers.values["email"]
    assert variant_run.after["staging.shop_accounts"] == ["B1"]
    assert variant_run.after["raw.shop_accounts"] == ["B1/b1"]


def test_same_order_id_in_another_orders_source_is_kept(variant_run: Run) -> None:
    assert len(variant_run.tables["staging.pos_orders"]) == 1
    assert len(variant_run.tables["raw.pos_orders"]) == 1


# --------------------------------------------------------------------------- delete_rows


def test_delete_rows_treats_nulls_as_equal(warehouse_url: str) -> None:
    ref = TableRef("ops", "keyed")
    table = typed(
        [
            {"a": "x", "b": None, "c": "1"},
            {"a": "x", "b": 1, "c": "2"},
            {"a": None, "b": None, "c": "3"},
            {"a": None, "b": 2, "c": "4"},
            {"a": "y", "b": 2, "c": "5"},
        ],
        {"a": "string", "b": "Int64", "c": "string"},
    )
    with isolated(warehouse_url) as session:
        session.replace_table(ref, table)
        keys = typed(
            [{"a": "x", "b": None}, {"a": None, "b": None}, {"a": None, "b": None}],
            {"a": "string", "b": "Int64"},
        )
        assert delete_rows(session, ref, keys) == 2
        assert delete_rows(session, ref, keys.iloc[:0]) == 0
        assert sorted(session.read_table(ref)["c"]) == ["2", "4", "5"]
        # Keys as read back from the table (each engine's dtypes), a null among them.
        read = session.query("SELECT a, b FROM ops.keyed WHERE c IN ('4', '5')")
        assert delete_rows(session, ref, read[read["a"].isna()]) == 1
        assert sorted(session.read_table(ref)["c"]) == ["2", "5"]


def test_deleting_rows_marks_the_table_changed_and_deleting_none_does_not(
    warehouse_url: str,
) -> None:
    ref = TableRef("ops", "keyed")
    table = typed([{"a": "x", "c": "1"}, {"a": "y", "c": "2"}], {"a": "string", "c": "string"})
    with isolated(warehouse_url) as session:
        session.replace_table(ref, table)
        session.changed.clear()
        assert delete_rows(session, ref, typed([{"a": "z"}], {"a": "string"})) == 0
        assert ref not in session.changed  # its version stays: readers need not recompute
        assert delete_rows(session, ref, typed([{"a": "x"}], {"a": "string"})) == 1
        assert ref in session.changed  # a new version when the transaction commits


def test_delete_rows_with_keys_read_from_an_all_null_number_column(warehouse_url: str) -> None:
    ref = TableRef("ops", "keyed")
    table = typed([{"a": "x", "b": None}, {"a": "y", "b": None}], {"a": "string", "b": "Int64"})
    with isolated(warehouse_url) as session:
        session.replace_table(ref, table)
        keys = session.query("SELECT a, b FROM ops.keyed WHERE a = 'x'")
        assert delete_rows(session, ref, keys) == 1
        assert session.read_table(ref)["a"].tolist() == ["y"]
