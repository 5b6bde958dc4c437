from __future__ import annotations

import datetime as dt

from cdp_assets.alerts import Alert, MemoryLedger, due_alerts, record_sent, webhook_payload
from cdp_assets.alerts.freshness import stale_assets

NOW = dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)
UI = "http://ui.local:3000"


def failure(asset: str = "staging/orders", cause: str = "run_failure") -> Alert:
    return Alert(
        asset,
        cause,
        "row 3: bad email jane.doe@example.com, phone +44 7700 900123",
        NOW,
        UI,
        run_id="abc-123",
        job_name="ingest_sources",
    )


def test_message_names_asset_reason_and_run_link_with_identifiers_masked() -> None:
    text = failure().text()
    assert "Asset: staging/orders" in text
    assert "Run: http://ui.local:3000/runs/abc-123" in text
    assert "Asset page: http://ui.local:3000/assets/staging/orders" in text
    assert "jane.doe@example.com" not in text and "7700 900123" not in text
    assert "j***@example.com" in text
    payload = webhook_payload(failure())
    assert payload["text"] == text
    assert payload["run_url"] == "http://ui.local:3000/runs/abc-123"
    assert (payload["asset"], payload["cause"], payload["job"]) == (
        "staging/orders",
        "run_failure",
        "ingest_sources",
    )
    assert "jane.doe" not in payload["reason"]


def test_check_alert_names_the_check() -> None:
    alert = Alert(
        "core/customer_profiles",
        "check_failure:customer_id_unique",
        "dupes",
        NOW,
        UI,
        check_name="customer_id_unique",
    )
    assert (
        alert.subject == "[cdp] core/customer_profiles: blocking check failed (customer_id_unique)"
    )
    assert "Check: customer_id_unique" in alert.text()
    assert alert.run_url is None


def test_one_alert_per_asset_and_cause_per_day() -> None:
    ledger = MemoryLedger()
    day = NOW.date()
    first = [failure(), failure(), failure("core/orders"), failure(cause="stale")]
    due = due_alerts(first, ledger, day)
    assert [(a.asset, a.cause) for a in due] == [
        ("staging/orders", "run_failure"),
        ("core/orders", "run_failure"),
        ("staging/orders", "stale"),
    ]
    record_sent(due, ledger, day)
    assert due_alerts(first, ledger, day) == []
    later = due_alerts([failure(), failure(cause="check_failure:x")], ledger, day)
    assert [a.cause for a in later] == ["check_failure:x"]
    next_day = due_alerts([failure()], ledger, day + dt.timedelta(days=1))
    assert len(next_day) == 1


def test_stale_once_the_fail_window_has_passed() -> None:
    window = dt.timedelta(hours=30)
    last = {
        "core/customer_profiles": NOW - dt.timedelta(hours=31),
        "ml/churn_scores": NOW - dt.timedelta(hours=29, minutes=59),
        "activation/customer_360": NOW - window,  # exactly the window: stale, as in Dagster
        "ml/customer_ltv": None,  # never materialized: unknown, not stale
    }
    stale = stale_assets(dict.fromkeys(last, window), last, NOW)
    assert [s.asset for s in stale] == ["activation/customer_360", "core/customer_profiles"]
    assert "more than 30 hours ago" in stale[1].reason
