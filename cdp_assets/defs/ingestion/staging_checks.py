"""The blocking checks of `staging.<source>`: unique record keys, required fields, quarantine
share, the column contract and row conservation (raw = staged + quarantined + superseded).

They are a check definition of their own, evaluated from the warehouse tables alone: a run
that stages the source runs them right after (and nothing downstream builds when one fails),
and each can be executed again on its own from the UI."""

import dagster as dg

from cdp_assets.config import CDPConfig, SourceConfig
from cdp_assets.contracts.canonical import CANONICAL_FIELDS, RECORD_KEY, staging_contract
from cdp_assets.defs.catalog import ISSUES, LEDGER, QUARANTINE, staging_key
from cdp_assets.defs.table_checks import table_checks
from cdp_assets.staging.stage import SUPERSEDED_RECORD
from cdp_assets.warehouse import TableRef, WarehouseSession
from cdp_assets.warehouse.warehouse import sql_type

KEY_UNIQUE = "record_key_unique"
REQUIRED_PRESENT = "required_fields_present"
QUARANTINE_SHARE = "quarantine_share"
CONTRACT = "columns_match_contract"
STAGING_CONSERVATION = "staging_conservation"

BLOCKS = "; blocks downstream assets when it fails"
# Kinds whose quarantined rows warn but never block, unless the source sets its own
# quarantine_fail_share: a malformed erasure request is quarantined and reported, and must not
# hold back the other requests (a legal duty) nor the core tables rebuilt after erasure.
NEVER_BLOCKED_KINDS = ("erasure_requests",)


def staging_check_specs(key: dg.AssetKey, source: SourceConfig) -> list[dg.AssetCheckSpec]:
    """The blocking checks of a staging asset: whatever fails, nothing downstream builds."""
    return [
        dg.AssetCheckSpec(
            KEY_UNIQUE,
            asset=key,
            blocking=True,
            description=f"record key ({', '.join(RECORD_KEY[source.kind])}) is unique{BLOCKS}",
        ),
        dg.AssetCheckSpec(
            REQUIRED_PRESENT,
            asset=key,
            blocking=True,
            description=f"required canonical fields have no nulls{BLOCKS}",
        ),
        dg.AssetCheckSpec(
            QUARANTINE_SHARE,
            asset=key,
            blocking=True,
            description="share of rows read that were quarantined is under the "
            "source's quarantine_warn_share (warns) and quarantine_fail_share (fails)"
            f"{BLOCKS}",
        ),
        dg.AssetCheckSpec(
            CONTRACT,
            asset=key,
            blocking=True,
            description=f"columns equal the staging contract of the kind{BLOCKS}",
        ),
        dg.AssetCheckSpec(
            STAGING_CONSERVATION,
            asset=key,
            blocking=True,
            description=f"raw rows = staged + quarantined + superseded versions{BLOCKS}",
        ),
    ]


def build_staging_checks(source: SourceConfig, config: CDPConfig) -> dg.AssetChecksDefinition:
    """The five checks of `staging.<source>`, run together after staging or one by one."""
    return table_checks(
        f"{source.name}_staging_checks",
        staging_check_specs(staging_key(source), source),
        lambda session: staging_checks(session, source, config),
        reads=(
            TableRef("staging", source.name),
            TableRef("raw", source.name),
            ISSUES,
            LEDGER,
            QUARANTINE,
        ),
    )


def _raw_rows_and_superseded(session: WarehouseSession, source: SourceConfig) -> tuple[int, int]:
    """Rows in raw.<source> (what staging read) and the versions staging superseded."""
    raw = TableRef("raw", source.name)
    rows_in = session.row_count(raw) if session.table_exists(raw) else 0
    superseded = (
        int(
            session.scalar(
                f"SELECT COUNT(*) FROM {ISSUES.sql} WHERE source = :s AND rule = :r",
                {"s": source.name, "r": SUPERSEDED_RECORD},
            )
        )
        if session.table_exists(ISSUES)
        else 0
    )
    return rows_in, superseded


