"""activation.audience_selection.apply_consent: every consent × address × suppression combination."""

from __future__ import annotations

import pandas as pd
import pytest

from cdp_assets.activation.audience_selection import (
    CHANNEL_EXCLUSION_REASONS,
    EXCLUSION_REASONS,
    apply_consent,
    exclusion_counts,
)

NA = pd.NA
EMAIL = "ann@example.com"
PHONE = "+4915973432868"


def _members(rows: list[dict[str, object]]) -> pd.DataFrame:
    """Members with every column apply_consent reads, typed as customer_360 types them."""
    defaults: dict[str, object] = {
        "email": None,
        "phone": None,
        "first_name": "Ann",
        "email_consent": NA,
        "sms_consent": NA,
        "ads_consent": NA,
        "suppressed": False,
    }
    frame = pd.DataFrame([{**defaults, **row} for row in rows])
    return frame.astype(
        {
            "customer_id": "string",
            "email": "string",
            "phone": "string",
            "first_name": "string",
            "email_consent": "boolean",
            "sms_consent": "boolean",
            "ads_consent": "boolean",
            "suppressed": "boolean",
        }
    )


def _check(members: pd.DataFrame, channel: str, expected: dict[str, str | None]) -> None:
    """`expected`: customer_id → reason, None for the eligible."""
    eligible, excluded = apply_consent(members, channel)
    assert eligible["customer_id"].tolist() == [c for c, r in expected.items() if r is None]
    assert excluded.columns.tolist() == ["customer_id", "reason"]
    assert dict(zip(excluded["customer_id"], excluded["reason"], strict=True)) == {
        c: r for c, r in expected.items() if r is not None
    }
    assert excluded["customer_id"].tolist() == sorted(excluded["customer_id"])
    assert len(eligible) + len(excluded) == len(members)


# (id, suppressed, email, email_consent, expected reason)
EMAIL_MATRIX: list[tuple[str, bool, str | None, object, str | None]] = [
    ("e01", False, EMAIL, True, None),
    ("e02", False, EMAIL, False, "email_not_confirmed"),
    ("e03", False, EMAIL, NA, "email_not_confirmed"),
    ("e04", False, None, True, "no_email"),
    ("e05", False, None, False, "no_email"),
    ("e06", False, None, NA, "no_email"),
    ("e07", True, EMAIL, True, "erased_or_suppressed"),
    ("e08", True, EMAIL, False, "erased_or_suppressed"),
    ("e09", True, EMAIL, NA, "erased_or_suppressed"),
    ("e10", True, None, True, "erased_or_suppressed"),
    ("e11", True, None, False, "erased_or_suppressed"),
    ("e12", True, None, NA, "erased_or_suppressed"),
    ("e13", False, "   ", True, "no_email"),  # blank is no address
]


def test_email_matrix() -> None:
    members = _members(
        [
            {"customer_id": c, "suppressed": s, "email": e, "email_consent": consent}
            for c, s, e, consent, _ in EMAIL_MATRIX
        ]
    )
    _check(members, "email", {c: reason for c, *_, reason in EMAIL_MATRIX})


# (id, suppressed, phone, sms_consent, expected reason)
SMS_MATRIX: list[tuple[str, bool, str | None, object, str | None]] = [
    ("s01", False, PHONE, True, None),
    ("s02", False, PHONE, False, "no_sms_opt_in"),
    ("s03", False, PHONE, NA, "no_sms_opt_in"),
    ("s04", False, None, True, "no_phone"),
    ("s05", False, None, False, "no_phone"),
    ("s06", False, None, NA, "no_phone"),
    ("s07", True, PHONE, True, "erased_or_suppressed"),
    ("s08", True, PHONE, False, "erased_or_suppressed"),
    ("s09", True, PHONE, NA, "erased_or_suppressed"),
    ("s10", True, None, True, "erased_or_suppressed"),
    ("s11", True, None, False, "erased_or_suppressed"),
    ("s12", True, None, NA, "erased_or_suppressed"),
]


def test_sms_matrix() -> None:
    members = _members(
        [
            {"customer_id": c, "suppressed": s, "phone": p, "sms_consent": consent}
            for c, s, p, consent, _ in SMS_MATRIX
        ]
    )
    _check(members, "sms", {c: reason for c, *_, reason in SMS_MATRIX})


