"""Frames rendered as markdown tables for asset metadata, with personal data masked.

Everything here ends up in Dagster's run and event storage, which erasure never rewrites, so no
customer identifier may pass through it in clear:
- a preview of rows (`masked_preview`) shows a column in clear only when the data contract says
  it holds no identifier (amounts, counts, dates of facts, categories, consent flags) or it is
  on the short allow-list of platform columns below; every other column — a new contract field
  included — is masked by default;
- any table (`markdown_table`) masks the columns named as identifiers, and every cell, column
  name and free text goes through `mask_pii_text`, which recognises identifiers by shape
  (emails, phones, id-like tokens) and by label (`birth_date '…'`, `"zip": "…"`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import pandas as pd

from cdp_assets.contracts.canonical import CANONICAL_FIELDS, derived_columns
from cdp_assets.contracts.customer_360 import CUSTOMER_360_COLUMNS
from cdp_assets.contracts.golden_profile import PROFILE_PII

# -- columns ------------------------------------------------------------------------------------
# Contract field types whose values identify a person, and those that never do.
IDENTIFYING_TYPES = frozenset({"id", "email", "phone", "postal_code"})
FACT_TYPES = frozenset({"decimal", "integer", "boolean", "timestamp", "date", "enum", "currency"})
# Ids of things, not people: shown.
NON_PERSONAL_IDS = frozenset({"product_id", "store_id", "campaign_id"})
# Platform and contract text columns that hold names of sources, rules, categories or files.
SHOWN_TEXT_COLUMNS = frozenset(
    {
        "source",
        "sources",
        "stage",
        "file",
        "rule",
        "match_rule",
        "action",
        "field",
        "identity_kind",
        "left_kind",
        "right_kind",
        "left_source",
        "right_source",
        "status",
        "country",
        "city",
        "region",
        "category",
        "top_category",
        "product_name",
        "loyalty_tier",
        "purchase_for",
        "record_source",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "rfm_score",
        "rfm_segment",
        "churn_risk_band",
        "churn_top_reason",
        "audiences",
        "top_recommendations",
        "event",
    }
)
# A column name that says it holds an identifier or a personal detail.
_IDENTIFYING_NAME = re.compile(
    r"(?:^|_)(?:ids?|ref|key|hash|sha256|email|phone|mobile|name|street|address|birth|dob"
    r"|postal|postcode|zip|evidence|ip)(?:$|_)"
)
# A name that says what the platform knows *about* a field (`email_consent`, `name_source`,
# `email_consent_at`): a flag, a source's name, an instant or a figure, not the value itself.
_ABOUT_A_FIELD = re.compile(r"_(?:consent|sources?|at|count|share)$")
_SOURCE_NAME = re.compile(r"(?:^|_)sources?$")


def _contract_columns() -> tuple[frozenset[str], frozenset[str]]:
    """(personal, shown) column names from the data contracts: a field that is PII or of an
    identifying type is personal wherever it appears; a non-PII fact field is shown."""
    personal: set[str] = set(PROFILE_PII)
    shown: set[str] = set()
    for kind, fields in CANONICAL_FIELDS.items():
        for f in (*fields, *derived_columns(kind)):
            if f.pii or f.type in IDENTIFYING_TYPES:
                personal.add(f.name)
            elif f.type in FACT_TYPES:
                shown.add(f.name)
    for column in CUSTOMER_360_COLUMNS:
        if column.pii:
            personal.add(column.name)
    personal -= NON_PERSONAL_IDS
    return frozenset(personal), frozenset((shown | NON_PERSONAL_IDS) - personal)


PERSONAL_COLUMNS, FACT_COLUMNS = _contract_columns()


def is_personal_column(name: object) -> bool:
    """Named as an identifier or personal detail (by contract or by name)."""
    text = str(name).lower()
    if text in PERSONAL_COLUMNS:
        return True
    if text in FACT_COLUMNS or text in SHOWN_TEXT_COLUMNS or _ABOUT_A_FIELD.search(text):
        return False
    return bool(_IDENTIFYING_NAME.search(text)) or text == "record_id"


def names_things(name: object) -> bool:
    """Holds ids or names of things (products, stores, sources, rules), never of a person: its
    values are shown even when they look like an id (`SKU-1001`)."""
    text = str(name).lower()
    return text in NON_PERSONAL_IDS or text in SHOWN_TEXT_COLUMNS or bool(_SOURCE_NAME.search(text))


def shows_column(name: object, dtype: object) -> bool:
    """May a row preview show this column in clear? Only known-safe names, and numbers, flags
    and instants under names that do not say identifier; everything else is masked."""
    text = str(name).lower()
    if is_personal_column(text):
        return False
    if text in FACT_COLUMNS or names_things(text):
        return True
    return bool(
        pd.api.types.is_bool_dtype(dtype)
        or (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_object_dtype(dtype))
        or pd.api.types.is_datetime64_any_dtype(dtype)
    )


# -- free text ----------------------------------------------------------------------------------
# At each position the alternatives are tried in order, so that what the platform itself writes
# is recognised first and kept (dates, timestamps, batch and run ids, embedded images), an
# email — plain or URL-encoded (`%40`, `%2540`) — before the word it starts with, and a token
# mixing letters with 4 or more digits (a record, loyalty, cookie or order id: C000002371,
# anon-000000822, ORD-123456) is masked whole, its digits never read as a phone number.
_LOCAL_PART = r"[^\s@'\"`<>(),;:|\[\]\\]+?"
_DOMAIN = r"[^\s@'\"`<>(),;:|\[\]\\]*"
_AT = r"(?:@|＠|%40|%2540)"
_PII_TEXT = re.compile(
    r"(?P<image>data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+)"
    rf"|(?P<email>{_LOCAL_PART}[@＠]{_DOMAIN}|[\w.+*-]+%(?:25)?40[\w.-]*)"
    r"|(?P<platform>\d{8}T\d{6}-[0-9a-f]{8}\b"  # a batch id
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b)"  # a run id
    r"|(?P<datetime>\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?)"
    r"|(?P<ident>(?<![\w+-])(?=[\w.:-]*[^\W\d_])[^\W_][\w]*(?:[-.:][^\W_][\w]*)*(?<![.:-]))"
    # A phone: digits with single spaces, dots, dashes, slashes or parentheses between them, not
    # glued to a word, a sign, a path or a time before it, nor to a word, a decimal or a time
    # after it.
    r"|(?P<phone>(?<![\w+/-])(?<!\d:)\+?\(?\d(?:[ ()./-]{0,2}\d)+)(?!\w|[.,:]\d)"
)
_DECIMAL = re.compile(r"^\d+\.\d+$")
_DATE_LIKE = re.compile(r"^\d{1,4}([./-])\d{1,2}\1\d{1,4}$")
PHONE_DIGITS = (9, 15)  # digits in a run that is masked as a phone number
ID_DIGITS = 4  # a token with a letter and at least this many digits is masked as an id

# A value after a label that names a personal detail: `birth_date '07/09/2006'`,
# `"zip": "06108"`, `loyalty_id=L123`, `postal code 6010`.
_LABELS = (
    r"e-?mail(?:_?address|_key)?|phone|mobile|tel|telephone|birth_?date|date_of_birth|birthday"
    r"|dob|born|postal_?code|post_?code|postal code|zip(?:_?code)?|street|address"
    r"|(?:first|last|full|given|family|middle|display|user|customer|contact)_?name|name"
    r"|loyalty_?(?:id|card|number|no)|card_?(?:number|no)|cookie(?:_?id)?|anonymous_?id"
    r"|(?:source_)?record_id|customer_(?:id|ref)|member_?id|account_?id|user_?id|contact_?id"
    r"|evidence"
)
# (Not after a dot: `sources[0].columns.email: column 'mail' …` is a config key, not a label.)
_LABELLED = re.compile(
    rf"(?i)(?<![.\w])(?:{_LABELS})\b[\"']?"
    r"(?:\s*[:=]\s*|\s+)"
    r"(?:(?P<q>[\"'])(?P<quoted>[^\"'\n]{1,200})(?P=q)"
    r"|(?<=[:=])\s*(?P<bare>[^\s\"',;|)}\]]+(?: [(+\d][^\s\"',;|)}\]]*)*)"
    r"|(?P<date>\d{1,4}[./-]\d{1,2}[./-]\d{1,4}\b|\d{4,8}\b))"
)


def _mask_phone(text: str) -> str:
    return text[:3] + "*" * max(len(text) - 5, 1) + text[-2:]


def _mask_email(text: str) -> str:
    at = re.search(_AT, text)
    assert at is not None
    local, separator, domain = text[: at.start()], at.group(0), text[at.end() :]
    trailing = len(domain) - len(domain.rstrip("."))  # the full stop ending a sentence
    domain = domain[: len(domain) - trailing]
    return f"{local[:1]}***{separator}{domain}" + "." * trailing


# Parts of a token that date it (a monthly file, a versioned model), not identify a person.
_DATE_PART = re.compile(
    r"(?<!\d)(?:19|20)\d{2}(?:-(?:0[1-9]|1[0-2])(?:-[0-3]\d)?"
    r"|(?:0[1-9]|1[0-2])[0-3]\d(?:T\d{6})?)(?!\d)"
)
_FILE_NAME = re.compile(r"\.(?:csv|jsonl?|parquet|txt|sqlite|db|pkl|joblib|gz|zip|html|md)$", re.I)


_SCIENTIFIC = re.compile(r"^[+-]?[0-9]+(?:\.[0-9]+)?[eE][+-]?[0-9]+$")  # 2.6e-05: a number
# A model version (`churn-20261204T222848-ff0b60d1`: name, time saved, content hash).
_MODEL_VERSION = re.compile(r"^[a-z][a-z0-9_]*-[0-9]{8}T[0-9]{6}-[0-9a-f]{8}$")
# A figure with its unit, not an id: a duration as Dagster writes it in "Finished execution of
# step ... in 23.41s" (533ms, 5.6s, 4m52s, 1h4m: a step of 10-60 s, or of 10 minutes or more,
# has 4 digits), or a factor (a correction "x0.9507").
_FIGURE_WITH_UNIT = re.compile(
    r"^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s)|[0-9]+m[0-9]+s|[0-9]+h[0-9]+m|x[0-9]+\.[0-9]+)$"
)


def _is_id(text: str) -> bool:
    if _FILE_NAME.search(text) or _SCIENTIFIC.match(text) or _MODEL_VERSION.match(text):
        return False
    if _FIGURE_WITH_UNIT.match(text):
        return False
    return sum(c.isdigit() for c in _DATE_PART.sub("", text)) >= ID_DIGITS


def _mask_match(match: re.Match[str], ids: bool = True) -> str:
    text = match.group(0)
    if match.group("email") is not None:
        return _mask_email(text)
    if match.group("ident") is not None and ids and _is_id(text):
        return text[:1] + "***"
    if match.group("phone") is not None:
        digits = sum(c.isdigit() for c in text)
        low, high = PHONE_DIGITS
        if low <= digits <= high and not _DECIMAL.match(text) and not _DATE_LIKE.match(text):
            return _mask_phone(text)
    return text


def _mask_labelled(match: re.Match[str]) -> str:
    group = next(g for g in ("quoted", "bare", "date") if match.group(g) is not None)
    value = match.group(group)
    if "*" in value or value.strip().lower() in ("", "none", "null", "nan", "<na>"):
        return match.group(0)  # already masked, or nothing there
    start, end = (i - match.start() for i in match.span(group))
    text = match.group(0)
    return text[:start] + str(mask_value(value)) + text[end:]


def mask_pii_text(text: str, ids: bool = True) -> str:
    """Every identifier in free text masked, the way `mask_value` masks a value
    (`jane.doe@x.com` → `j***@x.com`, `+44 7700 900123` → `+44**********23`,
    `C000002371` → `C***`, `birth_date '1985-03-02'` → `birth_date '1***'`); dates of facts,
    timestamps, decimals, counts, batch and run ids stay as they are. Idempotent.
    `ids=False` (text known to name things, `names_things`): tokens shaped like an id
    (`SKU-1001`) are kept; emails, phones and labelled personal values are still masked."""
    if not text:
        return text
    text = _LABELLED.sub(_mask_labelled, text)
    return _PII_TEXT.sub(functools.partial(_mask_match, ids=ids), text)


MAX_CELL_SCAN = 1_000  # characters of a cell masked and shown (a cell shows 60 at most)


def _missing(value: object) -> bool:
    """None or a null scalar (a list or dict cell is a value, whatever it holds)."""
    return value is None or (not isinstance(value, (list, dict)) and pd.isna(value))


def _cell(value: object, mask_pii: bool = True, ids: bool = True) -> str:
    if _missing(value):
        return ""
    text = str(value)
    if mask_pii:
        # Masked before truncation to 60 (a cut address is still an address); the scan itself
        # is bounded, for a 34 MiB field.
        text = mask_pii_text(text[:MAX_CELL_SCAN], ids)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


# Float columns shown as percentages when every value lies in [0, 1].
_SHARE_NAME = re.compile(r"(share|rate|coverage|pct|percent)", re.IGNORECASE)


def format_share(value: float) -> str:
    """0.1551 → '15.5 %'; 0.00067 → '0.07 %'."""
    percent = value * 100
    return f"{percent:.2f} %" if 0 < abs(percent) < 0.1 else f"{percent:.1f} %"


def format_figure(value: float) -> str:
    """A float as people read it: 448386.9207 → '448,386.92', 0.65432 → '0.6543',
    12.0 → '12'."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.2f}"
    return f"{value:.4g}"