def staging_checks(
    session: WarehouseSession, source: SourceConfig, config: CDPConfig
) -> list[dg.AssetCheckResult]:
    ref = TableRef("staging", source.name)
    rows_in, superseded = _raw_rows_and_superseded(session, source)
    key_cols = ", ".join(f'"{c}"' for c in RECORD_KEY[source.kind])
    total = session.row_count(ref)
    distinct = int(
        session.scalar(f"SELECT COUNT(*) FROM (SELECT DISTINCT {key_cols} FROM {ref.sql}) k")
    )
    results = [
        dg.AssetCheckResult(
            check_name=KEY_UNIQUE,
            passed=total == distinct,
            metadata={"rows": total, "distinct_keys": distinct, "key": key_cols},
        )
    ]

    required = [f.name for f in CANONICAL_FIELDS[source.kind] if f.required]
    nulls = {
        name: int(session.scalar(f'SELECT COUNT(*) FROM {ref.sql} WHERE "{name}" IS NULL'))
        for name in required
    }
    results.append(
        dg.AssetCheckResult(
            check_name=REQUIRED_PRESENT,
            passed=not any(nulls.values()),
            metadata={f"null_{k}": v for k, v in nulls.items()},
        )
    )

    read = (
        int(
            session.scalar(
                f"SELECT COALESCE(SUM(rows_read), 0) FROM {LEDGER.sql} WHERE source = :s",
                {"s": source.name},
            )
            or 0
        )
        if session.table_exists(LEDGER)
        else 0
    )
    quarantined = int(
        session.scalar(
            f"SELECT COUNT(*) FROM {QUARANTINE.sql} WHERE source = :s", {"s": source.name}
        )
    )
    share = quarantined / read if read else 0.0
    warn = source.quarantine_warn_share
    fail = source.quarantine_fail_share
    warn = config.quality.quarantine_warn_share if warn is None else warn
    if fail is None and source.kind in NEVER_BLOCKED_KINDS:
        fail = 1.0  # share > 1 never happens: the check warns, nothing waits for it
    fail = config.quality.quarantine_fail_share if fail is None else fail
    severity = dg.AssetCheckSeverity.ERROR if share > fail else dg.AssetCheckSeverity.WARN
    results.append(
        dg.AssetCheckResult(
            check_name=QUARANTINE_SHARE,
            passed=share <= warn,
            severity=severity,
            metadata={
                "rows_read": read,
                "rows_quarantined": quarantined,
                **({"quarantine_share": round(share, 5)} if read else {}),
                "warn_above": warn,
                "fail_above": fail,
            },
        )
    )

    dialect = session.dialect
    expected = {c: sql_type(t, dialect) for c, t in staging_contract(source.kind).items()}
    actual_cols = session.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = :schema AND table_name = :table ORDER BY ordinal_position",
        {"schema": ref.schema, "table": ref.table},
    )
    actual = list(actual_cols["column_name"])
    results.append(
        dg.AssetCheckResult(
            check_name=CONTRACT,
            passed=actual == list(expected),
            metadata={
                "missing": ", ".join(c for c in expected if c not in actual) or "none",
                "unexpected": ", ".join(c for c in actual if c not in expected) or "none",
            },
        )
    )

    staged_quarantine = int(
        session.scalar(
            f"SELECT COUNT(*) FROM {QUARANTINE.sql} WHERE source = :s AND stage = 'staging'",
            {"s": source.name},
        )
    )
    results.append(
        dg.AssetCheckResult(
            check_name=STAGING_CONSERVATION,
            passed=rows_in == total + staged_quarantine + superseded,
            metadata={
                "raw_rows": rows_in,
                "staged": total,
                "quarantined": staged_quarantine,
                "superseded": superseded,
            },
        )
    )
    return results
