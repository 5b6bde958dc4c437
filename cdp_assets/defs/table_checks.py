"""Checks evaluated from the warehouse tables alone, as a check definition of their own: a run
that materializes the asset runs them right after it (a failed blocking one stops what
follows), and each can be executed again on its own from the UI, materializing nothing."""

from collections.abc import Callable, Iterator, Sequence

import dagster as dg

from cdp_assets.defs.catalog import WAREHOUSE_POOL
from cdp_assets.defs.resources import WarehouseResource
from cdp_assets.warehouse import WarehouseSession

Evaluate = Callable[[WarehouseSession], list[dg.AssetCheckResult]]


def table_checks(
    name: str, specs: Sequence[dg.AssetCheckSpec], evaluate: Evaluate
) -> dg.AssetChecksDefinition:
    """`specs` evaluated by `evaluate` in one warehouse transaction; only the selected ones
    are reported (a person may run one alone)."""

    @dg.multi_asset_check(name=name, specs=specs, can_subset=True, pool=WAREHOUSE_POOL)
    def _checks(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        selected = {k.name for k in context.selected_asset_check_keys}
        with warehouse.get().transaction() as session:
            results = evaluate(session)
        yield from (r for r in results if r.check_name in selected)

    return _checks
