"""The identifiers of a person, wherever the warehouse keeps them, and their salted hashes.

Every table is read as identifier values per row, of these kinds:
- `email`: a normalised address and its matching key (`email_key`);
- `phone`: E.164;
- `record`: `<source>:<record id>` — a customer record, or a fact (order, event, survey
  response, support ticket) in its source; a `customer_ref` counts as the referenced record;
- `order`: an order id (order items refer to their order by id alone, as core.order_items does);
- `customer_id`: a stable customer id (or an alias of one);
- `loyalty_id`, `anonymous_id`: a loyalty card, a web/app cookie id;
- `email_sha256`, `phone_sha256`: the unsalted hashes ad-platform exports carry.

Raw tables hold source columns as text: values are normalised as staging would (trimmed,
lower-cased emails, E.164 phones in the source's country) before they are compared. The same
readers serve erasure (compare with a person's values) and the trace check (compare salted
hashes with the suppression list), so what one finds the other checks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

import numpy as np
import pandas as pd

from cdp_assets.config import CDPConfig, SourceConfig
from cdp_assets.contracts.canonical import RECORD_ID_FIELD
from cdp_assets.identity.membership import string_isin
from cdp_assets.ingest.naming import raw_column_name
from cdp_assets.quality.checked import UniqueValues
from cdp_assets.quality.emails import normalise_emails
from cdp_assets.quality.phones import normalise_phones

KINDS: tuple[str, ...] = (
    "email",
    "phone",
    "record",
    "order",
    "customer_id",
    "loyalty_id",
    "anonymous_id",
    "email_sha256",
    "phone_sha256",
)
STRING = "string"

# Columns of derived tables (core, analytics, ml, activation, ops) by name.
NAMED_COLUMNS: dict[str, str] = {
    "customer_id": "customer_id",
    "other_customer_id": "customer_id",
    "alias_id": "customer_id",
    "email": "email",
    "email_key": "email",
    "phone": "phone",
    "loyalty_id": "loyalty_id",
    "anonymous_id": "anonymous_id",
    "email_sha256": "email_sha256",
    "phone_sha256": "phone_sha256",
}
# Identifier nodes in core.customer_xref / identity_edges: `email:<key>`, `phone:<e164>`, ...
NODE_PREFIXES: dict[str, str] = {
    "email": "email",
    "email_key": "email",
    "phone": "phone",
    "loyalty_id": "loyalty_id",
    "loyalty": "loyalty_id",
}
_EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE_IN_TEXT = re.compile(r"\+?\d[\d\s().-]{6,18}\d")
# Canonical fields of free text, and `attributes` (staging's JSON of unmapped source columns).
FREE_TEXT_FIELDS: frozenset[str] = frozenset({"url", "comment", "attributes"})
_HEX = re.compile(r"[0-9a-f]{64}")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]*[A-Za-z0-9]")

# (kind, per-row values): several columns may give values of one kind.
Values = list[tuple[str, pd.Series]]


def identifier_hash(salt: bytes, kind: str, value: str) -> str:
    """SHA-256 of salt, kind and value: the only form an erased identifier is kept in."""
    return hashlib.sha256(salt + kind.encode() + b"\x1f" + value.encode("utf-8")).hexdigest()


def hash_values(salt: bytes, kind: str, values: pd.Series) -> pd.Series:
    """`identifier_hash` per row (NA stays NA), computed once per distinct value."""
    unique = UniqueValues.of(values)
    hashed = pd.Series([identifier_hash(salt, kind, v) for v in unique.values], dtype=STRING)
    return unique.broadcast(hashed, STRING)


@dataclass
class Identifiers:
    """Sets of identifier values by kind."""

    values: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})

    def add(self, kind: str, items: Iterable[object]) -> None:
        target = self.values[kind]
        for item in items:
            if item is None or (not isinstance(item, str) and pd.isna(item)):
                continue
            text = str(item).strip()
            if text:
                target.add(text)

    def update(self, other: Identifiers) -> None:
        for kind, items in other.values.items():
            self.values[kind] |= items

    def discard(self, kind: str, items: Iterable[str]) -> None:
        self.values[kind] -= set(items)

    def __len__(self) -> int:
        return sum(len(v) for v in self.values.values())

    def hashes(self, salt: bytes) -> pd.DataFrame:
        """One row per identifier: identifier_kind, identifier_hash (sorted)."""
        rows = [
            (kind, identifier_hash(salt, kind, value))
            for kind in KINDS
            for value in sorted(self.values[kind])
        ]
        return pd.DataFrame(rows, columns=["identifier_kind", "identifier_hash"], dtype=STRING)


def matches(values: Values, wanted: Identifiers, index: pd.Index) -> np.ndarray:
    """Per row: does any of its identifier values belong to `wanted`?"""
    mask = np.zeros(len(index), dtype=bool)
    for kind, series in values:
        if not wanted.values[kind] or series.empty:
            continue
        hit = pd.Series(string_isin(series, wanted.values[kind]), index=series.index)
        mask |= _per_row(hit, index)
    return mask


def hash_matches(
    values: Values, salt: bytes, suppressed: frozenset[str], index: pd.Index
) -> np.ndarray:
    """Per row: does any identifier value hash into the suppression list?"""
    mask = np.zeros(len(index), dtype=bool)
    if not suppressed:
        return mask
    digests = _digests(suppressed)
    for kind, series in values:
        if series.empty:
            continue
        unique = UniqueValues.of(series)
        listed = _listed(salt, kind, _as_list(unique.values), digests)
        mask |= _per_row(_per_entry(unique.codes, listed, series.index), index)
    return mask


def _digests(hashes: Iterable[str]) -> frozenset[bytes]:
    """`identifier_hash` values as the raw SHA-256 digests (anything else can match none)."""
    return frozenset(bytes.fromhex(h) for h in hashes if len(h) == 64 and _HEX.fullmatch(h))


def _listed(salt: bytes, kind: str, values: list[str], digests: frozenset[bytes]) -> list[bool]:
    """Per value: is its `identifier_hash` one of `digests`? (The salt and kind are the same
    prefix of every hashed text; digests are compared as bytes, not hex text.)"""
    prefix = salt + kind.encode() + b"\x1f"
    sha256 = hashlib.sha256
    return [sha256(prefix + value.encode("utf-8")).digest() in digests for value in values]


def _as_list(values: pd.Series | pd.api.extensions.ExtensionArray | np.ndarray) -> list:
    """Python objects of an array, without pandas' slow per-element iteration of Arrow text."""
    return np.asarray(values, dtype=object).tolist()


