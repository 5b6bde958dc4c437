"""Reading what identity resolution and golden profiles start from: the staged customer
records and the distinct identities of the staged facts."""

import pandas as pd

from cdp_assets.config import CDPConfig
from cdp_assets.contracts.canonical import staging_contract
from cdp_assets.identity.facts import IDENTITY_KINDS, combos_sql, density_sql
from cdp_assets.identity.nodes import COMBO_DTYPES
from cdp_assets.identity.records import customer_records
from cdp_assets.identity.shared import DENSITY_DTYPES
from cdp_assets.warehouse import TableRef, WarehouseSession, coerce_frame


def fact_sources(config: CDPConfig) -> list[tuple[str, str]]:
    """(kind, name) of every configured source whose rows name a person."""
    return [(s.kind, s.name) for s in config.sources if s.kind in IDENTITY_KINDS]


def read_customer_records(session: WarehouseSession, config: CDPConfig) -> pd.DataFrame:
    """Identity records of every staged customers source."""
    staged = {
        s.name: session.read_table(
            TableRef("staging", s.name), dtypes=staging_contract("customers")
        )
        for s in config.sources_of_kind("customers")
    }
    return customer_records(staged, config)


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
