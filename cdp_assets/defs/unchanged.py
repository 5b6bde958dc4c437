"""An as-of step whose inputs have not changed since it last ran is not computed again.

`skip_when_inputs_unchanged(config)` wraps an asset's body. Before computing, it lists what the
step is a function of: the versions of its upstream assets (all of them, not only the direct
ones: a step may read a table two layers up), the configuration, the package's code, the
analysis date and any extra input the step names (`cdp_assets.warehouse.versions`). When they
equal what its last computation recorded, the step publishes that materialization's metadata
and check results again (the UI keeps its figures and plots) with `inputs_unchanged_since`, and
writes nothing; when it computes, `computed_because` says which inputs changed.

An upstream asset's version is, in order: the version of its warehouse table, which every write
bumps (also erasure's and retention's deletes); the fingerprint it recorded (a wrapped asset
whose output is files); `absent` for a raw source none of whose files was loaded yet; for another
output that is not a table (a model file), the storage id of its latest materialization in the
Dagster instance. A table without a version (written by hand, or before versions were kept), an
output table missing, a materialization or a check result that the instance no longer holds,
or the run tag `cdp/recompute=true` means the step computes.

A multi-asset step is one step: it is skipped when every asset it materializes recorded the
same inputs, and its assets' own tables are not counted among its inputs.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
from dagster._core.storage.asset_check_execution_record import (
    COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
)
from dagster._record import replace

from cdp_assets.config import CDPConfig
from cdp_assets.defs.resources import analysis_date
from cdp_assets.warehouse import TableRef, Warehouse, WarehouseError
from cdp_assets.warehouse.versions import (
    asset_name,
    changed_inputs,
    code_digest,
    existing_tables,
    read_versions,
    record_version,
    recorded_inputs,
    table_name,
)

RECOMPUTE_TAG = "cdp/recompute"
RAW_SCHEMA = "raw"
UNCHANGED_METADATA = "inputs_unchanged_since"
RECOMPUTED_METADATA = "computed_because"
Compute = TypeVar("Compute", bound=Callable[..., dg.MaterializeResult])


@dataclass
class StepInputs:
    """What one step is a function of, and whether it was computed from exactly that."""

    keys: list[dg.AssetKey]  # the assets the step materializes
    parts: dict[str, Any]
    unknown: list[str] = field(default_factory=list)  # inputs without a known version
    previous: list[dict[str, Any]] = field(default_factory=list)  # what each key last recorded
    missing_output: bool = False
    additions: bool = False  # tables compared by their `additions` version

    @property
    def unchanged(self) -> bool:
        return (
            not self.unknown
            and not self.missing_output
            and all(recorded == self.parts for recorded in self.previous)
        )

    def why_computed(self) -> str:
        if self.unknown:
            return "no known version of " + ", ".join(self.unknown)
        if self.missing_output:
            return "its table is missing"
        if not all(self.previous):
            return "first computation"
        changed = {c for recorded in self.previous for c in changed_inputs(recorded, self.parts)}
        return "changed: " + ", ".join(sorted(changed))


ExtraInputs = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def skip_when_inputs_unchanged(
    config: CDPConfig,
    extra: ExtraInputs | None = None,
    uses_as_of: bool = True,
    writes_its_inputs: bool = False,
    deletions_keep_inputs: bool = False,
) -> Callable[[Compute], Compute]:
    """Wrap an asset's body, which takes the `warehouse` resource and returns a
    `MaterializeResult` (or, for a multi-asset, yields one per asset). `extra(resources)` adds
    inputs that are not assets (the promoted model of a scoring step, the files an export step
    keeps); it is read again after the computation, so what the step itself wrote there is what
    the next run compares with, and a value of None there means unknown (the step computes).
    `uses_as_of=False`: a step that is not an as-of computation is not recomputed only because
    the analysis date moved. `writes_its_inputs`: a step that changes its own upstream tables
    (erasure deletes from them) records their versions as it left them.
    `deletions_keep_inputs`: a step that a deletion upstream cannot concern (the erasure
    check: a deleted row brings no identifier back) compares the tables' `additions` versions."""

    def decorate(compute: Compute) -> Compute:
        if inspect.isgeneratorfunction(compute):

            @functools.wraps(compute)
            def generate(*args: Any, **kwargs: Any) -> Iterator[Any]:
                context, warehouse, inputs, replay = _decide(
                    config, extra, uses_as_of, deletions_keep_inputs, kwargs
                )
                if replay is not None:
                    yield from replay
                    return
                reason = _reason(context, inputs)
                for event in compute(*args, **kwargs):
                    yield (
                        with_metadata(event, {RECOMPUTED_METADATA: reason})
                        if isinstance(event, dg.MaterializeResult)
                        else event
                    )
                _record(config, warehouse, inputs, extra, writes_its_inputs, kwargs)

            return generate  # type: ignore[return-value]

        @functools.wraps(compute)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            context, warehouse, inputs, replay = _decide(
                config, extra, uses_as_of, deletions_keep_inputs, kwargs
            )
            if replay is not None:
                return replay[0]
            reason = _reason(context, inputs)
            result = compute(*args, **kwargs)
            _record(config, warehouse, inputs, extra, writes_its_inputs, kwargs)
            return with_metadata(result, {RECOMPUTED_METADATA: reason})

        return guarded  # type: ignore[return-value]

    return decorate