def readable_numbers(df: pd.DataFrame) -> pd.DataFrame:
    """Float columns as display text: shares as percentages, others rounded with thousands
    separators. Integers (counts, lines, years) and every other column are left as they are."""
    formatted = df
    for column in df.columns:
        values = df[column]
        if not pd.api.types.is_float_dtype(values.dtype):
            continue
        present = values.dropna()
        as_share = bool(
            _SHARE_NAME.search(str(column)) and len(present) and present.between(0, 1).all()
        )
        shown = format_share if as_share else format_figure
        text = values.map(lambda v, shown=shown: None if pd.isna(v) else shown(v))
        if formatted is df:
            formatted = df.copy()
        formatted[column] = text.astype("object")
    return formatted


def markdown_table(df: pd.DataFrame, max_rows: int = 20, mask_pii: bool = True) -> str:
    """A markdown table of the first `max_rows` rows, floats made readable (`readable_numbers`).
    Unless `mask_pii` is False, columns named
    as identifiers (`is_personal_column`) are masked value by value, and identifiers in any
    other cell (or column name) are masked by `mask_pii_text` — but for id-shaped names of
    things in the columns that hold them (`names_things`: a product's SKU)."""
    if df.empty:
        return "_no rows_"
    head = readable_numbers(df.head(max_rows))
    if mask_pii:
        head = _mask_columns(head, [c for c in head.columns if is_personal_column(c)])
    ids = [not names_things(c) for c in head.columns]
    lines = [
        "| " + " | ".join(_cell(c, mask_pii) for c in head.columns) + " |",
        "| " + " | ".join("---" for _ in head.columns) + " |",
    ]
    for row in head.itertuples(index=False):
        cells = (_cell(v, mask_pii, i) for v, i in zip(row, ids, strict=True))
        lines.append("| " + " | ".join(cells) + " |")
    if len(df) > max_rows:
        lines.append(f"\n_{len(df) - max_rows:,} more rows_")
    return "\n".join(lines)