# (id, suppressed, email, phone, ads_consent, expected reason)
ADS_MATRIX: list[tuple[str, bool, str | None, str | None, object, str | None]] = [
    ("a01", False, EMAIL, PHONE, True, None),
    ("a02", False, EMAIL, PHONE, NA, None),
    ("a03", False, EMAIL, PHONE, False, "ads_opted_out"),
    ("a04", False, EMAIL, None, True, None),
    ("a05", False, EMAIL, None, NA, None),
    ("a06", False, EMAIL, None, False, "ads_opted_out"),
    ("a07", False, None, PHONE, True, None),
    ("a08", False, None, PHONE, NA, None),
    ("a09", False, None, PHONE, False, "ads_opted_out"),
    ("a10", False, None, None, True, "no_email_or_phone"),
    ("a11", False, None, None, NA, "no_email_or_phone"),
    ("a12", False, None, None, False, "ads_opted_out"),
    ("a13", True, EMAIL, PHONE, True, "erased_or_suppressed"),
    ("a14", True, EMAIL, PHONE, NA, "erased_or_suppressed"),
    ("a15", True, EMAIL, PHONE, False, "erased_or_suppressed"),
    ("a16", True, EMAIL, None, True, "erased_or_suppressed"),
    ("a17", True, EMAIL, None, NA, "erased_or_suppressed"),
    ("a18", True, EMAIL, None, False, "erased_or_suppressed"),
    ("a19", True, None, PHONE, True, "erased_or_suppressed"),
    ("a20", True, None, PHONE, NA, "erased_or_suppressed"),
    ("a21", True, None, PHONE, False, "erased_or_suppressed"),
    ("a22", True, None, None, True, "erased_or_suppressed"),
    ("a23", True, None, None, NA, "erased_or_suppressed"),
    ("a24", True, None, None, False, "erased_or_suppressed"),
    ("a25", False, "not-an-email", "", True, "no_email_or_phone"),  # nothing hashable
]


def test_ads_matrix() -> None:
    members = _members(
        [
            {"customer_id": c, "suppressed": s, "email": e, "phone": p, "ads_consent": consent}
            for c, s, e, p, consent, _ in ADS_MATRIX
        ]
    )
    _check(members, "ads", {c: reason for c, *_, reason in ADS_MATRIX})


def test_consent_of_one_channel_does_not_open_another() -> None:
    members = _members(
        [
            {"customer_id": "c1", "email": EMAIL, "phone": PHONE, "sms_consent": True},
            {"customer_id": "c2", "email": EMAIL, "phone": PHONE, "email_consent": True},
        ]
    )
    _check(members, "email", {"c1": "email_not_confirmed", "c2": None})
    _check(members, "sms", {"c1": None, "c2": "no_sms_opt_in"})


def test_untyped_frames_with_none_and_a_null_suppressed_flag() -> None:
    # object columns holding None, as a plain pandas frame builds them
    members = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4"],
            "email": [EMAIL, EMAIL, EMAIL, None],
            "phone": [None, None, None, None],
            "email_consent": [True, None, True, True],
            "sms_consent": [None, None, None, None],
            "ads_consent": [None, None, None, None],
            "suppressed": [False, False, None, False],
        }
    )
    # a null `suppressed` fails closed: the person is not sent
    _check(
        members,
        "email",
        {"c1": None, "c2": "email_not_confirmed", "c3": "erased_or_suppressed", "c4": "no_email"},
    )


def test_eligible_keeps_every_column_and_counts_cover_the_channel() -> None:
    members = _members(
        [
            {"customer_id": "c1", "email": EMAIL, "email_consent": True},
            {"customer_id": "c2", "email": None, "email_consent": True},
            {"customer_id": "c3", "email": EMAIL, "suppressed": True},
        ]
    ).assign(loyalty_points=pd.array([10, 20, 30], dtype="Int64"))
    eligible, excluded = apply_consent(members, "email")
    assert eligible.columns.tolist() == members.columns.tolist()
    assert eligible["loyalty_points"].tolist() == [10]
    assert exclusion_counts(excluded, "email") == {
        "erased_or_suppressed": 1,
        "no_email": 1,
        "email_not_confirmed": 0,
    }
    assert exclusion_counts(excluded.iloc[0:0], "sms") == dict.fromkeys(
        CHANNEL_EXCLUSION_REASONS["sms"], 0
    )


def test_reason_codes_are_stable_and_ordered() -> None:
    assert EXCLUSION_REASONS == (
        "erased_or_suppressed",
        "no_email",
        "email_not_confirmed",
        "no_phone",
        "no_sms_opt_in",
        "ads_opted_out",
        "no_email_or_phone",
    )
    for reasons in CHANNEL_EXCLUSION_REASONS.values():
        positions = [EXCLUSION_REASONS.index(r) for r in reasons]
        assert positions == sorted(positions)


def test_bad_channel_and_missing_columns_are_refused() -> None:
    members = _members([{"customer_id": "c1", "email": EMAIL}])
    with pytest.raises(ValueError, match="unknown channel"):
        apply_consent(members, "fax")
    with pytest.raises(ValueError, match="suppressed"):
        apply_consent(members.drop(columns="suppressed"), "email")
    with pytest.raises(ValueError, match="sms_consent"):
        apply_consent(members.drop(columns="sms_consent"), "sms")
