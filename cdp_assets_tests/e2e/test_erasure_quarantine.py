"""One malformed erasure request must not hold back the others.

Staging's `quarantine_share` check blocks what is downstream when more than
`quality.quarantine_fail_share` (25 %) of a source's rows are quarantined. For erasure
requests that meant one request without a date, out of two, stopped the erasure of the
other, a legal duty, and with it every core table rebuilt after erasure."""

from pathlib import Path

import dagster as dg

from cdp_assets_tests.e2e.pipeline import (
    ORDERS_CSV,
    ORDERS_SOURCE,
    materialization_metadata,
    run_job,
    small_project,
)

REQUESTS = (
    "request_id,email,customer_id,requested_at\n"
    "R1,,C000000001,2026-11-19T10:00:00Z\n"  # K1, the first customer of the orders
    "R2,john@example.com,,\n"  # no date: quarantined
)
ERASURE_SOURCE = {
    "name": "erasure_requests",
    "kind": "erasure_requests",
    "format": "csv",
    "path": "privacy/*.csv",
    "columns": {
        "request_id": "request_id",
        "email": "email",
        "customer_id": "customer_id",
        "requested_at": "requested_at",
    },
}


def test_a_malformed_request_warns_and_the_others_are_carried_out(tmp_path: Path) -> None:
    project = small_project(
        tmp_path,
        [ORDERS_SOURCE, ERASURE_SOURCE],
        {"orders/o.csv": ORDERS_CSV, "privacy/r.csv": REQUESTS},
    )
    with dg.instance_for_test() as instance:
        result = run_job(project, instance, raise_on_error=False)
    share = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == "staging/erasure_requests"
        and e.check_name == "quarantine_share"
    ]
    assert len(share) == 1 and not share[0].passed
    assert share[0].severity == dg.AssetCheckSeverity.WARN
    assert result.success
    # The erasure step ran (rather than being skipped): on a first night it waits for identity.
    held = materialization_metadata(result, "ops/erasure_log")
    assert held["requests_held_until_identity_runs"] == 1
    with dg.instance_for_test() as instance:
        assert run_job(project, instance).success
    log = project.table("ops", "erasure_log")
    assert log["request_id"].tolist() == ["R1"]
    assert log["status"].tolist() == ["erased"]
    assert project.table("core", "customer_profiles")["customer_id"].tolist() == ["C000000002"]
    quarantined = project.table("ops", "quarantine")
    assert quarantined.loc[quarantined["source"] == "erasure_requests", "rule"].tolist() == [
        "missing_required"
    ]
