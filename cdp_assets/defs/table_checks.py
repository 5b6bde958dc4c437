"""Checks evaluated from the warehouse tables alone, as a check definition of their own: a run
that materializes the asset runs them right after it (a failed blocking one stops what
follows), and each can be executed again on its own from the UI, materializing nothing.

Given the tables they read (`reads`), the checks are a function of those tables' versions, the
configuration and the code. Each result records the fingerprint of those inputs; when every
selected check's latest evaluation was made on the same fingerprint, the results are published
again (`inputs_unchanged_since` names the run) instead of reading the tables — a failed check
fails again, so a blocking one still stops what follows. A table without a version, a check
result the instance no longer holds, or the run tag `cdp/recompute=true` evaluates them."""

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dagster as dg

from cdp_assets.defs.catalog import WAREHOUSE_POOL
from cdp_assets.defs.resources import WarehouseResource, project_config
from cdp_assets.defs.unchanged import (
    check_result_with,
    config_digest,
    forced_recompute,
    last_check_evaluation,
    republished,
)
from cdp_assets.warehouse import TableRef, WarehouseSession
from cdp_assets.warehouse.versions import code_digest, fingerprint, read_versions, table_name

Evaluate = Callable[[WarehouseSession], list[dg.AssetCheckResult]]
INPUTS_METADATA = "inputs_fingerprint"


def table_checks(
    name: str,
    specs: Sequence[dg.AssetCheckSpec],
    evaluate: Evaluate,
    reads: Sequence[TableRef] = (),
) -> dg.AssetChecksDefinition:
    """`specs` evaluated by `evaluate` in one warehouse transaction; only the selected ones
    are reported (a person may run one alone). With `reads`, the tables `evaluate` reads,
    results are published again while those tables are unchanged (see the module doc)."""

    @dg.multi_asset_check(name=name, specs=specs, can_subset=True, pool=WAREHOUSE_POOL)
    def _checks(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        selected = list(context.selected_asset_check_keys)
        with warehouse.get().transaction() as session:
            inputs = inputs_fingerprint(session, reads) if reads else None
            forced = forced_recompute(context)
            replay = None if inputs is None or forced else _replay(context, selected, inputs)
            if replay is not None:
                yield from replay
                return
            results = evaluate(session)
        names = {k.name for k in selected}
        for result in results:
            if result.check_name in names:
                extra = {} if inputs is None else {INPUTS_METADATA: inputs}
                yield check_result_with(result, extra)

    return _checks


def inputs_fingerprint(session: WarehouseSession, reads: Sequence[TableRef]) -> int | None:
    """The fingerprint of the tables' versions (`absent` for a missing table), the
    configuration and the code, as a 60-bit number (text metadata that looks like an
    identifier is masked; numbers are stored as they are); None when a table has no version
    (evaluate every time)."""
    versions = read_versions(session, [table_name(ref) for ref in reads])
    parts: dict[str, Any] = {}
    for ref in reads:
        version = versions.get(table_name(ref))
        if version is None and session.table_exists(ref):
            return None
        parts[str(ref)] = version or "absent"
    parts["config"] = config_digest(project_config())
    parts["code"] = code_digest()
    return int(fingerprint(parts)[:15], 16)


def _replay(
    context: dg.AssetCheckExecutionContext, keys: list[dg.AssetCheckKey], inputs: int
) -> list[dg.AssetCheckResult] | None:
    """The latest evaluation of each check, when every one was made on `inputs`."""
    replayed = []
    for key in keys:
        found = last_check_evaluation(context.instance, key)
        if found is None:
            return None
        evaluation, run_id = found
        made_on = evaluation.metadata.get(INPUTS_METADATA)
        if getattr(made_on, "value", made_on) != inputs:
            return None
        replayed.append(republished(evaluation, f"run {run_id}"))
    return replayed
