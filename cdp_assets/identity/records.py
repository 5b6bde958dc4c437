"""Identity records: one row per customer-source record, the input of matching and survivorship.

Built from the staging tables of every `customers` source (see `customer_records`). Names are
split into first and last where a source only has a full name. Columns (pandas dtypes):

    node            int64       dense 0..n-1 index, the record's vertex in the identity graph
    source          string      source name (cdp.yaml)
    record_id       string      the record's id in its source (staging `record_id`)
    trust           int64       the source's survivorship rank (higher wins)
    email           string      lower-cased address as staged
    email_key       string      matching key (gmail dots and +tags removed)
    phone           string      E.164
    loyalty_id      string
    first_name      string      Unicode as typed, trimmed
    last_name       string
    birth_date      datetime64[us]
    street, city, region, postal_code, country      string
    loyalty_tier    string
    loyalty_points  Int64
    created_at, updated_at      datetime64[us, UTC]
    email_opt_in    boolean     ; email_opt_in_confirmed_at  datetime64[us, UTC]
    sms_opt_in      boolean     ; sms_opt_in_confirmed_at    datetime64[us, UTC]
    ads_opt_out     boolean
    seen_at         datetime64[us, UTC]   updated_at, else created_at (null when neither)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from cdp_assets.config import CDPConfig
from cdp_assets.contracts.golden_profile import PROFILE_FIELD_DTYPES
from cdp_assets.warehouse import coerce_frame

RECORD_DTYPES: dict[str, str] = {
    "node": "int64",
    "source": "string",
    "record_id": "string",
    "trust": "int64",
    **PROFILE_FIELD_DTYPES,
    "created_at": "datetime64[us, UTC]",
    "updated_at": "datetime64[us, UTC]",
    "email_opt_in": "boolean",
    "email_opt_in_confirmed_at": "datetime64[us, UTC]",
    "sms_opt_in": "boolean",
    "sms_opt_in_confirmed_at": "datetime64[us, UTC]",
    "ads_opt_out": "boolean",
    "seen_at": "datetime64[us, UTC]",
}

# What identity resolution reads of a record (matching, shared identifiers, profile limits,
# overrides); golden profiles read them all. Reading only these halves the records' memory.
MATCHING_FIELDS: tuple[str, ...] = (
    "node",
    "source",
    "record_id",
    "email_key",
    "phone",
    "loyalty_id",
    "first_name",
    "last_name",
    "birth_date",
    "street",
    "city",
    "postal_code",
)
# Staging columns the matching fields are made from (a full name is split into first/last).
MATCHING_STAGING_COLUMNS: tuple[str, ...] = (
    *(f for f in MATCHING_FIELDS if f not in ("node", "source")),
    "full_name",
)

# Two-character Chinese family names; every other Han name starts with a one-character one.
_COMPOUND_SURNAMES = (
    "欧阳",
    "司马",
    "诸葛",
    "上官",
    "东方",
    "皇甫",
    "令狐",
    "慕容",
    "司徒",
    "夏侯",
    "尉迟",
    "公孙",
)
_HAN = r"[\u3400-\u9fff]"


def split_full_names(full: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(first, last) from one name field, vectorised.

    "Last, First" has a comma; "LAST First" has an upper-case first word (as CRMs print
    family names); Han names without spaces start with the family name (one character, or two
    for the compound surnames); otherwise the last word is the family name. A pinyin name in
    family-first order ("Wang Xiaoming") cannot be told from a western one here: matching
    compares names swapped as well.
    """
    text = full.astype("string").str.strip().str.replace(r"\s+", " ", regex=True)
    text = text.where(text != "")
    first = pd.Series(pd.NA, index=text.index, dtype="string")
    last = pd.Series(pd.NA, index=text.index, dtype="string")

    comma = text.str.contains(",", regex=False).fillna(False)
    parts = text[comma].str.split(",", n=1, expand=True)
    if len(parts):
        last[comma] = parts[0].str.strip()
        first[comma] = parts[1].str.strip()

    han = ~comma & text.str.fullmatch(f"{_HAN}{{2,}}").fillna(False)
    compound = han & text.str[:2].isin(_COMPOUND_SURNAMES)
    cut = np.where(compound, 2, 1)
    han_text = text[han]
    last[han] = [s[:c] for s, c in zip(han_text, cut[han.to_numpy()], strict=True)]
    first[han] = [s[c:] for s, c in zip(han_text, cut[han.to_numpy()], strict=True)]

    rest = ~comma & ~han & text.notna()
    words = text[rest].str.split(" ", n=1, expand=True)
    if len(words) and words.shape[1] == 2:
        head, tail = words[0], words[1]
        upper_head = head.str.fullmatch(r"[^a-z]{2,}") & ~tail.str.fullmatch(r"[^a-z]+")
        upper_head = upper_head.fillna(False) & tail.notna()
        index = head.index
        up = index[upper_head.to_numpy()]
        last[up] = head[up].str.title()
        first[up] = tail[up]
        normal = index[~upper_head.to_numpy()]
        single = tail[normal].isna()
        many = text[normal].str.rsplit(" ", n=1, expand=True)
        last[normal] = many[1].where(~single, pd.NA) if many.shape[1] == 2 else pd.NA
        first[normal] = many[0].where(~single, text[normal])
    elif len(words):
        first[rest] = text[rest]
    return first, last


def _column(frame: pd.DataFrame, name: str, dtype: str) -> pd.Series:
    if name in frame.columns:
        return frame[name].astype(dtype)
    return pd.Series(pd.NA if dtype != "datetime64[us]" else pd.NaT, index=frame.index).astype(
        dtype
    )


def customer_records(
    staged: Mapping[str, pd.DataFrame],
    config: CDPConfig,
    fields: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Identity records of every configured customers source, typed as RECORD_DTYPES.

    `staged`: staging frame per source name (sources of other kinds are ignored). Rows are
    ordered by source then record id, so node numbers are stable for the same input.
    `fields`: only these columns (e.g. `MATCHING_FIELDS`); default all of RECORD_DTYPES.
    """
    dtypes = RECORD_DTYPES if fields is None else {f: RECORD_DTYPES[f] for f in fields}
    parts = []
    for source in config.sources_of_kind("customers"):
        frame = staged.get(source.name)
        if frame is None or frame.empty:
            continue
        part = pd.DataFrame(index=frame.index)
        for column, dtype in dtypes.items():
            if column in ("node", "trust", "seen_at", "first_name", "last_name"):
                continue
            part[column] = _column(frame, column, dtype)
        part["source"] = source.name
        if "trust" in dtypes:
            part["trust"] = source.trust
        first = _column(frame, "first_name", "string").str.strip()
        last = _column(frame, "last_name", "string").str.strip()
        split_first, split_last = split_full_names(_column(frame, "full_name", "string"))
        no_parts = first.isna() & last.isna()
        part["first_name"] = first.where(~no_parts, split_first)
        part["last_name"] = last.where(~no_parts, split_last)
        if "seen_at" in dtypes:
            # Not the ingestion time: that says when we read the record, not when the person
            # was.
            part["seen_at"] = part["updated_at"].fillna(part["created_at"])
        parts.append(part)
    if not parts:
        return coerce_frame(pd.DataFrame(), dtypes)
    records = pd.concat(parts, ignore_index=True)
    del parts
    records = records.sort_values(["source", "record_id"], kind="stable", ignore_index=True)
    records["node"] = np.arange(len(records), dtype="int64")
    return records[list(dtypes)].astype(dtypes)