def mask_value(value: object) -> object:
    """Keep the shape of a personal value, hide the rest: `jane@x.com` → `j***@x.com`,
    `+447700900123` → `+44********23`, `60647` → `6***`, `C000002371` → `C***`."""
    if _missing(value):
        return value
    text = str(value)
    if "***" in text:
        return text  # already masked
    at = re.search(_AT, text)
    if at is not None:
        return f"{text[: at.start()][:1]}***{at.group(0)}{text[at.end() :]}"
    if len(text) <= 2:
        return "*" * len(text)
    digits = sum(c.isdigit() for c in text)
    phone_like = text.startswith("+") or text.replace(" ", "").isdigit()
    if phone_like and digits >= PHONE_DIGITS[0]:
        return _mask_phone(text)
    return text[:1] + "***"


def _mask_columns(df: pd.DataFrame, columns: Iterable[object]) -> pd.DataFrame:
    columns = list(columns)
    if not columns:
        return df
    masked = df.copy()
    for column in columns:
        masked[column] = masked[column].map(mask_value).astype("object")
    return masked


# A preview wider than this many columns is shown turned (a line per column, a few records).
WIDE_COLUMNS = 8
WIDE_RECORDS = 3


def masked_preview(df: pd.DataFrame, pii_columns: Iterable[str] = (), max_rows: int = 10) -> str:
    """A markdown preview of rows for asset metadata: a column is shown in clear only when
    `shows_column` allows it (and it is not in `pii_columns`); every other column is masked
    value by value. Lineage columns and `attributes` (unmapped source columns) are left out.
    A table wider than WIDE_COLUMNS is turned: one line per column, WIDE_RECORDS records."""
    head = df.head(max_rows)
    visible = [c for c in head.columns if not str(c).startswith("_") and c != "attributes"]
    head = head[visible]
    extra = set(pii_columns)
    hidden = [c for c in visible if c in extra or not shows_column(c, head[c].dtype)]
    masked = _mask_columns(head, hidden)
    if len(visible) <= WIDE_COLUMNS:
        return markdown_table(masked, max_rows=max_rows)
    # Wide tables are cut off in the UI's metadata panel: one line per column instead. A column
    # becomes a row, so each value is masked by its own column's rule before turning.
    rows = readable_numbers(masked.head(WIDE_RECORDS)).reset_index(drop=True)
    texts = rows.apply(lambda column: column.map(lambda v, c=column.name: _masked_text(v, c)))
    turned = texts.T.reset_index()
    turned.columns = ["column", *(f"record {i + 1}" for i in range(len(rows)))]
    return markdown_table(turned, max_rows=len(turned), mask_pii=False)


def _masked_text(value: object, column: object) -> object:
    """A preview value as `markdown_table` shows it in `column` (masked by its rule)."""
    if _missing(value):
        return value
    return mask_pii_text(str(value)[:MAX_CELL_SCAN], ids=not names_things(column))


def counts_table(counts: pd.Series, key: str, value: str = "rows") -> str:
    """A markdown table of a value-counts series, largest first."""
    if counts.empty:
        return "_none_"
    frame = counts.sort_values(ascending=False).rename(value).reset_index()
    frame.columns = [*([key] if isinstance(key, str) else key), value]
    return markdown_table(frame, max_rows=50)
