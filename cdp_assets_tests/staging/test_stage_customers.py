"""`stage_source` on customers: names, phones and postal codes by country, consent, versions,
shared identifiers."""

from __future__ import annotations

import pandas as pd

from cdp_assets.staging import stage_source
from cdp_assets_tests.staging.frames import (
    STAGED_AT,
    T0,
    assert_conserved,
    assert_contracts,
    issues_of,
    make_config,
    raw_frame,
)

CRM = {
    "name": "crm",
    "kind": "customers",
    "default_country": "GB",
    "timezone": "Europe/London",
    "columns": {
        "source_record_id": "cid",
        "email": "email",
        "phone": "tel",
        "first_name": "fn",
        "last_name": "ln",
        "country": "ctry",
        "postal_code": "zip",
        "birth_date": "dob",
        "email_opt_in": "optin",
        "email_opt_in_confirmed_at": "optin_at",
        "sms_opt_in": "sms",
        "updated_at": "upd",
        "loyalty_points": "pts",
    },
    "date_formats": {"birth_date": "%d/%m/%Y"},
}


def customer(cid: str | None, **values: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "cid": cid,
        "email": f"{cid}@shop-customer.com" if cid else None,
        "tel": None,
        "fn": "Ann",
        "ln": "Lee",
        "ctry": "GB",
        "zip": None,
        "dob": None,
        "optin": None,
        "optin_at": None,
        "sms": None,
        "upd": "2026-01-01 00:00:00",
        "pts": None,
    }
    row.update(values)
    return row


def stage(rows: list[dict[str, str | None]], **settings: object):
    config = make_config(CRM, **settings)
    raw = raw_frame(rows)
    return raw, stage_source(raw, config.sources[0], config, STAGED_AT)


def test_customer_fields_are_normalised() -> None:
    raw, result = stage(
        [
            customer(
                "c1",
                fn=" 王小明 ",
                ln="",
                ctry="China",
                tel="138 0013 8000",
                zip="100000",
                dob="12/04/1985",
                pts="1,250",
            ),
            customer(
                "c2", fn="Zoë", ctry="uk", tel="020 7946 0018", zip="sw1a1aa", dob="1990-05-01"
            ),
            customer("c3", ctry=None, tel="07911 203948", zip="ec1a 1bb"),  # source default: GB
        ]
    )
    assert_contracts(result, "customers")
    assert_conserved(result, raw)
    staged = result.staged
    assert staged["first_name"].tolist() == ["王小明", "Zoë", "Ann"]
    assert staged["last_name"].tolist() == [pd.NA, "Lee", "Lee"]
    assert staged["country"].tolist() == ["CN", "GB", pd.NA]
    assert staged["phone"].tolist() == ["+8613800138000", "+442079460018", "+447911203948"]
    assert staged["postal_code"].tolist() == ["100000", "SW1A 1AA", "EC1A 1BB"]
    assert staged["birth_date"].tolist() == [
        pd.Timestamp("1985-04-12"),
        pd.Timestamp("1990-05-01"),
        pd.NaT,
    ]
    assert staged["loyalty_points"].tolist() == [1250, pd.NA, pd.NA]
    assert result.issues.empty


def test_bad_optional_values_are_nulled_with_issues() -> None:
    raw, result = stage(
        [
            customer(
                "c1",
                email="test@x.com",
                tel="0000000000",
                dob="30/02/1985",
                ctry="Narnia",
                zip="12345",
            ),
            customer("c2", zip="XX", dob="01/01/2020", pts="many"),
            customer("c3", tel="(555) 867-5309", ctry="US", email="bo@mailinator.com"),
        ]
    )
    assert result.quarantine.empty
    assert issues_of(result) == [
        ("c1", "email", "test_email", "nulled"),
        ("c1", "phone", "fake_phone", "nulled"),
        ("c1", "birth_date", "invalid_date", "nulled"),
        ("c1", "country", "invalid_country", "nulled"),
        ("c2", "birth_date", "implausible_birth_date", "nulled"),
        ("c2", "postal_code", "invalid_postal_code", "nulled"),
        ("c2", "loyalty_points", "invalid_integer", "nulled"),
        ("c3", "email", "disposable_email", "nulled"),
        ("c3", "phone", "invalid_phone", "nulled"),
    ]
    reasons = dict(zip(result.issues["rule"], result.issues["reason"], strict=False))
    assert reasons["invalid_postal_code"] == (
        "postal_code 'XX' does not fit the postal code format of GB"
    )
    assert reasons["invalid_phone"] == ("phone '(555) 867-5309' is not a valid phone number for US")
    assert reasons["implausible_birth_date"] == (
        "birth_date '01/01/2020' gives an age outside 13–110 years on 2026-11-21"
    )
    assert reasons["invalid_date"] == (
        "birth_date '30/02/1985' is not a valid date/time (expected format '%d/%m/%Y' or ISO-8601)"
    )
    # A postal code with an unknown country is kept as written.
    assert result.staged["postal_code"].tolist()[0] == "12345"


