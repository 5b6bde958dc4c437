"""Credentials in SQLAlchemy URLs: finding them (so that cdp.yaml holds none) and masking them
(so that no output, metadata or resource config shows one).

URLs are read with SQLAlchemy's own parser (`make_url`), as the engine will read them: the
password of `user:password@host`, whatever characters it holds, and query parameters that
carry a credential (`?password=`, `?sslpassword=`, ...), including the `PWD=` of an ODBC
connection string passed as `odbc_connect`. Query values are URL-decoded before they are read.
"""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus, unquote_plus

import sqlalchemy as sa

MASK = "***"
# Query parameter (or ODBC connection string) keys holding a credential, compared
# case-insensitively with `_`, `-` and spaces removed: `sslpassword`, `PWD`, `access_token`...
# A key naming a file or path (`passfile`, `sslkey_path`) holds no credential itself.
_CREDENTIAL_KEY = re.compile(r"password|passwd|pwd|secret|token|apikey|accesskey|^pass$")
_DECODE_ROUNDS = 3  # a value URL-encoded twice (odbc_connect inside a URL) is still read


def _is_credential_key(key: str) -> bool:
    normal = re.sub(r"[_\-\s]", "", key.lower())
    return not normal.endswith(("file", "path")) and bool(_CREDENTIAL_KEY.search(normal))


def _decoded(value: str) -> str:
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote_plus(value)
        if decoded == value:
            break
        value = decoded
    return value


def _connection_string_secrets(value: str) -> list[tuple[str, str]]:
    """(key, value) pairs of an ODBC-style `KEY=value;KEY=value` string that hold a credential
    (`{...}` braces around a value, as ODBC allows, are kept in the value)."""
    found = []
    for part in _decoded(value).split(";"):
        key, sep, secret = part.partition("=")
        if sep and secret.strip() and _is_credential_key(key.strip()):
            found.append((key.strip(), secret.strip()))
    return found


def _query_secrets(url: sa.URL) -> list[tuple[str, str]]:
    """(where, secret) for each credential in the URL's query parameters."""
    found = []
    for key, values in url.query.items():
        for value in (values,) if isinstance(values, str) else values:
            if _is_credential_key(key) and value:
                found.append((f"query parameter {key!r}", value))
            for inner_key, secret in _connection_string_secrets(value):
                found.append((f"{inner_key!r} in query parameter {key!r}", secret))
    return found


def parse_url(url: str) -> sa.URL:
    """SQLAlchemy's reading of `url`; ValueError (never the URL itself, which may hold a
    password) when it cannot be read."""
    try:
        return sa.engine.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise ValueError(
            "not a SQLAlchemy URL (expected dialect[+driver]://[user@]host[:port]/database)"
        ) from None


def url_secrets(url: str) -> list[tuple[str, str]]:
    """(where, secret) for every credential `url` holds: its password and the credentials in
    its query parameters. ValueError when `url` is not a SQLAlchemy URL."""
    parsed = parse_url(url)
    found = [("password", parsed.password)] if parsed.password else []
    return [*found, *_query_secrets(parsed)]


def mask_url(url: str) -> str:
    """`url` with every credential replaced by `***`, for messages and the UI. A URL that
    cannot be read is shown as its scheme only."""
    try:
        parsed = parse_url(url)
    except ValueError:
        scheme, sep, _ = url.partition("://")
        return f"{scheme}://{MASK}" if sep and re.fullmatch(r"[\w+.-]+", scheme) else MASK
    if parsed.password and parsed.host and "@" in parsed.host:
        # `user:p@ss@host` unencoded: the part of the password SQLAlchemy read as the host
        parsed = parsed.set(host=parsed.host.rsplit("@", 1)[1])
    shown = parsed.set(query={}).render_as_string(hide_password=True)
    pairs = [
        f"{quote_plus(key)}={quote(_mask_one(key, value), safe='*{}/:,;=')}"
        for key, values in parsed.query.items()
        for value in ((values,) if isinstance(values, str) else values)
    ]
    return f"{shown}?{'&'.join(pairs)}" if pairs else shown


def _mask_one(key: str, value: str) -> str:
    if _is_credential_key(key) and value:
        return MASK
    masked = _decoded(value)
    for _, secret in _connection_string_secrets(value):
        masked = masked.replace(secret, MASK)
    return masked


def mask_secrets(text: str, url: str | None) -> str:
    """`text` (an error message, say) with the credentials of `url`, and `url` itself, masked
    wherever they appear, as written or URL-encoded."""
    if not url:
        return text
    text = text.replace(url, mask_url(url))
    try:
        secrets = [secret for _, secret in url_secrets(url)]
    except ValueError:
        return text
    for secret in sorted(secrets, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote_plus(secret, safe="")}:
            text = text.replace(form, MASK)
    return text
