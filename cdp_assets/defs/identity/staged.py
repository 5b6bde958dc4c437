"""Reading what identity resolution and golden profiles start from: the staged customer
records and the distinct identities of the staged facts."""

import pandas as pd

from cdp_assets.config import CDPConfig
from cdp_assets.contracts.canonical import staging_contract
from cdp_assets.identity.facts import IDENTITY_KINDS, combos_sql, density_sql
from cdp_assets.identity.nodes import COMBO_DTYPES
from cdp_assets.identity.records import MATCHING_STAGING_COLUMNS, customer_records
from cdp_assets.identity.shared import DENSITY_DTYPES
from cdp_assets.warehouse import TableRef, WarehouseSession, coerce_frame


def fact_sources(config: CDPConfig) -> list[tuple[str, str]]:
    """(kind, name) of every configured source whose rows name a person."""
    return [(s.kind, s.name) for s in config.sources if s.kind in IDENTITY_KINDS]


def read_customer_records(
    session: WarehouseSession, config: CDPConfig, fields: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """Identity records of every staged customers source; with `fields` (e.g.
    `MATCHING_FIELDS`), only those columns, and only the staging columns they need are read."""
    contract = staging_contract("customers")
    if fields is not None:
        wanted = set(fields) | set(MATCHING_STAGING_COLUMNS if "first_name" in fields else ())
        contract = {column: dtype for column, dtype in contract.items() if column in wanted}
    staged = {
        s.name: _read_staged(session, s.name, contract) for s in config.sources_of_kind("customers")
    }
    return customer_records(staged, config, fields)


def _read_staged(session: WarehouseSession, name: str, contract: dict[str, str]) -> pd.DataFrame:
    ref = TableRef("staging", name)
    if not session.table_exists(ref):
        return coerce_frame(pd.DataFrame(), contract)
    present = set(session.columns(ref))
    columns = [column for column in contract if column in present]
    return coerce_frame(session.read_table(ref, columns=columns), contract)


def read_combos(session: WarehouseSession, config: CDPConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The distinct identity combinations of the staged facts, and the identifier values seen
    on many fact rows a day (a store's phone typed at the till)."""
    combos, density = [], []
    for kind, name in fact_sources(config):
        if not session.table_exists(TableRef("staging", name)):
            continue
        combos.append(session.query(combos_sql(kind, name)))
        sql = density_sql(kind, name)
        if sql:
            density.append(session.query(sql))
    combo = pd.concat(combos, ignore_index=True) if combos else pd.DataFrame()
    dense = pd.concat(density, ignore_index=True) if density else pd.DataFrame()
    dense = (
        dense.groupby(["type", "value"], as_index=False)["max_rows_per_day"].max()
        if len(dense)
        else dense
    )
    return coerce_frame(combo, COMBO_DTYPES), coerce_frame(dense, DENSITY_DTYPES)