def test_double_opt_in() -> None:
    raw, result = stage(
        [
            customer("c1", optin="yes", optin_at="2026-01-01T10:00:00Z"),
            customer("c2", optin="true"),
            customer("c3", optin="no"),
            customer("c4", optin=None),
            customer("c5", optin="y", optin_at="2030-01-01"),  # confirmation in the future: nulled
            customer("c6", sms="1"),  # sms_opt_in_confirmed_at is not mapped: no proof
        ]
    )
    staged = result.staged.set_index("record_id")
    assert staged["email_opt_in"].tolist() == [True, False, False, pd.NA, False, pd.NA]
    assert staged["sms_opt_in"].tolist() == [pd.NA] * 5 + [False]
    assert issues_of(result) == [
        ("c2", "email_opt_in", "unconfirmed_opt_in", "set_false"),
        ("c5", "email_opt_in", "unconfirmed_opt_in", "set_false"),
        ("c5", "email_opt_in_confirmed_at", "future_date", "nulled"),
        ("c6", "sms_opt_in", "unconfirmed_opt_in", "set_false"),
    ]
    assert result.issues["reason"].iloc[0] == (
        "email_opt_in 'true' has no email_opt_in_confirmed_at (double opt-in): set to false"
    )


def test_versions_prefer_the_larger_updated_at() -> None:
    config = make_config(CRM)
    old_file = raw_frame(
        [
            customer("c1", fn="Newest", upd="2026-05-01 00:00:00"),
            customer("c2", fn="Old", upd="2026-01-01 00:00:00"),
        ],
        file="a.csv",
        batch="b1",
        ingested_at=T0,
    )
    new_file = raw_frame(
        [
            customer("c1", fn="Stale", upd="2026-04-01 00:00:00"),
            customer("c2", fn="New", upd="2026-02-01 00:00:00"),
            customer("c3", fn="NoDate", upd=None),
        ],
        file="b.csv",
        batch="b2",
        ingested_at=T0 + pd.Timedelta(days=1),
    )
    no_date_again = raw_frame(
        [customer("c3", fn="NoDateLater", upd=None)],
        file="c.csv",
        batch="b3",
        ingested_at=T0 + pd.Timedelta(days=2),
    )
    raw = pd.concat([old_file, new_file, no_date_again], ignore_index=True)
    result = stage_source(raw, config.sources[0], config, STAGED_AT)
    assert_conserved(result, raw)
    staged = result.staged.set_index("record_id")
    assert staged["first_name"].to_dict() == {"c1": "Newest", "c2": "New", "c3": "NoDateLater"}
    superseded = result.issues[result.issues["rule"] == "superseded_record"]
    assert list(zip(superseded["record_id"], superseded["file"], strict=True)) == [
        ("c2", "a.csv"),
        ("c1", "b.csv"),
        ("c3", "b.csv"),
    ]
    assert (superseded["field"] == "source_record_id").all()


def test_shared_identifiers_are_flagged_and_kept() -> None:
    raw, result = stage(
        [
            customer("c1", email="Ann.Lee@gmail.com", tel="020 7946 0018"),
            customer("c2", email="annlee+shop@googlemail.com", tel="+44 20 7946 0018"),
            customer("c3", email="other@shop-customer.com", tel="020 7946 0019"),
            customer("c4", email="annlee@gmail.com", tel="020 7946 0020"),
        ]
    )
    flagged = result.issues[result.issues["rule"] == "duplicate_identifier"]
    assert list(zip(flagged["record_id"], flagged["field"], flagged["action"], strict=True)) == [
        ("c1", "email", "flagged"),
        ("c1", "phone", "flagged"),
        ("c2", "email", "flagged"),
        ("c2", "phone", "flagged"),
        ("c4", "email", "flagged"),
    ]
    assert flagged["reason"].iloc[0] == (
        "email key 'annlee@gmail.com' is shared by 3 records of this source (more than 1)"
    )
    assert flagged["value"].tolist()[:2] == ["Ann.Lee@gmail.com", "020 7946 0018"]
    staged = result.staged.set_index("record_id")
    assert staged.loc["c2", "email"] == "annlee+shop@googlemail.com"  # value kept
    assert staged.loc["c2", "phone"] == "+442079460018"

    _, relaxed = stage(
        [customer("c1", email="a.b@gmail.com"), customer("c2", email="ab@gmail.com")],
        quality={"duplicate_identifier_limit": 2},
    )
    assert relaxed.issues.empty


def test_superseded_versions_do_not_count_as_shared_identifiers() -> None:
    raw, result = stage(
        [
            customer("c1", email="ann@shop-customer.com"),
            customer("c1", email="ann@shop-customer.com"),
        ]
    )
    assert issues_of(result) == [("c1", "source_record_id", "superseded_record", "superseded")]


def test_missing_id_quarantines_and_nothing_else_is_reported_for_the_row() -> None:
    raw, result = stage([customer(None, email="foo@")])
    assert result.quarantine["rule"].tolist() == ["missing_required"]
    assert result.quarantine["reason"].tolist() == ["source_record_id is empty"]
    assert result.issues.empty
    assert_conserved(result, raw)
