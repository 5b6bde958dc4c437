"""activation.ad_hashing: normalisation and SHA-256 as ad platforms match customer lists."""

from __future__ import annotations

import hashlib

import pandas as pd
import pyarrow as pa
import pytest

from cdp_assets.activation.ad_hashing import (
    hash_email,
    hash_emails,
    hash_phone,
    hash_phones,
    normalise_email_for_ads,
    normalise_phone_for_ads,
    sha256_hex,
)

# SHA-256 of "test@example.com", checked with `printf %s test@example.com | sha256sum`.
TEST_EXAMPLE_SHA256 = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
# SHA-256 of "+16502530000".
US_PHONE_SHA256 = "3ad9f10d73829a714b1383221691d4dbf08484f3ceeae884f53053a1c7bb0a92"


def test_sha256_known_vector() -> None:
    assert sha256_hex("test@example.com") == TEST_EXAMPLE_SHA256
    assert sha256_hex("test@example.com") == hashlib.sha256(b"test@example.com").hexdigest()
    assert hash_email("  Test@Example.com ") == TEST_EXAMPLE_SHA256


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("  Test.User@GMail.com ", "testuser@gmail.com"),
        ("first.last@googlemail.com", "firstlast@googlemail.com"),
        ("First.Last@Example.com", "first.last@example.com"),  # only Gmail ignores dots
        ("first.last+news@gmail.com", "firstlast+news@gmail.com"),  # +tags are kept
        ("a.b@mail.gmail.com", "a.b@mail.gmail.com"),  # a subdomain is not gmail.com
    ],
)
def test_email_normalisation(raw: str, normalised: str) -> None:
    assert normalise_email_for_ads(raw) == normalised
    assert hash_email(raw) == hashlib.sha256(normalised.encode()).hexdigest()


@pytest.mark.parametrize(
    "raw", [None, "", "   ", pd.NA, float("nan"), "no-at-sign", "@x.com", "x@"]
)
def test_unusable_emails_give_none(raw: object) -> None:
    assert normalise_email_for_ads(raw) is None
    assert hash_email(raw) is None


def test_phone_normalisation_and_hash() -> None:
    assert normalise_phone_for_ads("+1 (650) 253-0000") == "+16502530000"
    assert hash_phone("+1 (650) 253-0000") == US_PHONE_SHA256
    assert hash_phone("+16502530000") == hashlib.sha256(b"+16502530000").hexdigest()
    assert normalise_phone_for_ads("(650) 253-0000") == "+16502530000"  # default region US
    assert normalise_phone_for_ads("0159 73432868", default_region="DE") == "+4915973432868"
    assert normalise_phone_for_ads(" +4915973432868 ") == "+4915973432868"


@pytest.mark.parametrize("raw", [None, "", "  ", pd.NA, "12", "not a number", "+1 000"])
def test_unusable_phones_give_none(raw: object) -> None:
    assert normalise_phone_for_ads(raw) is None
    assert hash_phone(raw) is None


def test_vectorised_hashes_keep_the_index_and_nulls() -> None:
    emails = pd.Series(
        ["test@example.com", None, "T.E.S.T@gmail.com", "test@example.com"], index=[5, 6, 7, 8]
    )
    hashed = hash_emails(emails)
    assert str(hashed.dtype) == "string"
    assert hashed.index.tolist() == [5, 6, 7, 8]
    assert hashed.tolist() == [
        TEST_EXAMPLE_SHA256,
        pd.NA,
        hashlib.sha256(b"test@gmail.com").hexdigest(),
        TEST_EXAMPLE_SHA256,
    ]
    phones = pd.Series(["+16502530000", pd.NA, "bad"], dtype="string")
    assert hash_phones(phones).tolist() == [US_PHONE_SHA256, pd.NA, pd.NA]
    assert hash_emails(pd.Series([], dtype="string")).tolist() == []


def test_hashes_of_text_held_in_several_arrow_chunks() -> None:
    """A column read from the warehouse may hold its text in several Arrow chunks."""
    chunked = pa.chunked_array([["test@example.com", None], ["+16502530000", "test@example.com"]])
    series = pd.Series(pd.arrays.ArrowStringArray(chunked), index=[3, 1, 4, 1])
    assert hash_emails(series).tolist() == [
        TEST_EXAMPLE_SHA256,
        pd.NA,
        pd.NA,
        TEST_EXAMPLE_SHA256,
    ]
    assert hash_phones(series).tolist() == [pd.NA, pd.NA, US_PHONE_SHA256, pd.NA]
