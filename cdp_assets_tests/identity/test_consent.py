"""Consent per customer: double opt-in for email and SMS, any opt-out wins, ads opt-out."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from cdp_assets.contracts.golden_profile import CONSENT_DTYPES
from cdp_assets.identity.consent import customer_consent
from cdp_assets.identity.golden import golden_profiles
from cdp_assets_tests.identity.helpers import SEEN, typed_records

T = SEEN
DAY = pd.Timedelta(days=1)


def records_frame(*rows: dict[str, Any]) -> pd.DataFrame:
    return typed_records(*rows, customer_id="c1")


def opt_in(at: pd.Timestamp | None, seen: pd.Timestamp = T, **extra: Any) -> dict[str, Any]:
    """A record stating email opt-in, confirmed at `at` (None: never confirmed)."""
    return {"email_opt_in": True, "email_opt_in_confirmed_at": at, "seen_at": seen, **extra}


def opt_out(seen: pd.Timestamp | None, **extra: Any) -> dict[str, Any]:
    return {"email_opt_in": False, "seen_at": seen, **extra}


@pytest.mark.parametrize(
    ("rows", "granted", "granted_at"),
    [
        pytest.param([opt_in(T)], True, T, id="confirmed opt-in only"),
        pytest.param([opt_in(None)], False, None, id="unconfirmed opt-in"),
        pytest.param([{}], False, None, id="nothing known"),
        pytest.param([opt_in(T), opt_out(T + DAY)], False, None, id="opt-in then later opt-out"),
        pytest.param([opt_out(T), opt_in(T + DAY)], True, T + DAY, id="opt-out then later opt-in"),
        pytest.param([opt_out(None), opt_in(T + DAY)], False, None, id="opt-out at unknown time"),
        pytest.param([opt_out(T), opt_in(T)], False, None, id="opt-out at the opt-in time"),
        pytest.param(
            [opt_out(T + DAY), opt_in(T, seen=T + 5 * DAY)],
            False,
            None,
            id="opt-in confirmed before the opt-out, record seen later",
        ),
        pytest.param(
            [opt_in(T), opt_in(T + 2 * DAY), opt_out(T + DAY)],
            True,
            T + 2 * DAY,
            id="latest confirmed opt-in after the opt-out",
        ),
        pytest.param(
            [opt_in(T), opt_in(None, seen=T + DAY)], True, T, id="later unconfirmed opt-in ignored"
        ),
    ],
)
def test_email_consent_matrix(
    rows: list[dict[str, Any]], granted: bool, granted_at: pd.Timestamp | None
) -> None:
    row = customer_consent(records_frame(*rows)).loc["c1"]
    assert row["email_consent"] is granted or row["email_consent"] == granted
    if granted_at is None:
        assert pd.isna(row["email_consent_at"]) and pd.isna(row["email_consent_source"])
    else:
        assert row["email_consent_at"] == granted_at
        assert row["email_consent_source"] == "shop"


def test_sms_follows_the_same_rules_independently_of_email() -> None:
    consent = customer_consent(
        records_frame(
            {"customer_id": "c1", "sms_opt_in": True, "sms_opt_in_confirmed_at": T},
            {"customer_id": "c2", "sms_opt_in": True, "sms_opt_in_confirmed_at": T},
            {"customer_id": "c2", "sms_opt_in": False, "seen_at": T + DAY},
            {"customer_id": "c3", "sms_opt_in": True},
            {"customer_id": "c4", "sms_opt_in": False, "seen_at": None},
            {"customer_id": "c4", "sms_opt_in": True, "sms_opt_in_confirmed_at": T},
        )
    )
    assert consent["sms_consent"].tolist() == [True, False, False, False]
    assert consent.loc["c1", "sms_consent_at"] == T
    assert not consent["email_consent"].any()


def test_ads_opt_out_anywhere_wins() -> None:
    consent = customer_consent(
        records_frame(
            {"customer_id": "c1", "ads_opt_out": False},
            {"customer_id": "c1", "ads_opt_out": True, "seen_at": T - 100 * DAY},
            {"customer_id": "c2", "ads_opt_out": False},
            {"customer_id": "c3"},
        )
    )
    assert consent["ads_consent"].tolist() == [False, True, True]


def test_source_of_the_latest_confirmed_opt_in_with_trust_breaking_ties() -> None:
    consent = customer_consent(
        records_frame(
            opt_in(T + DAY, customer_id="c1", source="crm", trust=5),
            opt_in(T + 2 * DAY, customer_id="c1", source="newsletter", trust=1),
            opt_in(T, customer_id="c2", source="newsletter", trust=1),
            opt_in(T, customer_id="c2", source="crm", trust=5),
            opt_in(T, customer_id="c2", source="app", trust=5),
        )
    )
    assert consent.loc["c1", "email_consent_source"] == "newsletter"
    assert consent.loc["c1", "email_consent_at"] == T + 2 * DAY
    assert consent.loc["c2", "email_consent_source"] == "app"


def test_consent_columns_in_golden_profiles() -> None:
    profiles = golden_profiles(
        records_frame(
            opt_in(T, customer_id="c1"),
            opt_out(T + DAY, customer_id="c2"),
            {"customer_id": "c2", "ads_opt_out": True},
        )
    )
    assert profiles["email_consent"].tolist() == [True, False]
    assert profiles["email_consent_at"].tolist()[0] == T
    assert profiles["ads_consent"].tolist() == [True, False]
    assert {c: str(profiles[c].dtype) for c in CONSENT_DTYPES} == CONSENT_DTYPES


def test_customer_consent_shape_and_types() -> None:
    consent = customer_consent(records_frame({"customer_id": "b"}, {"customer_id": "a"}))
    assert list(consent.index) == ["a", "b"]
    assert {c: str(t) for c, t in consent.dtypes.items()} == CONSENT_DTYPES
    empty = customer_consent(records_frame({}).iloc[:0])
    assert empty.empty
    assert {c: str(t) for c, t in empty.dtypes.items()} == CONSENT_DTYPES


def test_campaign_unsubscribes_and_complaints_withdraw_consent() -> None:
    from cdp_assets.contracts.golden_profile import CONSENT_DTYPES
    from cdp_assets.identity.consent import apply_campaign_opt_outs

    at = pd.Timestamp("2026-05-01", tz="UTC")
    profiles = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "email_consent": [True, True, False, True],
            "email_consent_at": [at, at, pd.NaT, at],
            "email_consent_source": ["shop", "shop", None, "shop"],
            "sms_consent": [True, False, False, True],
            "sms_consent_at": [at, pd.NaT, pd.NaT, at],
            "sms_consent_source": ["crm", None, None, "crm"],
            "ads_consent": [True, True, True, True],
        }
    ).astype(CONSENT_DTYPES | {"customer_id": "string"})
    opt_outs = pd.DataFrame(
        {
            # a unsubscribed from email after opting in; b's complaint predates a newer
            # confirmed opt-in (consent stands); c had no consent; d opted out of ads and,
            # at the very moment of the opt-in, of SMS (a tie goes to the opt-out).
            "customer_id": ["a", "b", "c", "d", "d"],
            "channel": ["email", "email", "email", "ads", "sms"],
            "occurred_at": pd.to_datetime(
                ["2026-06-01", "2026-04-01", "2026-06-01", "2026-06-01", "2026-05-01"], utc=True
            ),
        }
    )
    out = apply_campaign_opt_outs(profiles, opt_outs).set_index("customer_id")
    assert out["email_consent"].tolist() == [False, True, False, True]
    assert pd.isna(out.loc["a", "email_consent_at"]) and pd.isna(
        out.loc["a", "email_consent_source"]
    )
    assert out.loc["b", "email_consent_at"] == at
    assert out["sms_consent"].tolist() == [True, False, False, False]
    assert out["ads_consent"].tolist() == [True, True, True, False]
    assert {c: str(t) for c, t in out.dtypes.items() if c in CONSENT_DTYPES} == CONSENT_DTYPES
    assert apply_campaign_opt_outs(profiles, opt_outs.iloc[:0]) is profiles
