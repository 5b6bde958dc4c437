"""Phone numbers: E.164, invalid and fake numbers, and agreement with phonenumbers."""

from __future__ import annotations

import random

import pandas as pd
import phonenumbers
import pytest

from cdp_assets.quality.phones import _slow_parse, is_fake_digits, normalise_phones, phone_region


def one(raw: str, region: str | None) -> tuple[object, object]:
    checked = normalise_phones(pd.Series([raw]), region)
    return checked.values.iloc[0], checked.rule.iloc[0]


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("138 0013 8000", "CN", "+8613800138000"),
        ("+86 138 0013 8000", "US", "+8613800138000"),
        ("020 7946 0018", "GB", "+442079460018"),
        ("+44 (0) 20 7946 0018", "US", "+442079460018"),
        ("0044 20 7946 0018", "GB", "+442079460018"),  # IDD prefix: phonenumbers itself
        ("tel. 020 7946 0018 ext. 12", "GB", "+442079460018"),  # extension dropped
        ("(212) 555-0123", "US", "+12125550123"),
        ("1-212-555-0123", "US", "+12125550123"),
        ("212.555.0123", "US", "+12125550123"),
        ("+1 212 555 0123", "GB", "+12125550123"),
        ("030 901820", "DE", "+4930901820"),
        ("01 42 68 53 00", "FR", "+33142685300"),
        ("(02) 9374 4000", "AU", "+61293744000"),
    ],
)
def test_numbers_become_e164(raw: str, region: str, e164: str) -> None:
    assert one(raw, region) == (e164, pd.NA)


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("(555) 867-5309", "US"),  # 555 is not an assigned US area code
        ("12345", "US"),
        ("call me", "US"),
        ("020 7946", "GB"),
        ("+999 2613 4870", "US"),  # no such country code
        ("020 7946 0018", None),  # national number without a region
    ],
)
def test_invalid_numbers(raw: str, region: str | None) -> None:
    assert one(raw, region) == (pd.NA, "invalid_phone")


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("0000000000", "US"),
        ("5555555555", "US"),
        ("1234567890", "US"),
        ("9876543210", "US"),
        ("(555) 123-4567", "US"),  # contains the run 1234567
        ("+1 212 000 0000", "US"),  # mostly one digit
        ("+44 7777 777777", "GB"),
        ("138 8888 8888", "CN"),
    ],
)
def test_fake_numbers(raw: str, region: str) -> None:
    assert one(raw, region) == (pd.NA, "fake_phone")


def test_fake_digit_shapes() -> None:
    digits = pd.Series(["1111111", "2125550123", "12345678", "7890123", "98765", None])
    assert is_fake_digits(digits).tolist() == [True, False, True, True, False, False]


def test_rows_are_read_in_their_own_region() -> None:
    raw = pd.Series(["020 7946 0018", "020 7946 0018", "138 0013 8000", None])
    region = pd.Series(["GB", "US", "CN", "GB"])
    checked = normalise_phones(raw, region)
    assert checked.values.tolist() == ["+442079460018", pd.NA, "+8613800138000", pd.NA]
    assert checked.rule.tolist() == [pd.NA, "invalid_phone", pd.NA, pd.NA]


def test_phone_region_falls_back_to_the_default() -> None:
    country = pd.Series(["GB", None, "XX", "CN"], dtype="string")
    assert phone_region(country, "US").tolist() == ["GB", "US", "US", "CN"]
    assert phone_region(None, "DE") == "DE"


def _examples(region: str) -> list[str]:
    found = []
    for kind in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
    ):
        number = phonenumbers.example_number_for_type(region, kind)
        if number is not None:
            found.append(phonenumbers.national_significant_number(number))
    return found


def test_fast_path_agrees_with_phonenumbers() -> None:
    """Valid, invalid, mistyped and oddly written numbers in several regions: the vectorised
    parse gives exactly phonenumbers' verdict and E.164."""
    rng = random.Random(7)
    regions = [
        "US",
        "CA",
        "GB",
        "DE",
        "FR",
        "CN",
        "AU",
        "IT",
        "NL",
        "IN",
        "MX",
        "RU",
        "KZ",
        "BR",
        "PR",
        "JM",
    ]
    samples: list[tuple[str, str]] = []
    for _ in range(1500):
        region = rng.choice(regions)
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        examples = _examples(region)
        if examples and rng.random() < 0.7:
            digits = list(rng.choice(examples))
            for _ in range(rng.randint(0, 2)):
                digits[rng.randrange(len(digits))] = rng.choice("0123456789")
            if rng.random() < 0.15:
                digits.pop()
            nsn = "".join(digits)
            style = rng.random()
            if style < 0.3:
                text = f"+{metadata.country_code} {nsn}"
            elif style < 0.55:
                text = (metadata.national_prefix or "") + nsn
            elif style < 0.65:
                text = f"{metadata.country_code}{nsn}"
            elif style < 0.75:
                text = f"+{metadata.country_code} (0) {nsn}"
            else:
                text = nsn
        else:
            text = "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 14)))
            if rng.random() < 0.3:
                text = "+" + text
        spaced = "".join(c + (rng.choice(" -.()/") if rng.random() < 0.15 else "") for c in text)
        samples.append((spaced, region))
    checked = normalise_phones(
        pd.Series([s[0] for s in samples]), pd.Series([s[1] for s in samples])
    )
    compared = 0
    for (text, region), value, rule in zip(samples, checked.values, checked.rule, strict=True):
        if not pd.isna(rule) and rule == "fake_phone":
            continue
        valid, e164, _ = _slow_parse(text, region)
        assert (None if pd.isna(value) else value) == (e164 if valid else None), (text, region)
        compared += 1
    assert compared > 1000
