"""Defaults every asset gets when the Definitions are assembled, so that no decorator repeats
them: the owners of its group, the warehouse's kind, the group's automation condition (unless
the asset declares its own) and the warehouse pool."""

from __future__ import annotations

import dagster as dg
from dagster._record import replace

from cdp_assets.defs.catalog import AUTOMATION_BY_GROUP, OWNERS_BY_GROUP, WAREHOUSE_POOL


def with_spec_defaults(spec: dg.AssetSpec, warehouse_kind: str) -> dg.AssetSpec:
    """`spec` with its group's owners and automation and the warehouse kind added."""
    group = spec.group_name or "default"
    if group not in OWNERS_BY_GROUP:
        raise dg.DagsterInvalidDefinitionError(
            f"asset {spec.key.to_user_string()}: group {group!r} has no owners in "
            "cdp_assets.defs.catalog.OWNERS_BY_GROUP"
        )
    changes: dict[str, object] = {
        "owners": [*spec.owners, *(o for o in OWNERS_BY_GROUP[group] if o not in spec.owners)],
        "kinds": {*spec.kinds, warehouse_kind},
    }
    if spec.automation_condition is None and group in AUTOMATION_BY_GROUP:
        changes["automation_condition"] = AUTOMATION_BY_GROUP[group]
    return spec.replace_attributes(**changes)


def in_pool(assets_def: dg.AssetsDefinition, pool: str) -> dg.AssetsDefinition:
    """The same asset computation, run in `pool`. Dagster has no public way to set an op's
    pool after the decorator; this rebuilds the op the way `OpDefinition.with_replaced_properties`
    does, with the pool set."""
    op = assets_def.op
    if op.pool == pool:
        return assets_def
    if op.pool is not None:
        raise dg.DagsterInvalidDefinitionError(
            f"{op.name}: declares pool {op.pool!r}; every asset runs in {pool!r}"
        )
    pooled = dg.OpDefinition.dagster_internal_init(
        compute_fn=op.compute_fn,
        name=op.name,
        ins={d.name: dg.In.from_definition(d) for d in op.input_defs},
        outs={d.name: dg.Out.from_definition(d) for d in op.output_defs},
        description=op.description,
        config_schema=op.config_schema,
        required_resource_keys=op.required_resource_keys,
        tags=op.tags,
        version=None,
        retry_policy=op.retry_policy,
        code_version=op._version,  # `version` is its deprecated public name
        pool=pool,
    )
    return assets_def.__class__.dagster_internal_init(
        **{**assets_def.get_attributes_dict(), "node_def": pooled}
    )


def with_asset_defaults(
    assets_def: dg.AssetsDefinition, warehouse_kind: str
) -> dg.AssetsDefinition:
    """One asset (or multi-asset) as the assembled Definitions hold it."""
    mapped = assets_def.map_asset_specs(lambda spec: with_spec_defaults(spec, warehouse_kind))
    return in_pool(mapped, WAREHOUSE_POOL) if mapped.is_executable else mapped


def apply_spec_defaults(defs: dg.Definitions, warehouse_kind: str) -> dg.Definitions:
    """Owners, kinds and automation on every asset spec; the warehouse pool on every asset
    computation (all of them write the warehouse)."""
    assets = [
        with_asset_defaults(a, warehouse_kind) if isinstance(a, dg.AssetsDefinition) else a
        for a in defs.assets or []
    ]
    return replace(defs, assets=assets)
