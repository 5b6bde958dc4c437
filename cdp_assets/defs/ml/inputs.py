"""What the model assets read from the warehouse besides features."""

import pandas as pd

from cdp_assets.defs.catalog import ORDERS_KEY, table_ref
from cdp_assets.warehouse import WarehouseSession


def resolved_orders(session: WarehouseSession) -> pd.DataFrame:
    """The orders of resolved customers (core.orders): what the purchase models fit."""
    return session.query(
        "SELECT customer_id, ordered_at, net_amount_base, is_purchase "
        f"FROM {table_ref(ORDERS_KEY).sql} WHERE customer_id IS NOT NULL"
    )
