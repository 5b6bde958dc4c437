"""Defaults every asset gets when the Definitions are assembled, so that no decorator repeats
them: the owners of its group, the warehouse's kind, the group's automation condition (unless
the asset declares its own), the freshness policy of the nightly outputs, the warehouse pool — and masking of everything its computation
hands to Dagster's storage (metadata, check results, failures), which erasure never rewrites."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import dagster as dg
from dagster._core.definitions.decorators.op_decorator import DecoratedOpFunction
from dagster._record import replace

from cdp_assets.defs.catalog import (
    AUTOMATION_BY_GROUP,
    CAMPAIGN_EXPORTS_KEY,
    CUSTOMER_360_KEY,
    CUSTOMER_LTV_KEY,
    EXPORTS_KEY,
    FEATURES_KEY,
    OWNERS_BY_GROUP,
    PROFILES_KEY,
    WAREHOUSE_POOL,
    score_key,
)
from cdp_assets.reporting.log_masking import masked_cause, masked_exception, masked_message
from cdp_assets.reporting.markdown import mask_pii_text

# The nightly outputs people and downstream jobs read are rebuilt every night (02:00): the
# latest is at most a day old plus the run's length. Warn at 26 hours (that night's refresh
# is two hours late), fail at 30 (six hours late: the working day has started on old data).
NIGHTLY_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(hours=30), warn_window=dt.timedelta(hours=26)
)
FRESHNESS_BY_KEY: dict[dg.AssetKey, dg.FreshnessPolicy] = {
    key: NIGHTLY_FRESHNESS
    for key in (
        PROFILES_KEY,
        FEATURES_KEY,
        score_key("churn_scores"),
        CUSTOMER_LTV_KEY,
        score_key("lead_scores"),
        CUSTOMER_360_KEY,
        EXPORTS_KEY,
        CAMPAIGN_EXPORTS_KEY,
    )
}


def with_spec_defaults(spec: dg.AssetSpec, warehouse_kind: str) -> dg.AssetSpec:
    """`spec` with its group's owners and automation, the warehouse kind and, for a nightly
    output, its freshness policy added."""
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
    if spec.freshness_policy is None and spec.key in FRESHNESS_BY_KEY:
        changes["freshness_policy"] = FRESHNESS_BY_KEY[spec.key]
    return spec.replace_attributes(**changes)


# -- masking what a computation hands to Dagster ------------------------------------------------


def masked_metadata_value(value: Any) -> Any:
    """A metadata value with identifiers in its text masked (numbers and flags unchanged)."""
    if isinstance(value, str):
        return mask_pii_text(value)
    if isinstance(value, dg.MarkdownMetadataValue):
        return dg.MetadataValue.md(mask_pii_text(value.md_str or ""))
    if isinstance(value, dg.TextMetadataValue):
        return dg.MetadataValue.text(mask_pii_text(value.text or ""))
    if isinstance(value, dg.JsonMetadataValue):
        return dg.MetadataValue.json(_masked_json(value.data))
    if isinstance(value, dg.TableMetadataValue):
        records = [dg.TableRecord(_masked_json(dict(r.data))) for r in value.records]
        return dg.MetadataValue.table(records, schema=value.schema)
    if isinstance(value, (dict, list)):
        return _masked_json(value)
    return value


def _masked_json(data: Any) -> Any:
    if isinstance(data, str):
        return mask_pii_text(data)
    if isinstance(data, Mapping):
        return {mask_pii_text(str(k)): _masked_json(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_masked_json(v) for v in data]
    return data


def masked_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if metadata is None:
        return None
    return {key: masked_metadata_value(value) for key, value in metadata.items()}


def masked_event(event: Any) -> Any:
    """What a computation returned or yielded, with its metadata and descriptions masked."""
    if isinstance(event, dg.AssetCheckResult):
        masked = event.with_metadata(masked_metadata(event.metadata) or {})
        if event.description:
            masked = masked._replace(description=mask_pii_text(event.description))
        return masked
    if isinstance(event, (dg.MaterializeResult, dg.ObserveResult)):
        checks = [masked_event(c) for c in event.check_results or []]
        return replace(event, metadata=masked_metadata(event.metadata), check_results=checks)
    if isinstance(event, (dg.Output, dg.AssetMaterialization, dg.AssetObservation)):
        return event.with_metadata(masked_metadata(event.metadata))
    if isinstance(event, tuple) and not hasattr(event, "_fields"):
        return tuple(masked_event(e) for e in event)
    if isinstance(event, list):
        return [masked_event(e) for e in event]
    return event


def masked_step_error(exc: Exception) -> Exception:
    """The exception Dagster stores for a failed step (message, stack, causes): Dagster's own
    control-flow exceptions keep their kind, every other one becomes a `MaskedError`; every
    message is masked and the original is not referenced."""
    cause = masked_cause(exc)
    if isinstance(exc, dg.Failure):
        stand_in: Exception = dg.Failure(
            description=masked_message(exc) if exc.description else None,
            metadata=masked_metadata(exc.metadata),
            allow_retries=exc.allow_retries,
        )
    elif isinstance(exc, dg.RetryRequested):
        stand_in = dg.RetryRequested(exc.max_retries, exc.seconds_to_wait)
    else:
        return masked_exception(exc)
    stand_in = stand_in.with_traceback(exc.__traceback__)
    stand_in.__cause__ = masked_exception(cause) if cause is not None else None
    stand_in.__suppress_context__ = True
    return stand_in


MASKED_MARK = "_cdp_masked"


def masked_compute(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` (an asset's or check's compute function) with what it returns or yields masked, and
    any exception escaping it replaced by its masked stand-in — raised outside the handler, so
    that the original is not even its context."""
    if getattr(fn, MASKED_MARK, False):
        return fn
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generate(*args: Any, **kwargs: Any) -> Iterator[Any]:
            events = fn(*args, **kwargs)
            while True:
                failure = None
                try:
                    event = next(events)
                except StopIteration:
                    return
                except Exception as exc:  # noqa: BLE001 - every failure is masked alike
                    failure = masked_step_error(exc)
                if failure is not None:
                    raise failure
                yield masked_event(event)

        setattr(generate, MASKED_MARK, True)
        return generate

    @functools.wraps(fn)
    def compute(*args: Any, **kwargs: Any) -> Any:
        failure = None
        try:
            return masked_event(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - every failure is masked alike
            failure = masked_step_error(exc)
        raise failure

    setattr(compute, MASKED_MARK, True)
    return compute


def _rebuilt_op(op: dg.OpDefinition, pool: str | None) -> dg.OpDefinition:
    """`op` with its compute function masked and its pool set."""
    return rebuilt_op(op, masked_compute, pool)


ComputeWrapper = Callable[[Callable[..., Any]], Callable[..., Any]]


def rebuilt_op(op: dg.OpDefinition, wrap: ComputeWrapper, pool: str | None) -> dg.OpDefinition:
    """`op` with its decorated compute function wrapped by `wrap` and its pool set. Dagster has
    no public way to do either after the decorator; this rebuilds the op the way
    `OpDefinition.with_replaced_properties` does."""
    compute_fn = op.compute_fn
    if isinstance(compute_fn, DecoratedOpFunction):
        compute_fn = DecoratedOpFunction(wrap(compute_fn.decorated_fn))
    return dg.OpDefinition.dagster_internal_init(
        compute_fn=compute_fn,
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


def masked_and_pooled(assets_def: dg.AssetsDefinition, pool: str | None) -> dg.AssetsDefinition:
    """The same asset (or check) computation, masked (see `masked_compute`) and run in `pool`."""
    op = assets_def.op
    if pool is not None and op.pool not in (None, pool):
        raise dg.DagsterInvalidDefinitionError(
            f"{op.name}: declares pool {op.pool!r}; every asset runs in {pool!r}"
        )
    rebuilt = _rebuilt_op(op, pool if pool is not None else op.pool)
    return assets_def.__class__.dagster_internal_init(
        **{**assets_def.get_attributes_dict(), "node_def": rebuilt}
    )


def with_asset_defaults(
    assets_def: dg.AssetsDefinition, warehouse_kind: str
) -> dg.AssetsDefinition:
    """One asset (or multi-asset) as the assembled Definitions hold it."""
    mapped = assets_def.map_asset_specs(lambda spec: with_spec_defaults(spec, warehouse_kind))
    return masked_and_pooled(mapped, WAREHOUSE_POOL) if mapped.is_executable else mapped


def apply_spec_defaults(defs: dg.Definitions, warehouse_kind: str) -> dg.Definitions:
    """Owners, kinds and automation on every asset spec; the warehouse pool on every asset
    computation (all of them write the warehouse); masking on every asset and check
    computation."""
    assets = [
        with_asset_defaults(a, warehouse_kind) if isinstance(a, dg.AssetsDefinition) else a
        for a in defs.assets or []
    ]
    checks = [
        masked_and_pooled(c, None) if isinstance(c, dg.AssetsDefinition) and c.is_executable else c
        for c in defs.asset_checks or []
    ]
    return replace(defs, assets=assets, asset_checks=checks)
