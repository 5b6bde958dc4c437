"""The contract of `core.customer_profiles`: one golden record per customer.

Each field group is taken whole from one record (survivorship in
`cdp_assets.identity.golden`); `<group>_source` and `<group>_record_id` name that record.
"""

from __future__ import annotations

# The person fields of a customer record, in the order identity records carry them.
PROFILE_FIELD_DTYPES: dict[str, str] = {
    "email": "string",
    "email_key": "string",
    "phone": "string",
    "loyalty_id": "string",
    "first_name": "string",
    "last_name": "string",
    "birth_date": "datetime64[us]",
    "street": "string",
    "city": "string",
    "region": "string",
    "postal_code": "string",
    "country": "string",
    "loyalty_tier": "string",
    "loyalty_points": "Int64",
}

FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "name": ("first_name", "last_name"),
    "email": ("email", "email_key"),
    "phone": ("phone",),
    "birth_date": ("birth_date",),
    "address": ("street", "city", "region", "postal_code", "country"),
    "loyalty": ("loyalty_id", "loyalty_tier", "loyalty_points"),
}

CONSENT_DTYPES: dict[str, str] = {
    "email_consent": "boolean",
    "email_consent_at": "datetime64[us, UTC]",
    "email_consent_source": "string",
    "sms_consent": "boolean",
    "sms_consent_at": "datetime64[us, UTC]",
    "sms_consent_source": "string",
    "ads_consent": "boolean",
}


def _group_dtypes(group: str, fields: tuple[str, ...]) -> dict[str, str]:
    dtypes = {field: PROFILE_FIELD_DTYPES[field] for field in fields}
    if group == "name":
        dtypes["full_name"] = "string"
    dtypes[f"{group}_source"] = "string"
    dtypes[f"{group}_record_id"] = "string"
    return dtypes


GOLDEN_PROFILE_DTYPES: dict[str, str] = {
    "customer_id": "string",
    **{
        column: dtype
        for group, fields in FIELD_GROUPS.items()
        for column, dtype in _group_dtypes(group, fields).items()
    },
    **CONSENT_DTYPES,
    "first_seen": "datetime64[us, UTC]",
    "last_seen": "datetime64[us, UTC]",
    "sources": "string",  # sorted, comma-separated distinct source names
    "source_count": "int64",
    "record_count": "int64",
}

# Columns that identify or locate a person: tagged PII in the column schema, masked in previews.
PROFILE_PII: tuple[str, ...] = (
    "first_name",
    "last_name",
    "full_name",
    "email",
    "email_key",
    "phone",
    "birth_date",
    "street",
    "postal_code",
    "loyalty_id",
)