def _per_entry(codes: np.ndarray, listed: list[bool], index: pd.Index) -> pd.Series:
    """Per-distinct-value answers (`codes` index them; -1 for NA, which is False) per entry."""
    answers = np.append(np.asarray(listed, dtype=bool), False)
    return pd.Series(answers[np.asarray(codes)], index=index)


def _per_row(hit: pd.Series, index: pd.Index) -> np.ndarray:
    """A hit series (possibly several entries per row, for exploded text) as a row mask."""
    if hit.index.has_duplicates:
        hit = hit.groupby(level=0).any()
    return hit.reindex(index, fill_value=False).to_numpy(dtype=bool)


# --------------------------------------------------------------------------- normalising


def _text(series: pd.Series) -> pd.Series:
    return series.astype(STRING).str.strip().replace("", pd.NA)


def email_values(series: pd.Series) -> Values:
    """Normalised address and matching key of each (raw or staged) email."""
    text = _text(series)
    checked = normalise_emails(text)
    # An address staging would refuse still identifies its owner in the raw layer.
    lowered = text.str.lower()
    return [("email", checked.values), ("email", checked.key), ("email", lowered)]


def phone_values(series: pd.Series, region: str) -> Values:
    text = _text(series)
    return [("phone", normalise_phones(text, region).values)]


def record_values(source: str, series: pd.Series) -> pd.Series:
    text = _text(series)
    return (source + ":" + text).astype(STRING)


def record_of(source: str, record_id: object) -> str:
    return f"{source}:{str(record_id).strip()}"


# --------------------------------------------------------------------------- per table


def source_field_values(
    frame: pd.DataFrame, source: SourceConfig, config: CDPConfig, column_of: dict[str, str]
) -> Values:
    """Identifier values of one source's rows; `column_of` maps canonical fields to the
    frame's columns (raw: the mapped source columns; staging: the fields themselves)."""
    values: Values = []
    region = config.source_country(source)

    def col(field_name: str) -> pd.Series | None:
        name = column_of.get(field_name)
        return frame[name] if name is not None and name in frame.columns else None

    if (series := col("email")) is not None:
        values += email_values(series)
    if (series := col("email_key")) is not None:
        values.append(("email", _text(series)))
    if (series := col("phone")) is not None:
        values += phone_values(series, region)
    for field_name in ("loyalty_id", "anonymous_id", "customer_id"):
        if (series := col(field_name)) is not None:
            values.append((field_name, _text(series)))
    id_field = RECORD_ID_FIELD.get(source.kind)
    if source.kind == "order_items":
        if (series := col("order_id")) is not None:
            values.append(("order", _text(series)))
    elif id_field is not None and (series := col(id_field)) is not None:
        # Orders are records of their source; only items, which name no source, use `order`.
        values.append(("record", record_values(source.name, series)))
    if (series := col("record_id")) is not None and source.kind != "order_items":
        values.append(("record", record_values(source.name, series)))
    if source.customer_ref_source and (series := col("customer_ref")) is not None:
        values.append(("record", record_values(source.customer_ref_source, series)))
    if source.kind == "erasure_requests":
        sources, ids = col("record_source"), col("source_record_id")
        if sources is not None and ids is not None:
            values.append(("record", (_text(sources) + ":" + _text(ids)).astype(STRING)))
    return values


