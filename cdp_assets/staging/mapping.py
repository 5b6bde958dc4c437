"""From a raw frame to per-field text: column mapping, defaults, record ids, attributes, payloads.

The raw frame holds every source column as text plus lineage. Here it is put in recency order
(`_ingested_at`, `_file`, `_line`, `_batch_id`), each canonical field gets its text (mapped
column, else the source's default constant), unmapped source columns are folded into an
`attributes` JSON object, and the record id is read or — when the source maps no id — derived
from file and line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cdp_assets.config import SourceConfig
from cdp_assets.contracts.canonical import RAW_LINEAGE_DTYPES, RECORD_ID_FIELD, fields_of
from cdp_assets.ingest.naming import raw_column_name
from cdp_assets.quality.checked import STRING, UniqueValues, as_text

LINEAGE = ("_file", "_line", "_batch_id", "_ingested_at")
RECENCY = ("_ingested_at", "_file", "_line", "_batch_id")


class StagingError(ValueError):
    """A source cannot be staged as configured (named by source and key)."""


@dataclass
class SourceFrame:
    """A raw frame in recency order, with each canonical field's raw text."""

    source: SourceConfig
    raw: pd.DataFrame  # recency order, RangeIndex
    source_columns: tuple[str, ...]  # raw columns that are not lineage
    texts: dict[str, pd.Series]  # canonical field → raw text (default filled); absent if unset
    derived_ids: bool
    unmapped_columns: tuple[str, ...]
    missing_columns: tuple[str, ...] = field(default_factory=tuple)

    @property
    def index(self) -> pd.Index:
        return self.raw.index

    def __len__(self) -> int:
        return len(self.raw)


def default_text(value: object) -> str | None:
    """A `defaults` constant from cdp.yaml as the text a source column would hold."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def in_recency_order(raw: pd.DataFrame, source: SourceConfig) -> pd.DataFrame:
    """Lineage typed, rows ordered oldest first, RangeIndex."""
    missing = [c for c in LINEAGE if c not in raw.columns]
    if missing:
        raise StagingError(
            f"source {source.name!r}: the raw frame lacks lineage column(s) {', '.join(missing)}"
        )
    frame = raw.copy()
    frame["_file"] = as_text(frame["_file"])
    frame["_batch_id"] = as_text(frame["_batch_id"])
    frame["_line"] = pd.to_numeric(frame["_line"]).astype("Int64")
    frame["_ingested_at"] = pd.to_datetime(frame["_ingested_at"], utc=True).astype(
        "datetime64[us, UTC]"
    )
    frame = frame.sort_values(list(RECENCY), kind="stable", na_position="first")
    return frame.reset_index(drop=True)


def derived_record_ids(source: SourceConfig, files: pd.Series, lines: pd.Series) -> pd.Series:
    """Stable ids for sources without one: 16 hex digits of sha1("<source>:<file>:<line>")."""
    prefix = source.name + ":"
    keys = (prefix + files.fillna("") + ":" + lines.astype(STRING).fillna("")).tolist()
    ids = [hashlib.sha1(k.encode("utf-8")).hexdigest()[:16] for k in keys]
    return pd.Series(ids, index=files.index, dtype=STRING)


def mapped_text(
    raw: pd.DataFrame, source: SourceConfig, field_name: str
) -> tuple[pd.Series | None, str | None]:
    """A canonical field's raw text: its mapped column (NA where the raw frame lacks it), empty
    values filled with the field's default, else the default everywhere; None when the field
    is neither mapped nor defaulted. Second: the mapped column when the frame lacks it."""
    column = source.columns.get(field_name)
    default = default_text(source.defaults.get(field_name))
    if column is None:
        if default is None:
            return None, None
        return pd.Series(default, index=raw.index, dtype=STRING), None
    column = raw_column_name(column)
    missing = None
    if column in raw.columns:
        text = as_text(raw[column])
    else:
        missing = column
        text = pd.Series(pd.NA, index=raw.index, dtype=STRING)
    if default is not None:
        empty = text.isna() | (text.str.strip() == "").fillna(False)
        text = text.mask(empty, default)
    return text, missing


def check_mapped_columns_exist(source: SourceConfig, raw_columns: list[str]) -> None:
    """Raises StagingError, one line per field, when a column `columns` maps is not in the raw
    table at all: no file ingested so far had it (the mapping was changed after them), so
    staging would leave the field empty in every row — all of a source's emails, say —
    without a word. `raw_columns`: the raw table's columns."""
    present = set(raw_columns)
    problems = [
        f"{source.key_path}.columns.{field_name}: column '{column}' is in no file of "
        f"raw.{source.name} (source {source.name}); staging would leave {field_name} empty in "
        "every row: correct the mapping, or stage after files with that column have landed"
        for field_name, column in source.columns.items()
        if raw_column_name(column) not in present
    ]
    if problems:
        shown = [c for c in raw_columns if c not in RAW_LINEAGE_DTYPES]
        more = ", ..." if len(shown) > 30 else ""
        problems.append(f"(raw.{source.name} has: {', '.join(shown[:30])}{more})")
        raise StagingError("\n".join(problems))


