"""activation.consent_audit: export files re-checked against consent, row by row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cdp_assets.activation.ad_hashing import hash_email, hash_phone
from cdp_assets.activation.consent_audit import rows_without_consent
from cdp_assets_tests.activation.test_consent_matrix import _members

ANN, BOB, CY = "ann@example.com", "bob@example.com", "cy@example.com"
ANN_PHONE, BOB_PHONE = "+4915973432868", "+4915112345678"


def profiles() -> pd.DataFrame:
    return _members(
        [
            # Ann agreed to everything; Bob to nothing (opted out of ads); Cy only to email.
            {"customer_id": "a", "email": ANN, "phone": ANN_PHONE, "email_consent": True,
             "sms_consent": True, "ads_consent": True},
            {"customer_id": "b", "email": BOB, "phone": BOB_PHONE, "email_consent": False,
             "sms_consent": False, "ads_consent": False},
            {"customer_id": "c", "email": CY, "email_consent": True, "sms_consent": False,
             "ads_consent": True, "suppressed": True},
        ]
    )  # fmt: skip


def write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_files_with_only_consented_people_pass(tmp_path: Path) -> None:
    email = write(tmp_path / "email.csv", pd.DataFrame({"email": [ANN]}))
    sms = write(tmp_path / "sms.csv", pd.DataFrame({"phone": [ANN_PHONE]}))
    ads = write(
        tmp_path / "ads.csv",
        pd.DataFrame({"email_sha256": [hash_email(ANN)], "phone_sha256": [None]}),
    )
    files = [("email", email), ("sms", sms), ("ads", ads)]
    assert rows_without_consent(files, profiles()) == 0


def test_each_row_without_consent_counts_once(tmp_path: Path) -> None:
    # Bob never agreed to email; Cy is suppressed (erased); a stranger is not a customer.
    email = write(tmp_path / "email.csv", pd.DataFrame({"email": [ANN, BOB, CY, "x@y.com"]}))
    sms = write(tmp_path / "sms.csv", pd.DataFrame({"phone": [ANN_PHONE, BOB_PHONE]}))
    # Row 2 has Ann's email hash but Bob's phone hash: one bad hash fails the row.
    ads = write(
        tmp_path / "ads.csv",
        pd.DataFrame(
            {
                "email_sha256": [hash_email(ANN), hash_email(ANN), hash_email(BOB)],
                "phone_sha256": [hash_phone(ANN_PHONE), hash_phone(BOB_PHONE), None],
            }
        ),
    )
    assert rows_without_consent([("email", email)], profiles()) == 3
    assert rows_without_consent([("sms", sms)], profiles()) == 1
    assert rows_without_consent([("ads", ads)], profiles()) == 2
    files = [("email", email), ("sms", sms), ("ads", ads)]
    assert rows_without_consent(files, profiles()) == 6


def test_missing_identifiers_fail_a_row_unless_it_is_an_empty_ads_hash(tmp_path: Path) -> None:
    email = write(tmp_path / "email.csv", pd.DataFrame({"email": [ANN, None]}))
    ads = write(
        tmp_path / "ads.csv",
        pd.DataFrame({"email_sha256": [None, hash_email(BOB)], "phone_sha256": [None, None]}),
    )
    # The email row without an address goes to nobody who agreed; the ads row without any
    # hash names nobody; Bob's hash is an opted-out person's.
    assert rows_without_consent([("email", email)], profiles()) == 1
    assert rows_without_consent([("ads", ads)], profiles()) == 1


def test_profiles_read_in_several_arrow_chunks_are_audited_alike(tmp_path: Path) -> None:
    """customer_360 read from the warehouse may hold a text column in several Arrow chunks."""
    import pyarrow as pa

    chunked = profiles()
    for column in ("email", "phone"):
        values = chunked[column].astype("string").tolist()
        arrays = [values[:1], values[1:]]
        chunked[column] = pd.arrays.ArrowStringArray(
            pa.chunked_array([pa.array(a, pa.string(), from_pandas=True) for a in arrays])
        )
    email = write(tmp_path / "email.csv", pd.DataFrame({"email": [ANN, BOB, CY]}))
    sms = write(tmp_path / "sms.csv", pd.DataFrame({"phone": [ANN_PHONE, BOB_PHONE]}))
    ads = write(
        tmp_path / "ads.csv",
        pd.DataFrame(
            {"email_sha256": [hash_email(ANN), hash_email(BOB)], "phone_sha256": [None, None]}
        ),
    )
    files = [("email", email), ("sms", sms), ("ads", ads)]
    assert rows_without_consent(files, chunked) == rows_without_consent(files, profiles()) == 4