def raw_columns(source: SourceConfig) -> dict[str, str]:
    """Canonical field → column of raw.<source>."""
    return {f: raw_column_name(c) for f, c in source.columns.items()}


def staged_columns(columns: Iterable[str]) -> dict[str, str]:
    return {c: c for c in columns}


def named_values(frame: pd.DataFrame) -> Values:
    """Identifier values of a derived table, found by column name."""
    values: Values = []
    for column in frame.columns:
        kind = NAMED_COLUMNS.get(str(column))
        if kind is None:
            continue
        if kind == "email":
            values += email_values(frame[column])
        elif kind == "phone":
            values.append(("phone", _text(frame[column])))
        else:
            values.append((kind, _text(frame[column])))
    return values


def identifier_set_values(keys: pd.Series) -> Values:
    """Identifier-set keys (`email:a@x.com|phone:+44…|loyalty:L1`) as identifier values."""
    parts = keys.astype(STRING).str.split("|").explode().dropna().astype(STRING)
    split = parts.str.extract(r"^([a-z_]+):(.+)$")
    values: Values = []
    for name, kind in NODE_PREFIXES.items():
        picked = split[1].where(split[0] == name).dropna().astype(STRING)
        if len(picked):
            values += email_values(picked) if kind == "email" else [(kind, picked)]
    return values


def node_values(kinds: pd.Series, sources: pd.Series, ids: pd.Series) -> Values:
    """Identity-graph nodes as identifiers. Kinds: `record` and `ref` (a customer record of
    `source`), `anon` (a cookie id), `ids` (an identifier set, see identifier_set_values)."""
    kind = kinds.astype(STRING)
    text = _text(ids)
    is_record = kind.isin(["record", "ref"]).fillna(False)
    values: Values = [
        ("record", (_text(sources) + ":" + text).where(is_record).astype(STRING)),
        ("anonymous_id", text.where(kind == "anon").astype(STRING)),
    ]
    return values + identifier_set_values(text.where(kind == "ids").dropna())


def text_values(texts: pd.Series, region: str, record_sources: Iterable[str] = ()) -> Values:
    """Identifiers inside free text (a quarantined line): emails, phone numbers and id-like
    tokens (which may be loyalty, order, cookie or customer ids, or record ids of
    `record_sources`)."""
    text = texts.astype(STRING).fillna("")
    emails = text.str.findall(_EMAIL_IN_TEXT).explode().dropna().astype(STRING)
    phones = text.str.findall(_PHONE_IN_TEXT).explode().dropna().astype(STRING)
    tokens = text.str.findall(_TOKEN).explode().dropna().astype(STRING)
    values: Values = []
    if len(emails):
        values += [(k, s) for k, s in email_values(emails)]
    if len(phones):
        values += phone_values(phones, region)
    # Bare order ids are left out: numbers in a line (amounts, postcodes) would match them.
    for kind in ("loyalty_id", "anonymous_id", "customer_id"):
        values.append((kind, tokens))
    for source in record_sources:
        values.append(("record", (source + ":" + tokens).astype(STRING)))
    return values


def free_text_columns(source: SourceConfig, columns: Iterable[str], raw: bool) -> list[str]:
    """The columns of a raw or staged source table that hold free text: in raw every source
    column that is not mapped to a typed field (`attributes`-like JSON, comments, URLs, ...),
    in staging the free-text fields."""
    if not raw:
        return [c for c in columns if c in FREE_TEXT_FIELDS]
    typed = {c for f, c in raw_columns(source).items() if f not in FREE_TEXT_FIELDS}
    return [c for c in columns if not c.startswith("_") and c not in typed]


def free_text_values(texts: pd.Series, region: str) -> Values:
    """Emails and phone numbers inside free text, percent-encoded ones included
    (`?email=jane%40x.com`). Only rows that can hold one are searched."""
    text = texts.astype(STRING)
    encoded = text.str.contains("%", regex=False).fillna(False).to_numpy(dtype=bool)
    if encoded.any():
        text = text.copy()
        text[encoded] = text[encoded].map(unquote).astype(STRING)
    values: Values = []
    with_at = text[text.str.contains("@", regex=False).fillna(False).to_numpy(dtype=bool)]
    emails = with_at.str.findall(_EMAIL_IN_TEXT).explode().dropna().astype(STRING)
    if len(emails):
        values += email_values(emails)
    numbered = text[text.str.contains(_PHONE_IN_TEXT).fillna(False).to_numpy(dtype=bool)]
    phones = numbered.str.findall(_PHONE_IN_TEXT).explode().dropna().astype(STRING)
    if len(phones):
        values += phone_values(phones, region)
    return values


def source_text_values(
    frame: pd.DataFrame, source: SourceConfig, config: CDPConfig, raw: bool
) -> Values:
    """Identifiers in the free-text columns of a source's rows (see `free_text_columns`)."""
    values: Values = []
    region = config.source_country(source)
    for column in free_text_columns(source, frame.columns, raw):
        values += free_text_values(frame[column], region)
    return values