def map_fields(raw: pd.DataFrame, source: SourceConfig) -> SourceFrame:
    """Per canonical field, its raw text; the record-id field derived when unmapped."""
    lineage = set(RAW_LINEAGE_DTYPES)
    source_columns = tuple(c for c in raw.columns if c not in lineage)
    id_field = RECORD_ID_FIELD[source.kind]
    texts: dict[str, pd.Series] = {}
    missing: list[str] = []
    for f in fields_of(source.kind):
        text, missing_column = mapped_text(raw, source, f.name)
        if missing_column is not None:
            missing.append(missing_column)
        if text is not None:
            texts[f.name] = text
        elif f.required and f.name != id_field:
            raise StagingError(
                f"source {source.name!r} ({source.key_path}): required field {f.name!r} of kind "
                f"{source.kind!r} is not mapped in `columns` and has no value in `defaults`"
            )
    derived = id_field not in texts
    if derived:
        texts[id_field] = derived_record_ids(source, raw["_file"], raw["_line"])
    mapped = {raw_column_name(c) for c in source.columns.values()}
    unmapped = tuple(sorted(c for c in source_columns if c not in mapped))
    return SourceFrame(
        source=source,
        raw=raw,
        source_columns=source_columns,
        texts=texts,
        derived_ids=derived,
        unmapped_columns=unmapped,
        missing_columns=tuple(missing),
    )


def compose_record_ids(kind: str, values: Callable[[str], pd.Series]) -> pd.Series:
    """Record ids from the validated values of a kind's id field(s), `values(field)`: the id
    field itself, for order items `<order_id>|<product_id>`."""
    if kind == "order_items":
        order_id = values("order_id").astype(STRING)
        product_id = values("product_id").astype(STRING)
        return (order_id + "|" + product_id).astype(STRING)
    return values(RECORD_ID_FIELD[kind]).astype(STRING)


def _json_values(text: pd.Series) -> pd.Series:
    """Each distinct value JSON-encoded once."""
    uv = UniqueValues.of(text)
    encoded = [json.dumps(v, ensure_ascii=False) for v in uv.values.tolist()]
    return uv.broadcast(pd.Series(encoded, dtype=STRING))


def attributes_json(raw: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    """Unmapped source columns as a JSON object per row: keys sorted, null/empty omitted."""
    n = len(raw)
    body = pd.Series("", index=raw.index, dtype=STRING)
    filled = np.zeros(n, dtype=bool)
    for column in sorted(columns):
        text = as_text(raw[column])
        text = text.mask((text == "").fillna(False))
        present = text.notna().to_numpy(bool)
        if not present.any():
            continue
        key = json.dumps(column, ensure_ascii=False) + ":"
        separator = pd.Series(np.where(filled, ",", ""), index=raw.index, dtype=STRING)
        piece = separator + key + _json_values(text)
        body = body.mask(present, body + piece)
        filled |= present
    return ("{" + body + "}").astype(STRING)


def raw_payloads(raw: pd.DataFrame, columns: tuple[str, ...], rows: np.ndarray) -> pd.Series:
    """The raw source columns of `rows` as JSON objects (nulls as null), in column order."""
    if not len(rows):
        return pd.Series([], dtype=STRING)
    subset = raw.iloc[rows][list(columns)].astype(object)
    subset = subset.where(subset.notna(), None)
    payloads = [
        json.dumps(dict(zip(columns, values, strict=True)), ensure_ascii=False, default=str)
        for values in subset.itertuples(index=False, name=None)
    ]
    return pd.Series(payloads, index=raw.index[rows], dtype=STRING)
