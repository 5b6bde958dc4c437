"""Identifier values of a person, as the privacy readers find them, and their salted hashes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cdp_assets.config import CDPConfig, parse_config
from cdp_assets.privacy.identifiers import (
    KINDS,
    Identifiers,
    Values,
    hash_matches,
    identifier_hash,
    identifier_set_values,
    matches,
    node_values,
    raw_columns,
    source_field_values,
    text_values,
)

SALT = b"test-salt"


@pytest.fixture
def config(tmp_path: Path) -> CDPConfig:
    return parse_config(
        {
            "landing_dir": "landing",
            "sources": [
                {
                    "name": "shop_accounts",
                    "kind": "customers",
                    "format": "csv",
                    "path": "shop_accounts/*.csv",
                    "columns": {
                        "source_record_id": "account_id",
                        "email": "email",
                        "phone": "phone",
                        "loyalty_id": "card",
                    },
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
                    "name": "de_accounts",
                    "kind": "customers",
                    "format": "csv",
                    "path": "de_accounts/*.csv",
                    "default_country": "DE",
                    "columns": {"source_record_id": "id", "phone": "tel"},
                },
            ],
        },
        file=Path("cdp.yaml"),
        base_dir=tmp_path,
    )


def text(*values: str | None) -> pd.Series:
    return pd.Series(list(values), dtype="string")


def gathered(values: Values) -> dict[str, set[str]]:
    """Every non-null value per kind."""
    found: dict[str, set[str]] = {}
    for kind, series in values:
        found.setdefault(kind, set()).update(str(v) for v in series.dropna())
    return found


def per_row(values: Values, n: int) -> list[dict[str, set[str]]]:
    """Every non-null value per kind, row by row (row = index label)."""
    rows: list[dict[str, set[str]]] = [{} for _ in range(n)]
    for kind, series in values:
        for label, value in series.dropna().items():
            rows[int(label)].setdefault(kind, set()).add(str(value))
    return rows


# --------------------------------------------------------------------------- hashing


def test_identifier_hash_is_deterministic_and_depends_on_salt_and_kind() -> None:
    first = identifier_hash(SALT, "email", "jane@x.com")
    assert first == identifier_hash(SALT, "email", "jane@x.com")
    assert len(first) == 64 and int(first, 16) >= 0
    assert first != identifier_hash(b"other-salt", "email", "jane@x.com")
    assert first != identifier_hash(SALT, "customer_id", "jane@x.com")
    assert first != identifier_hash(SALT, "email", "jane@x.co")
    # The kind and the value are separated: ("ab", "c") is not ("a", "bc").
    assert identifier_hash(SALT, "ab", "c") != identifier_hash(SALT, "a", "bc")


def test_identifiers_hashes_give_one_row_per_value() -> None:
    ids = Identifiers()
    ids.add("email", ["jane@x.com", " jane@x.com ", None, pd.NA, "", "  "])
    ids.add("phone", ["+16502530000"])
    ids.add("customer_id", ["C2", "C1"])
    assert len(ids) == 4
    hashes = ids.hashes(SALT)
    assert list(hashes.columns) == ["identifier_kind", "identifier_hash"]
    assert hashes.values.tolist() == [
        ["email", identifier_hash(SALT, "email", "jane@x.com")],
        ["phone", identifier_hash(SALT, "phone", "+16502530000")],
        ["customer_id", identifier_hash(SALT, "customer_id", "C1")],
        ["customer_id", identifier_hash(SALT, "customer_id", "C2")],
    ]
    assert Identifiers().hashes(SALT).empty
    assert set(Identifiers().values) == set(KINDS)


def test_identifiers_update_and_discard() -> None:
    one, two = Identifiers(), Identifiers()
    one.add("email", ["a@x.com"])
    two.add("email", ["b@x.com"])
    two.add("order", ["O1"])
    one.update(two)
    assert one.values["email"] == {"a@x.com", "b@x.com"} and one.values["order"] == {"O1"}
    one.discard("email", ["a@x.com", "zzz"])
    assert one.values["email"] == {"b@x.com"}
    assert two.values["email"] == {"b@x.com"}  # update copied, not shared


# --------------------------------------------------------------------------- per source


def test_source_field_values_of_a_raw_customers_frame(config: CDPConfig) -> None:
    source = config.source("shop_accounts")
    assert raw_columns(source) == {
        "source_record_id": "account_id",
        "email": "email",
        "phone": "phone",
        "loyalty_id": "card",
    }
    frame = pd.DataFrame(
        {
            "account_id": text(" A1 ", "B7", None),
            "email": text(" Jane.Doe@GMail.com ", "not-an-address", ""),
            "phone": text("(650) 253-0000", "n/a", None),
            "card": text(" L-1 ", None, "  "),
        }
    )
    values = source_field_values(frame, source, config, raw_columns(source))
    assert per_row(values, 3) == [
        {
            "email": {"jane.doe@gmail.com", "janedoe@gmail.com"},
            "phone": {"+16502530000"},
            "loyalty_id": {"L-1"},
            "record": {"shop_accounts:A1"},
        },
        # An address staging would refuse still names its owner in the raw layer.
        {"email": {"not-an-address"}, "record": {"shop_accounts:B7"}},
        {},
    ]


def test_source_field_values_read_phones_in_the_source_country(config: CDPConfig) -> None:
    source = config.source("de_accounts")
    frame = pd.DataFrame({"id": text("D1"), "tel": text("030 901820")})
    values = source_field_values(frame, source, config, raw_columns(source))
    assert gathered(values) == {"phone": {"+4930901820"}, "record": {"de_accounts:D1"}}


def test_customer_ref_is_the_referenced_record(config: CDPConfig) -> None:
    source = config.source("shop_orders")
    frame = pd.DataFrame(
        {
            "order_id": text("O1", "O2"),
            "account_id": text("A1", None),
            "email": text(None, "Guest@X.com"),
            "ordered_at": text("2026-01-01", "2026-01-02"),
            "amount": text("10", "20"),
        }
    )
    values = source_field_values(frame, source, config, raw_columns(source))
    assert per_row(values, 2) == [
        # an order is a record of its source; a bare `order` id is for order items only
        {"record": {"shop_orders:O1", "shop_accounts:A1"}},
        {"record": {"shop_orders:O2"}, "email": {"guest@x.com"}},
    ]


def test_staged_columns_include_record_id_and_email_key(config: CDPConfig) -> None:
    source = config.source("shop_accounts")
    frame = pd.DataFrame(
        {
            "record_id": text("A1"),
            "source_record_id": text("A1"),
            "email": text("jane.doe@gmail.com"),
            "email_key": text("janedoe@gmail.com"),
            "phone": text("+16502530000"),
        }
    )
    values = source_field_values(frame, source, config, {c: c for c in frame.columns})
    assert gathered(values) == {
        "email": {"jane.doe@gmail.com", "janedoe@gmail.com"},
        "phone": {"+16502530000"},
        "record": {"shop_accounts:A1"},
    }


# --------------------------------------------------------------------------- free text


def test_text_values_find_email_phone_and_record_tokens_in_a_malformed_line() -> None:
    lines = text('A9,"Jane.Doe@GMail.com,(650) 253-0000,oops', "nothing here", None)
    values = text_values(lines, "US", ["shop_accounts", "shop_orders"])
    rows = per_row(values, 3)
    assert rows[0]["email"] == {"jane.doe@gmail.com", "janedoe@gmail.com"}
    assert rows[0]["phone"] == {"+16502530000"}
    assert {"shop_accounts:A9", "shop_orders:A9"} <= rows[0]["record"]
    for kind in ("loyalty_id", "anonymous_id", "customer_id"):
        assert "A9" in rows[0][kind]
    assert "email" not in rows[1] and "phone" not in rows[1]
    assert rows[1]["record"] == {
        "shop_accounts:nothing",
        "shop_accounts:here",
        "shop_orders:nothing",
        "shop_orders:here",
    }
    assert rows[2] == {}


def test_text_values_match_the_person_in_exactly_their_line() -> None:
    lines = text("A9,jane@x.com,oops", "B9,bob@x.com,oops", "C1;+1 650 253 0000;x")
    wanted = Identifiers()
    wanted.add("email", ["jane@x.com"])
    assert matches(text_values(lines, "US"), wanted, lines.index).tolist() == [
        True,
        False,
        False,
    ]
    wanted = Identifiers()
    wanted.add("phone", ["+16502530000"])
    assert matches(text_values(lines, "US"), wanted, lines.index).tolist() == [
        False,
        False,
        True,
    ]
    wanted = Identifiers()
    wanted.add("record", ["shop_accounts:B9"])
    found = matches(text_values(lines, "US", ["shop_accounts"]), wanted, lines.index)
    assert found.tolist() == [False, True, False]


# --------------------------------------------------------------------------- identity keys


def test_identifier_set_values() -> None:
    keys = pd.Series(["email:a@x.com|phone:+4930901820|loyalty:L1", "email_key:b@y.com"])
    assert per_row(identifier_set_values(keys), 2) == [
        {"email": {"a@x.com"}, "phone": {"+4930901820"}, "loyalty_id": {"L1"}},
        {"email": {"b@y.com"}},
    ]


def test_node_values() -> None:
    values = node_values(
        pd.Series(["record", "ref", "anon", "ids"]),
        pd.Series(["shop_accounts", "shop_accounts", "web", "shop_orders"]),
        pd.Series(["A1", "A2", "anon-1", "email:x@y.com|phone:+16502530000"]),
    )
    assert per_row(values, 4) == [
        {"record": {"shop_accounts:A1"}},
        {"record": {"shop_accounts:A2"}},
        {"anonymous_id": {"anon-1"}},
        {"email": {"x@y.com"}, "phone": {"+16502530000"}},
    ]


# --------------------------------------------------------------------------- row masks


def small_frame_values() -> tuple[pd.Index, Values]:
    index = pd.RangeIndex(4)
    values: Values = [
        ("email", text("jane@x.com", "bob@x.com", None, "jane@x.com")),
        ("phone", text(None, "+16502530000", "+16502530000", None)),
        ("customer_id", text("C1", "C2", "C3", None)),
        # exploded text: several values per row, rows 0 and 2 only
        ("order", pd.Series(["O1", "O2", "O3"], index=[0, 0, 2], dtype="string")),
    ]
    return index, values


def test_matches_gives_the_exact_row_mask() -> None:
    index, values = small_frame_values()
    wanted = Identifiers()
    assert matches(values, wanted, index).tolist() == [False] * 4
    wanted.add("email", ["jane@x.com"])
    assert matches(values, wanted, index).tolist() == [True, False, False, True]
    wanted = Identifiers()
    wanted.add("phone", ["+16502530000"])
    wanted.add("order", ["O2"])
    assert matches(values, wanted, index).tolist() == [True, True, True, False]
    wanted = Identifiers()
    wanted.add("customer_id", ["C3"])
    wanted.add("email", ["+16502530000"])  # a value of another kind does not match
    assert matches(values, wanted, index).tolist() == [False, False, True, False]


def test_hash_matches_gives_the_exact_row_mask() -> None:
    index, values = small_frame_values()
    assert hash_matches(values, SALT, frozenset(), index).tolist() == [False] * 4
    suppressed = frozenset(
        {identifier_hash(SALT, "customer_id", "C2"), identifier_hash(SALT, "order", "O3")}
    )
    assert hash_matches(values, SALT, suppressed, index).tolist() == [False, True, True, False]
    # Made with another salt, or for another kind: no match.
    other = frozenset(
        {identifier_hash(b"x", "customer_id", "C2"), identifier_hash(SALT, "email", "C2")}
    )
    assert hash_matches(values, SALT, other, index).tolist() == [False] * 4
    assert isinstance(hash_matches(values, SALT, suppressed, index), np.ndarray)


def test_hash_matches_hashes_any_text_as_identifier_hash_does_in_row_order() -> None:
    """Every kind of text (empty, NUL, control characters, accents, Han, emoji, long), each
    row answered for its own value, as `identifier_hash` hashes it."""
    rng = np.random.default_rng(0)
    odd = ["", " ", "a\x00b", "Zoë@exämple.com", "李小明", "😀+44 20", "x" * 500, "\x1f", "é"]
    texts = odd + [f"C{n}" for n in rng.permutation(5_000)]
    series = pd.Series(texts, dtype="string")
    index = pd.RangeIndex(len(series))
    chosen = [texts[i] for i in rng.choice(len(texts), 40, replace=False)] + odd
    suppressed = frozenset(identifier_hash(SALT, "email", v) for v in chosen)
    found = hash_matches([("email", series)], SALT, suppressed, index)
    assert found.tolist() == [v in set(chosen) for v in texts]
