"""Erased identifiers found in the text of stored Dagster events."""

from __future__ import annotations

import json

from cdp_assets.privacy.event_storage import (
    StoredEvent,
    event_text,
    suppression_fingerprint,
    traced_events,
)
from cdp_assets.privacy.identifiers import identifier_hash

SALT = b"salt"
SUPPRESSED = frozenset(
    {
        identifier_hash(SALT, "email", "jane.doe@x.com"),
        identifier_hash(SALT, "phone", "+447911123456"),
        identifier_hash(SALT, "record", "shop_accounts:A0000042"),
    }
)


def _event(storage_id: int, payload: dict) -> StoredEvent:
    return StoredEvent(
        storage_id, "run-1", "ASSET_MATERIALIZATION", event_text(json.dumps(payload))
    )


def test_erased_identifiers_are_found_in_any_string_of_an_event() -> None:
    events = [
        _event(1, {"metadata": {"note": {"text": "merged jane.doe@x.com"}}}),
        _event(2, {"error": {"message": "KeyError: '+44 7911 123456'"}}),
        _event(3, {"url": "https://x.com/u?e=jane.doe%2540x.com"}),
        _event(4, {"preview": "| A0000042 | shop_accounts |"}),
        _event(5, {"preview": "| j***@x.com | +44********23 | A*** |", "rows": 12}),
        _event(6, {"note": "someone.else@x.com and A0000043"}),
    ]
    found = traced_events(events, SALT, SUPPRESSED, "GB", ["shop_accounts"])
    assert found["storage_id"].tolist() == [1, 2, 3, 4]
    assert "jane" not in found.to_string()


def test_nothing_is_found_when_nothing_was_erased() -> None:
    events = [_event(1, {"note": "jane.doe@x.com"})]
    assert traced_events(events, SALT, frozenset(), "GB", []).empty


def test_the_fingerprint_follows_the_suppression_list() -> None:
    more = SUPPRESSED | {identifier_hash(SALT, "email", "joe@y.com")}
    assert suppression_fingerprint(SUPPRESSED) == suppression_fingerprint(frozenset(SUPPRESSED))
    assert suppression_fingerprint(SUPPRESSED) != suppression_fingerprint(more)
