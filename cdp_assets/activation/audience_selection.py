"""Who in an audience may be sent on a channel (email, sms or ads), and the rows they are sent as.

1. `apply_consent` splits the audience's members into the eligible and the excluded, each
   excluded person with the first reason (`EXCLUSION_REASONS`) that keeps them out;
   `exclusion_counts` counts the excluded per reason of the channel.
2. `export_rows` shapes the eligible into the file's rows: the channel's columns
   (`channel_columns`), one row per address, sorted, so equal inputs give equal bytes. Ad
   platforms get only SHA-256 hashes of the normalised email and phone (`ad_hashing`).
   `export_key` names the columns that identify a row at the destination.

Writing the rows to files is `activation.export_files`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdp_assets.activation.ad_hashing import (
    hash_emails,
    hash_phones,
    normalise_email_for_ads,
    normalise_phone_for_ads,
)
from cdp_assets.config import EXPORT_KEY_COLUMNS

CHANNELS: tuple[str, ...] = ("email", "sms", "ads")

EXCLUSION_REASONS: tuple[str, ...] = (
    "erased_or_suppressed",
    "no_email",
    "email_not_confirmed",
    "no_phone",
    "no_sms_opt_in",
    "ads_opted_out",
    "no_email_or_phone",
)
CHANNEL_EXCLUSION_REASONS: dict[str, tuple[str, ...]] = {
    "email": ("erased_or_suppressed", "no_email", "email_not_confirmed"),
    "sms": ("erased_or_suppressed", "no_phone", "no_sms_opt_in"),
    "ads": ("erased_or_suppressed", "ads_opted_out", "no_email_or_phone"),
}
_CONSENT_COLUMNS: dict[str, tuple[str, ...]] = {
    "email": ("email", "email_consent"),
    "sms": ("phone", "sms_consent"),
    "ads": ("email", "phone", "ads_consent"),
}
_ADDRESS_COLUMN: dict[str, str] = {"email": "email", "sms": "phone"}
# The ads hashes of a person's email and phone, when `with_ad_hashes` added them: every
# audience, and the consent audit, then reuse one hash per person instead of hashing again.
AD_EMAIL_HASH = "_ads_email_sha256"
AD_PHONE_HASH = "_ads_phone_sha256"


# --- validation -------------------------------------------------------------------------


def check_channel(channel: str) -> None:
    """Raise ValueError unless `channel` is one of `CHANNELS`."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}: expected one of {', '.join(CHANNELS)}")


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise ValueError naming the `columns` that `frame` (described as `what`) lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}")


