"""Email addresses: syntax, test/placeholder and disposable addresses, and the matching key.

Addresses are trimmed and lower-cased. Syntax is settled per distinct value: a strict regex
accepts the ordinary addresses in one vectorised pass; only what it cannot settle (quoted
local parts, internationalised addresses, odd punctuation) goes to `email-validator`
(without DNS). Rules, first failing wins: `invalid_email`, `test_email`, `disposable_email`.

The matching key (`email_key`) folds the spellings one mailbox is known by: the `+tag` is
removed everywhere; at gmail.com/googlemail.com dots in the local part are removed too and the
domain becomes gmail.com (`J.Doe+news@GoogleMail.com` → `jdoe@gmail.com`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from email_validator import EmailNotValidError, validate_email

from cdp_assets.quality.checked import (
    STRING,
    Checked,
    UniqueValues,
    extract,
    fullmatch,
    no_rule,
)

INVALID_EMAIL = "invalid_email"
TEST_EMAIL = "test_email"
DISPOSABLE_EMAIL = "disposable_email"

# Common disposable-mail domains (subdomains of these count too); extend with
# `quality.disposable_email_domains`.
DISPOSABLE_DOMAINS: frozenset[str] = frozenset(
    {
        "mailinator.com",
        "mailinator.net",
        "mailinator.org",
        "mailinator2.com",
        "guerrillamail.com",
        "guerrillamail.net",
        "guerrillamail.org",
        "guerrillamail.biz",
        "guerrillamail.de",
        "guerrillamail.info",
        "guerrillamailblock.com",
        "sharklasers.com",
        "grr.la",
        "pokemail.net",
        "spam4.me",
        "10minutemail.com",
        "10minutemail.net",
        "10minutemail.co.uk",
        "10minemail.com",
        "20minutemail.com",
        "yopmail.com",
        "yopmail.net",
        "yopmail.fr",
        "cool.fr.nf",
        "jetable.fr.nf",
        "nospam.ze.tc",
        "nomail.xl.cx",
        "mega.zik.dj",
        "speed.1s.fr",
        "tempmail.com",
        "tempmail.net",
        "temp-mail.org",
        "temp-mail.io",
        "tempmail.dev",
        "tempmailo.com",
        "tempr.email",
        "tempinbox.com",
        "tempail.com",
        "tmpmail.org",
        "tmpmail.net",
        "tmails.net",
        "trashmail.com",
        "trashmail.net",
        "trashmail.de",
        "trashmail.me",
        "trashmail.io",
        "trash-mail.com",
        "trashmail.ws",
        "wegwerfmail.de",
        "wegwerfmail.net",
        "wegwerfmail.org",
        "einrot.com",
        "spamgourmet.com",
        "spambox.us",
        "spamdecoy.net",
        "mailnesia.com",
        "maildrop.cc",
        "mailcatch.com",
        "mintemail.com",
        "dispostable.com",
        "discard.email",
        "discardmail.com",
        "fakeinbox.com",
        "fakemailgenerator.com",
        "getnada.com",
        "nada.email",
        "throwawaymail.com",
        "throwam.com",
        "mohmal.com",
        "emailondeck.com",
        "getairmail.com",
        "mailpoof.com",
        "moakt.com",
        "mytemp.email",
        "burnermail.io",
        "33mail.com",
        "anonaddy.me",
        "inboxkitten.com",
        "mail-temp.com",
        "emailfake.com",
        "fakemail.net",
        "tempmailaddress.com",
        "mailtemp.net",
        "dropmail.me",
        "minuteinbox.com",
        "harakirimail.com",
        "mailforspam.com",
        "spamex.com",
        "mvrht.com",
        "tm.in-ulm.de",
        "incognitomail.org",
        "mailexpire.com",
        "mailmetrash.com",
        "mytrashmail.com",
        "deadaddress.com",
        "jetable.org",
        "kasmail.com",
        "linshiyouxiang.net",
        "bccto.me",
        "chacuo.net",
        "027168.com",
        "guerrillamail.to",
    }
)

# Domains that only ever hold placeholders (RFC 2606/6761 names and the usual stand-ins).
TEST_DOMAINS: frozenset[str] = frozenset(
    {
        "example.com",
        "example.org",
        "example.net",
        "example.edu",
        "test.com",
        "test.de",
        "test.org",
        "test.net",
        "domain.com",
        "yourdomain.com",
        "mydomain.com",
        "email.test",
        "sample.com",
        "fake.com",
        "nowhere.com",
        "noemail.com",
        "no-email.com",
        "nomail.com",
        "none.com",
        "invalid.com",
        "asdf.com",
        "xxx.com",
    }
)
TEST_SUFFIXES = (".example", ".test", ".invalid", ".localhost", ".local")
TEST_LOCAL_PARTS: frozenset[str] = frozenset(
    {
        "test",
        "tester",
        "testing",
        "testuser",
        "test.user",
        "test_user",
        "noreply",
        "no-reply",
        "no_reply",
        "no.reply",
        "donotreply",
        "do-not-reply",
        "do_not_reply",
        "dummy",
        "fake",
        "asdf",
        "asdfgh",
        "qwerty",
        "foo",
        "foobar",
        "nobody",
        "noemail",
        "no-email",
        "nomail",
        "none",
        "null",
        "sample",
        "example",
        "xxx",
        "xxxx",
        "mailer-daemon",
    }
)
_TEST_LOCAL_RE = r"test[0-9]*|test[._+-].*|.*no-?reply.*|.*donotreply.*"

_SPECIAL_USE_TLDS = ("arpa", "invalid", "local", "localhost", "onion", "test")
# Local parts: ASCII atext without the rare symbols, or Unicode letters and digits (RFC 6531),
# which email-validator accepts alike; anything else is left to email-validator.
_LOCAL_ATOM = r"[\p{Ll}\p{Lo}\p{Lm}\p{N}_%+\-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?"
# Ordinary addresses; special-use TLDs (RFC 6761) are excluded in a separate pass.
_FAST_EMAIL_RE2 = rf"{_LOCAL_ATOM}(?:\.{_LOCAL_ATOM})*@(?:{_LABEL}\.)+[a-z]{{2,63}}"
_GMAIL_DOMAINS = ("gmail.com", "googlemail.com")
_PARTS = r"^(?P<local>.*)@(?P<domain>[^@]+)$"


@dataclass
class EmailCheck(Checked):
    """Normalised addresses, their matching keys, and the rule each failed."""

    key: pd.Series


def _np(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False).astype(bool)


def _slow_validate(text: str) -> str | None:
    candidate = text.strip()
    if candidate.startswith("mailto:"):
        candidate = candidate[len("mailto:") :]
    if candidate.startswith("<") and candidate.endswith(">"):
        candidate = candidate[1:-1].strip()
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.normalized.lower()


def email_keys(addresses: pd.Series, parts: pd.DataFrame | None = None) -> pd.Series:
    """Matching keys of valid, lower-cased addresses (NA stays NA)."""
    parts = extract(addresses, _PARTS) if parts is None else parts
    local = parts["local"].str.replace(r"\+.*$", "", regex=True)
    domain = parts["domain"]
    gmail = domain.isin(_GMAIL_DOMAINS).fillna(False)
    if gmail.any():
        local = local.mask(gmail, local[gmail].str.replace(".", "", regex=False))
        domain = domain.mask(gmail, "gmail.com")
    key = (local + "@" + domain).astype(STRING)
    empty_local = (local == "").fillna(False)
    return key.mask(empty_local, addresses).astype(STRING)


def _is_repeated_placeholder(address: str) -> bool:
    """a@a.com, xx@xx.net, 1@1.com."""
    local, _, domain = address.partition("@")
    label = domain.split(".", 1)[0]
    return len(set(local)) == 1 and set(label) == set(local) and len(local) <= 3


def _in_domain_set(domains: pd.Series, listed: frozenset[str]) -> pd.Series:
    """Domain or any parent domain (sub.mailinator.com) in `listed`."""
    hit = domains.isin(listed).fillna(False)
    parent = domains.copy()
    for _ in range(3):
        parent = extract(parent, r"^[^.]+\.(?P<parent>.+\..+)$")["parent"]
        if parent.isna().all():
            break
        hit |= parent.isin(listed).fillna(False)
    return hit


def classify_addresses(
    addresses: pd.Series,
    test_patterns: Iterable[str] = (),
    disposable_domains: Iterable[str] = (),
    parts: pd.DataFrame | None = None,
) -> pd.Series:
    """For valid, lower-cased addresses: `test_email`, `disposable_email` or NA."""
    parts = extract(addresses, _PARTS) if parts is None else parts
    local, domain = parts["local"], parts["domain"]
    test = local.isin(TEST_LOCAL_PARTS).fillna(False)
    test |= local.str.fullmatch(f"(?:{_TEST_LOCAL_RE})").fillna(False)
    test |= domain.isin(TEST_DOMAINS).fillna(False)
    for suffix in TEST_SUFFIXES:
        test |= domain.str.endswith(suffix).fillna(False)
    short_local = (local.str.len() <= 3).fillna(False) & ~test
    if short_local.any():
        test[short_local] = [_is_repeated_placeholder(a) for a in addresses[short_local]]
    patterns = [re.compile(p, re.IGNORECASE) for p in test_patterns]
    if patterns:
        pending = addresses.notna() & ~test
        flags = [any(p.fullmatch(a) for p in patterns) for a in addresses[pending].tolist()]
        test[pending] = flags
    listed = DISPOSABLE_DOMAINS | {d.strip().lower() for d in disposable_domains}
    disposable = _in_domain_set(domain, frozenset(listed)) & ~test
    rule = no_rule(addresses.index)
    rule = rule.mask(test, TEST_EMAIL).mask(disposable, DISPOSABLE_EMAIL)
    return rule.mask(addresses.isna(), pd.NA).astype(STRING)


def normalise_emails(
    series: pd.Series,
    test_patterns: Iterable[str] = (),
    disposable_domains: Iterable[str] = (),
) -> EmailCheck:
    """Trimmed, lower-cased addresses with keys; failures nulled with their rule."""
    uv = UniqueValues.of(series)
    lowered = uv.values.str.strip().str.lower()
    arr = pa.array(lowered.array)
    fast_np = fullmatch(lowered, _FAST_EMAIL_RE2)
    # Length limits in UTF-8 bytes (never fewer than characters): conservative either way.
    fast_np &= _np(pc.less_equal(pc.binary_length(arr), 254))
    fast_np &= _np(pc.less_equal(pc.find_substring(arr, "@"), 64))
    fast_np &= ~_np(pc.match_substring(arr, "--"))  # IDNA reserved labels
    for tld in _SPECIAL_USE_TLDS:
        fast_np &= ~_np(pc.ends_with(arr, "." + tld))
    fast = pd.Series(fast_np, index=lowered.index)
    non_ascii = fast & pd.Series(fullmatch(lowered, r".*[^\x00-\x7f].*"), index=lowered.index)
    if non_ascii.any():  # lower-casing can leave a string that is not NFC
        fast[non_ascii] = [unicodedata.is_normalized("NFC", v) for v in lowered[non_ascii]]
    normalised = lowered.where(fast)
    slow = np.flatnonzero(~fast.to_numpy(bool))
    if len(slow):
        checked = [_slow_validate(v) for v in uv.values.iloc[slow].tolist()]
        normalised.iloc[slow] = pd.array(checked, dtype=STRING)
    normalised = normalised.astype(STRING)
    parts = extract(normalised, _PARTS)
    rule = no_rule(normalised.index).mask(normalised.isna(), INVALID_EMAIL)
    rule = rule.fillna(
        classify_addresses(normalised, test_patterns, disposable_domains, parts=parts)
    )
    kept = normalised.mask(rule.notna())
    key = email_keys(kept, parts=parts.where(rule.isna()))
    return EmailCheck(
        values=uv.broadcast(kept),
        rule=uv.broadcast(rule.astype(STRING)),
        key=uv.broadcast(key),
    )


__all__ = [
    "DISPOSABLE_DOMAINS",
    "DISPOSABLE_EMAIL",
    "INVALID_EMAIL",
    "TEST_EMAIL",
    "EmailCheck",
    "classify_addresses",
    "email_keys",
    "normalise_emails",
]