def _decide(
    config: CDPConfig,
    extra: ExtraInputs | None,
    uses_as_of: bool,
    deletions_keep_inputs: bool,
    resources: Mapping[str, Any],
) -> tuple[dg.AssetExecutionContext, Warehouse, StepInputs, list[dg.MaterializeResult] | None]:
    """The step's inputs and, when they are unchanged, what it published last time."""
    context = dg.AssetExecutionContext.get()
    warehouse = resources["warehouse"].get()
    inputs = step_inputs(context, warehouse, config, additions=deletions_keep_inputs)
    if not uses_as_of:
        del inputs.parts["as_of"]
    if extra is not None:
        inputs.parts["extra"] = dict(extra(resources))
        inputs.unknown += [name for name, value in inputs.parts["extra"].items() if value is None]
    replay = None
    if inputs.unchanged and not forced_recompute(context):
        replay = previous_results(context, inputs.keys)
        if replay is not None:
            context.log.info("inputs unchanged since the last computation: not recomputed")
    return context, warehouse, inputs, replay


def forced_recompute(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext,
) -> bool:
    """Whether the run has the tag `cdp/recompute=true` (steps and table checks compute)."""
    return context.run.tags.get(RECOMPUTE_TAG, "").lower() == "true"


def config_digest(config: CDPConfig) -> str:
    """SHA-256 of the whole configuration: a step or check computed under another one runs."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()


def last_check_evaluation(
    instance: dg.DagsterInstance, key: dg.AssetCheckKey
) -> tuple[Any, str] | None:
    """The latest completed evaluation of check `key` and the run that made it; None when the
    instance holds none."""
    history = instance.event_log_storage.get_asset_check_execution_history(
        key, limit=1, status=set(COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES)
    )
    if not history or history[0].event is None or history[0].event.dagster_event is None:
        return None
    return history[0].event.dagster_event.event_specific_data, history[0].run_id


def check_result_with(result: Any, metadata: dict[str, Any]) -> dg.AssetCheckResult:
    """A check result (or a stored evaluation: the same fields) with `metadata` added."""
    return dg.AssetCheckResult(
        asset_key=result.asset_key,
        check_name=result.check_name,
        passed=result.passed,
        severity=result.severity,
        description=result.description,
        metadata={**(result.metadata or {}), **metadata},
    )


def republished(evaluation: Any, since: str) -> dg.AssetCheckResult:
    """An earlier evaluation of a check, published again with `inputs_unchanged_since`."""
    return check_result_with(evaluation, {UNCHANGED_METADATA: dg.MetadataValue.text(since)})


def _reason(context: dg.AssetExecutionContext, inputs: StepInputs) -> str:
    reason = f"run tag {RECOMPUTE_TAG}" if forced_recompute(context) else inputs.why_computed()
    context.log.info(f"computing ({reason})")
    return reason


def _record(
    config: CDPConfig,
    warehouse: Warehouse,
    inputs: StepInputs,
    extra: ExtraInputs | None,
    writes_its_inputs: bool,
    resources: Mapping[str, Any],
) -> None:
    if writes_its_inputs:
        context = dg.AssetExecutionContext.get()
        again = step_inputs(context, warehouse, config, additions=inputs.additions)
        inputs.parts["upstream"] = again.parts["upstream"]
    if extra is not None:
        inputs.parts["extra"] = dict(extra(resources))
    with warehouse.transaction() as session:
        for key in inputs.keys:
            record_version(session, asset_name(key.path), inputs.parts)


def promoted_model(name: str) -> ExtraInputs:
    """The extra input of a scoring step: the version of model `name` now promoted."""
    return lambda resources: {"champion": resources["model_store"].get().champion(name) or "none"}


def files_under(folder: Path) -> dict[str, list[int]]:
    """Each file under `folder` (relative path) with its size and modification time in ns: an
    extra input of a step whose outputs are files someone else may move or change."""
    if not folder.is_dir():
        return {}
    listing = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        listing[str(path.relative_to(folder))] = [stat.st_size, stat.st_mtime_ns]
    return listing


def files_in(root: Path, folders: Iterable[tuple[str, str]]) -> dict[str, list[int]]:
    """`files_under` of each (destination, name) folder under `root`: the files one export
    step writes, apart from another's in the same destinations."""
    listing = {}
    for destination, name in folders:
        for path, stat in files_under(root / destination / name).items():
            listing[f"{destination}/{name}/{path}"] = stat
    return listing