def rows_of_customers(frame: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
    """The rows of `frame` whose customer_id is among `ids`, in `frame`'s order (what
    `frame[frame["customer_id"].isin(ids)]` gives, without pandas converting Arrow-backed
    strings one by one)."""
    values = pa.array(frame["customer_id"].astype("string"), type=pa.string())
    wanted = pa.array(pd.unique(ids.dropna().astype("string")), type=pa.string())
    found = pc.is_in(values, value_set=wanted).fill_null(False)
    return frame[found.to_numpy(zero_copy_only=False)]


# --- consent ----------------------------------------------------------------------------


def _is_true(values: pd.Series) -> pd.Series:
    """True only where the value is True; False and null are False."""
    return values.astype("boolean").eq(True).fillna(False).astype(bool)


def _is_false(values: pd.Series) -> pd.Series:
    """True only where the value is False; True and null are False."""
    return values.astype("boolean").eq(False).fillna(False).astype(bool)


def _present(values: pd.Series) -> pd.Series:
    """True where the value is a non-blank text."""
    text = values.astype("string").str.strip()
    return text.ne("").fillna(False).astype(bool)


def _hashable(values: pd.Series, normalise: Callable[[object], str | None]) -> pd.Series:
    """True where the ads normalisation gives an address (so the row gets a hash)."""
    return values.astype("object").map(normalise).notna()


def with_ad_hashes(profiles: pd.DataFrame) -> pd.DataFrame:
    """`profiles` with the ads hashes of each row's email and phone (`AD_EMAIL_HASH`,
    `AD_PHONE_HASH`; <NA> where there is no usable address), computed once per distinct value.
    `apply_consent` and `export_rows` use them instead of hashing the members again."""
    return profiles.assign(
        **{
            AD_EMAIL_HASH: hash_emails(profiles["email"]),
            AD_PHONE_HASH: hash_phones(profiles["phone"]),
        }
    )


def _ad_hashes(members: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The ads hashes of the members' email and phone: the precomputed ones when present."""
    if AD_EMAIL_HASH in members.columns and AD_PHONE_HASH in members.columns:
        return members[AD_EMAIL_HASH].astype("string"), members[AD_PHONE_HASH].astype("string")
    return hash_emails(members["email"]), hash_phones(members["phone"])


def _failing_tests(members: pd.DataFrame, channel: str) -> list[tuple[str, pd.Series]]:
    """(reason, failing mask) in the order the reasons are tested for `channel`."""
    # Fail closed: only an explicit False lets a person through; a null is treated as suppressed.
    suppressed = ~_is_false(members["suppressed"])
    if channel == "email":
        return [
            ("erased_or_suppressed", suppressed),
            ("no_email", ~_present(members["email"])),
            ("email_not_confirmed", ~_is_true(members["email_consent"])),
        ]
    if channel == "sms":
        return [
            ("erased_or_suppressed", suppressed),
            ("no_phone", ~_present(members["phone"])),
            ("no_sms_opt_in", ~_is_true(members["sms_consent"])),
        ]
    if AD_EMAIL_HASH in members.columns and AD_PHONE_HASH in members.columns:
        has_email, has_phone = members[AD_EMAIL_HASH].notna(), members[AD_PHONE_HASH].notna()
    else:
        has_email = _hashable(members["email"], normalise_email_for_ads)
        has_phone = _hashable(members["phone"], normalise_phone_for_ads)
    return [
        ("erased_or_suppressed", suppressed),
        ("ads_opted_out", _is_false(members["ads_consent"])),
        ("no_email_or_phone", ~(has_email | has_phone)),
    ]


def apply_consent(members: pd.DataFrame, channel: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split an audience's members into (eligible rows, excluded) for `channel`.

    `members` has one row per customer with customer_id, suppressed and the channel's
    address and consent columns. Rules, tested in this order, the first failure wins:

    * every channel: `suppressed` (erased or suppressed; null counts as suppressed) →
      erased_or_suppressed;
    * email: no email → no_email; email_consent not True (False or null) →
      email_not_confirmed;
    * sms: no phone → no_phone; sms_consent not True → no_sms_opt_in;
    * ads: ads_consent False → ads_opted_out (null is not an opt-out); neither an email nor
      a phone that can be hashed → no_email_or_phone.

    The eligible frame keeps every input column, in input order. The excluded frame has
    customer_id and reason ("string" dtypes), sorted by customer_id.
    """
    check_channel(channel)
    require_columns(
        members, ("customer_id", "suppressed", *_CONSENT_COLUMNS[channel]), "audience members"
    )
    reason = pd.Series(pd.NA, index=members.index, dtype="string")
    for name, failing in _failing_tests(members, channel):
        reason = reason.mask(reason.isna() & failing, name)
    passed = reason.isna().to_numpy()
    eligible = members.loc[passed].reset_index(drop=True)
    excluded = pd.DataFrame(
        {
            "customer_id": members.loc[~passed, "customer_id"].astype("string").to_numpy(),
            "reason": reason[~passed].to_numpy(),
        }
    ).astype("string")
    return eligible, excluded.sort_values("customer_id", kind="stable").reset_index(drop=True)


def exclusion_counts(excluded: pd.DataFrame, channel: str) -> dict[str, int]:
    """People excluded per reason of `channel` (every reason of the channel, zeros included)."""
    check_channel(channel)
    counts = excluded["reason"].value_counts()
    return {reason: int(counts.get(reason, 0)) for reason in CHANNEL_EXCLUSION_REASONS[channel]}


# --- rows -------------------------------------------------------------------------------


def channel_columns(channel: str, fields: tuple[str, ...] = ()) -> list[str]:
    """The columns of a channel's files: email: customer_id, email, first_name and the extra
    `fields`; sms: customer_id, phone; ads: email_sha256, phone_sha256 (no internal ids)."""
    check_channel(channel)
    if fields and channel != "email":
        raise ValueError(f"only email exports take extra fields, not {channel}")
    base = list(EXPORT_KEY_COLUMNS[channel])
    clashing = sorted({f for f in fields if f in base or list(fields).count(f) > 1})
    if clashing:
        raise ValueError(f"fields given twice or always exported: {', '.join(clashing)}")
    return [*base, *fields]


def export_key(channel: str) -> list[str]:
    """The columns that identify a row at the destination."""
    check_channel(channel)
    if channel == "ads":
        return ["email_sha256", "phone_sha256"]
    return [_ADDRESS_COLUMN[channel]]


def is_text_dtype(dtype: object) -> bool:
    """pandas text dtypes ("str", "string") and object."""
    return isinstance(dtype, pd.StringDtype) or pd.api.types.is_object_dtype(dtype)


def _as_text(values: pd.Series) -> pd.Series:
    """`values` as "string" dtype, blank text as <NA> (CSV cannot tell the two apart)."""
    text = values.astype("string")
    return text.mask(text.str.strip().eq("").fillna(False))


def _typed_columns(frame: pd.DataFrame, text_columns: Iterable[str]) -> pd.DataFrame:
    """`text_columns` and every text or object column as "string"; other dtypes kept."""
    text = set(text_columns)
    typed = frame.copy()
    for name in typed.columns:
        if name in text or is_text_dtype(typed[name].dtype):
            typed[name] = _as_text(typed[name])
    return typed


def _address_rows(eligible: pd.DataFrame, channel: str, fields: tuple[str, ...]) -> pd.DataFrame:
    """Email or sms rows: one per address, kept for the smallest customer_id, address order."""
    columns = channel_columns(channel, fields)
    require_columns(eligible, columns, f"{channel} export")
    address = _ADDRESS_COLUMN[channel]
    frame = _typed_columns(eligible[columns], EXPORT_KEY_COLUMNS[channel])
    frame = frame[frame[address].notna()]
    match_key = frame[address].str.strip()
    if channel == "email":
        match_key = match_key.str.lower()
    ordered = frame.assign(_match_key=match_key).sort_values(
        ["_match_key", "customer_id"], kind="stable"
    )
    unique = ordered.drop_duplicates("_match_key", keep="first")
    return unique.drop(columns="_match_key").reset_index(drop=True)


def _ads_rows(eligible: pd.DataFrame) -> pd.DataFrame:
    """Hashed rows; an address shared by several customers stays only on the row of the
    smallest customer_id (emptied on the others), and rows left without a hash are dropped."""
    require_columns(eligible, ("customer_id", "email", "phone"), "ads export")
    ordered = eligible.sort_values("customer_id", kind="stable")
    email_hash, phone_hash = _ad_hashes(ordered)
    rows = pd.DataFrame(
        {
            "email_sha256": email_hash.mask(email_hash.duplicated()).to_numpy(),
            "phone_sha256": phone_hash.mask(phone_hash.duplicated()).to_numpy(),
        },
        dtype="string",
    )
    rows = rows[rows["email_sha256"].notna() | rows["phone_sha256"].notna()]
    rows = rows.sort_values(["email_sha256", "phone_sha256"], kind="stable", na_position="last")
    return rows.reset_index(drop=True)


def export_rows(eligible: pd.DataFrame, channel: str, fields: tuple[str, ...] = ()) -> pd.DataFrame:
    """The rows of a channel's file, in `channel_columns` order, one row per address, sorted
    by address. Two customers sharing an address: the smallest customer_id keeps it. Text
    columns are "string" dtype with blanks as <NA>; numeric extra fields stay numeric."""
    check_channel(channel)
    if channel == "ads":
        if fields:
            raise ValueError("only email exports take extra fields, not ads")
        return _ads_rows(eligible)
    return _address_rows(eligible, channel, fields)
