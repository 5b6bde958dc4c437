"""The check that no erased identifier remains in Dagster's own storage (asset metadata and
previews, check results, log messages, step failures), which erasure does not rewrite."""
# No `from __future__ import annotations`: Dagster checks the `context` annotation as a class.

from collections.abc import Iterator

import dagster as dg
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecordStatus,
)
from dagster._serdes import serialize_value

from cdp_assets.config import CDPConfig
from cdp_assets.defs.catalog import ERASURE_KEY, WAREHOUSE_POOL
from cdp_assets.defs.resources import WarehouseResource
from cdp_assets.privacy.event_storage import (
    EVENT_PAGE,
    MAX_EVENTS_PER_SCAN,
    StoredEvent,
    event_text,
    suppression_fingerprint,
    traced_events,
)
from cdp_assets.privacy.suppression import load_suppressed, privacy_salt
from cdp_assets.reporting.markdown import markdown_table

CHECK_NO_STORED_TRACE = "no_erased_identifiers_in_dagster_storage"
CHECK_KEY = dg.AssetCheckKey(ERASURE_KEY, CHECK_NO_STORED_TRACE)


def stored_events(instance: dg.DagsterInstance, after: int, limit: int) -> Iterator[StoredEvent]:
    """Events of every run with a storage id above `after`, oldest first, at most `limit`."""
    storage = instance.event_log_storage
    read = 0
    while read < limit:
        page = storage.get_logs_for_all_runs_by_log_id(
            after_cursor=after, limit=min(EVENT_PAGE, limit - read)
        )
        if not page:
            return
        for storage_id, entry in sorted(page.items()):
            kind = entry.dagster_event.event_type_value if entry.dagster_event else "LOG"
            yield StoredEvent(storage_id, entry.run_id, kind, event_text(serialize_value(entry)))
            after = storage_id
        read += len(page)


def previous_scan(instance: dg.DagsterInstance, fingerprint: int) -> int:
    """The storage id the last passed scan reached, if it was made against the same
    suppression list; -1 (scan everything) otherwise."""
    history = instance.event_log_storage.get_asset_check_execution_history(
        CHECK_KEY, limit=1, status={AssetCheckExecutionRecordStatus.SUCCEEDED}
    )
    if not history or history[0].event is None or history[0].event.dagster_event is None:
        return -1
    evaluation = history[0].event.dagster_event.event_specific_data
    metadata = getattr(evaluation, "metadata", {}) or {}
    same_list = getattr(metadata.get("suppression_fingerprint"), "value", None) == fingerprint
    through = getattr(metadata.get("scanned_through_storage_id"), "value", None)
    return int(through) if same_list and isinstance(through, int) else -1


def build_storage_trace_check(config: CDPConfig) -> dg.AssetChecksDefinition:
    record_sources = [s.name for s in config.sources]

    @dg.asset_check(
        asset=ERASURE_KEY,
        name=CHECK_NO_STORED_TRACE,
        description="no identifier of an erased person is in Dagster's run and event storage "
        "(metadata, previews, check results, logs, step failures); an error, but does not block",
        pool=WAREHOUSE_POOL,
    )
    def no_erased_identifiers_in_dagster_storage(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        """Reads the events stored since the last passed scan (all of them when the
        suppression list changed since), at most MAX_EVENTS_PER_SCAN per evaluation; hashes
        the emails, phones and id-like tokens of their text with the privacy salt and fails
        when one is on ops.suppression_list."""
        salt = privacy_salt(config)
        with warehouse.get().transaction() as session:
            suppressed = load_suppressed(session, salt)
        fingerprint = suppression_fingerprint(suppressed)
        after = previous_scan(context.instance, fingerprint) if suppressed else -1
        events = (
            list(stored_events(context.instance, after, MAX_EVENTS_PER_SCAN)) if suppressed else []
        )
        found = traced_events(events, salt, suppressed, config.default_country, record_sources)
        through = events[-1].storage_id if events else after
        return dg.AssetCheckResult(
            passed=found.empty,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "identifiers_on_suppression_list": len(suppressed),
                "events_scanned": len(events),
                "scanned_after_storage_id": after,
                "scanned_through_storage_id": through,
                "more_to_scan": len(events) >= MAX_EVENTS_PER_SCAN,
                "suppression_fingerprint": fingerprint,
                "events_with_an_erased_identifier": len(found),
                "where": dg.MetadataValue.md(markdown_table(found, max_rows=20)),
            },
        )

    return no_erased_identifiers_in_dagster_storage
