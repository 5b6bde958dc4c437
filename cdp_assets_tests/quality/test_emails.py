"""Email addresses: normalisation, matching keys, test/disposable/invalid addresses."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from cdp_assets.quality.emails import _slow_validate, email_keys, normalise_emails


def check(*addresses: str | None, **kwargs: object) -> list[tuple[object, object, object]]:
    checked = normalise_emails(pd.Series(list(addresses), dtype=object), **kwargs)
    return list(
        zip(checked.values.tolist(), checked.key.tolist(), checked.rule.tolist(), strict=True)
    )


@pytest.mark.parametrize(
    ("raw", "value", "key"),
    [
        ("J.Doe+news@GoogleMail.com", "j.doe+news@googlemail.com", "jdoe@gmail.com"),
        (" jdoe@gmail.com ", "jdoe@gmail.com", "jdoe@gmail.com"),
        ("j.d.o.e@gmail.com", "j.d.o.e@gmail.com", "jdoe@gmail.com"),
        ("JDoe+shop+x@Gmail.com", "jdoe+shop+x@gmail.com", "jdoe@gmail.com"),
        (
            "anna.smith+orders@outlook.com",
            "anna.smith+orders@outlook.com",
            "anna.smith@outlook.com",
        ),
        ("Anna.Smith@Company.co.uk", "anna.smith@company.co.uk", "anna.smith@company.co.uk"),
        ("müller@bücher.de", "müller@bücher.de", "müller@bücher.de"),
        ("wang.xiaoming@163.com", "wang.xiaoming@163.com", "wang.xiaoming@163.com"),
        ("+tag@shop.com", "+tag@shop.com", "+tag@shop.com"),
    ],
)
def test_valid_addresses_and_keys(raw: str, value: str, key: str) -> None:
    assert check(raw) == [(value, key, pd.NA)]


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("foo@", "invalid_email"),
        ("not-an-email", "invalid_email"),
        ("bad..dots@x.com", "invalid_email"),
        ('"john doe"@x.com', "invalid_email"),
        ("a@b.test", "invalid_email"),  # special-use TLD
        ("x@localhost", "invalid_email"),
        ("test@shop.de", "test_email"),
        ("test123@shop.de", "test_email"),
        ("jane@example.com", "test_email"),
        ("jane@Example.ORG", "test_email"),
        ("bob@example.net", "test_email"),
        ("noreply@shop.com", "test_email"),
        ("shop-no-reply@shop.com", "test_email"),
        ("a@a.com", "test_email"),
        ("xx@xx.net", "test_email"),
        ("bob@mailinator.com", "disposable_email"),
        ("bob@sub.mailinator.com", "disposable_email"),
        ("x@guerrillamail.com", "disposable_email"),
        ("x@10minutemail.com", "disposable_email"),
        ("x@yopmail.com", "disposable_email"),
        ("x@trashmail.com", "disposable_email"),
        ("x@tempmail.com", "disposable_email"),
    ],
)
def test_failing_addresses_are_nulled_with_their_rule(raw: str, rule: str) -> None:
    assert check(raw) == [(pd.NA, pd.NA, rule)]


def test_configured_patterns_and_domains() -> None:
    result = check(
        "qa-17@shop.com",
        "qa@shop.com",
        "x@burner.example-mail.io",
        "x@ok.io",
        test_patterns=[r"qa-\d+@shop\.com"],
        disposable_domains=["example-mail.io"],
    )
    assert [r[2] for r in result] == ["test_email", pd.NA, "disposable_email", pd.NA]


def test_empty_stays_null_without_rule() -> None:
    assert check(None) == [(pd.NA, pd.NA, pd.NA)]


def test_keys_of_plain_addresses() -> None:
    keys = email_keys(pd.Series(["a.b+c@googlemail.com", "a.b+c@web.de", None], dtype="string"))
    assert keys.tolist() == ["ab@gmail.com", "a.b@web.de", pd.NA]


def test_fast_path_agrees_with_email_validator() -> None:
    """The regex fast path accepts only what email-validator accepts, as it normalises it."""
    rng = random.Random(11)
    local_chars = "abz09._%+-ÄéßçøŁ王"
    domain_chars = "ab9-"
    samples = []
    for _ in range(3000):
        local = "".join(rng.choice(local_chars) for _ in range(rng.randint(1, 8)))
        labels = [
            "".join(rng.choice(domain_chars) for _ in range(rng.randint(1, 5)))
            for _ in range(rng.randint(1, 3))
        ]
        tld = rng.choice(["com", "de", "io", "x", "test", "c0m"])
        samples.append(f"{local}@{'.'.join(labels)}.{tld}")
    checked = normalise_emails(pd.Series(samples))
    for raw, value, rule in zip(samples, checked.values, checked.rule, strict=True):
        expected = _slow_validate(raw.lower())
        if pd.isna(rule) or rule == "invalid_email":
            assert (None if pd.isna(value) else value) == expected, raw