def step_inputs(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    config: CDPConfig,
    additions: bool = False,
) -> StepInputs:
    """What the step's assets are computed from (see the module's doc); `additions`: tables
    by the version only additions move (see `skip_when_inputs_unchanged`)."""
    keys = sorted(context.selected_asset_keys, key=lambda k: k.to_user_string())
    graph = _whole_asset_graph(context.job_def)
    ancestors: set[dg.AssetKey] = set()
    for key in keys:
        ancestors |= graph.get_ancestor_asset_keys(key)
    upstream = sorted(ancestors - set(keys), key=lambda k: k.to_user_string())
    tables = {k: _table_of(k) for k in [*upstream, *keys]}
    own = [asset_name(k.path) for k in keys]
    with warehouse.transaction() as session:
        present = existing_tables(session, {t.schema for t in tables.values() if t is not None})
        names = [asset_name(k.path) for k in upstream] + own
        names += [table_name(t) for t in tables.values() if t is not None]
        versions = read_versions(session, names, additions=additions)
        previous = [recorded_inputs(session, name) for name in own]
    storage_ids = _latest_storage_ids(context, upstream)
    parts: dict[str, str] = {}
    unknown: list[str] = []
    for up in upstream:
        version = _upstream_version(up, tables[up], present, versions, storage_ids)
        if version is None:
            unknown.append(up.to_user_string())
        else:
            parts[up.to_user_string()] = version
    missing_output = any(
        table is not None and table_name(table) in versions and table not in present
        for table in (tables[k] for k in keys)
    )
    inputs = {
        "upstream": parts,
        "as_of": analysis_date(context, config).isoformat(),
        "config": config_digest(config),
        "code": code_digest(),
    }
    return StepInputs(keys, inputs, unknown, previous, missing_output, additions)


def with_metadata(result: dg.MaterializeResult, extra: dict[str, Any]) -> dg.MaterializeResult:
    return replace(result, metadata={**(result.metadata or {}), **extra})


def _whole_asset_graph(job: dg.JobDefinition) -> Any:
    """The asset graph of the job a run's selection was taken from: a subset job's own graph
    stops at the selected assets, and their inputs must not depend on what else was selected."""
    while job.asset_selection_data is not None:
        job = job.asset_selection_data.parent_job_def
    return job.asset_layer.asset_graph


def _table_of(key: dg.AssetKey) -> TableRef | None:
    """The warehouse table an asset key names (prefix = schema), if it is one."""
    if len(key.path) != 2:
        return None
    try:
        return TableRef(key.path[0], key.path[1])
    except WarehouseError:
        return None


def _upstream_version(
    key: dg.AssetKey,
    table: TableRef | None,
    present: set[TableRef],
    versions: dict[str, str],
    storage_ids: dict[dg.AssetKey, int],
) -> str | None:
    if table is not None and table in present:
        # What it wrote, not what it was computed from: a step that recomputed and wrote
        # nothing (an export with no new file) leaves its readers as they were.
        return versions.get(table_name(table))  # None: written by hand, or before versions
    recorded = versions.get(asset_name(key.path))
    if recorded is not None:
        return recorded
    if key.path[0] == RAW_SCHEMA:
        return "absent"  # a raw asset's one output is its table: no file of it loaded yet
    # An output that is not a table (a model file): its latest materialization, or none yet.
    storage_id = storage_ids.get(key)
    return "never materialized" if storage_id is None else f"materialization {storage_id}"


def _latest_storage_ids(
    context: dg.AssetExecutionContext, keys: list[dg.AssetKey]
) -> dict[dg.AssetKey, int]:
    records = context.instance.get_asset_records(keys)
    found: dict[dg.AssetKey, int] = {}
    for record in records:
        latest = record.asset_entry.last_materialization_record
        if latest is not None:
            found[record.asset_entry.asset_key] = latest.storage_id
    return found


def previous_results(
    context: dg.AssetExecutionContext, keys: list[dg.AssetKey]
) -> list[dg.MaterializeResult] | None:
    """Each asset's last materialization and check results, published again; None when the
    instance no longer holds one of them."""
    results = []
    for key in keys:
        result = _previous_result(context, key)
        if result is None:
            return None
        results.append(result)
    return results


def _previous_result(
    context: dg.AssetExecutionContext, key: dg.AssetKey
) -> dg.MaterializeResult | None:
    event = context.instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return None
    since = f"run {event.run_id}"
    metadata: dict[str, Any] = dict(event.asset_materialization.metadata)
    metadata[UNCHANGED_METADATA] = dg.MetadataValue.text(since)
    check_results = []
    for spec in context.assets_def.check_specs:
        if spec.asset_key != key:
            continue
        found = last_check_evaluation(context.instance, spec.key)
        if found is None:
            return None
        check_results.append(republished(found[0], since))
    return dg.MaterializeResult(asset_key=key, metadata=metadata, check_results=check_results)
