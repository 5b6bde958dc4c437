"""What a step hands to Dagster's storage — metadata, check results, failures with their causes
— is masked by the compute wrapper every asset and check gets in `apply_spec_defaults`."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from cdp_assets.defs.catalog import CORE_GROUP
from cdp_assets.defs.spec_defaults import apply_spec_defaults

EMAIL = "jane.doe@example.com"
PHONE = "+447700900123"
RECORD = "C000002371"
BIRTH = "07/09/1986"
IDENTIFIERS = (EMAIL, PHONE, RECORD, BIRTH, "jane.doe%40example.com")


def _stored(assets: list, checks: list | None = None) -> tuple[dg.ExecuteInProcessResult, str]:
    """Materialize `assets` as the platform's Definitions would hold them; every event
    the instance stored for the run, serialized as Dagster stores it."""
    defs = apply_spec_defaults(dg.Definitions(assets=assets, asset_checks=checks), "duckdb")
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    stored = "\n".join(serialize_value(e) for e in instance.all_logs(result.run_id))
    return result, stored


def _failure(result: dg.ExecuteInProcessResult) -> dg.DagsterEvent:
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    return failure


def test_a_failure_naming_an_email_is_stored_masked() -> None:
    @dg.asset(group_name=CORE_GROUP)
    def profiles() -> None:
        try:
            {}[PHONE]
        except KeyError as exc:
            raise ValueError(
                f"cannot merge {RECORD}: email '{EMAIL}' born {BIRTH} (birth_date '{BIRTH}')"
            ) from exc

    result, stored = _stored([profiles])
    assert not result.success
    error = _failure(result).step_failure_data.error
    assert error is not None and error.cause is not None
    user_error = error.cause
    assert "ValueError: cannot merge C***: email 'j***@example.com'" in user_error.message
    assert user_error.cause is not None and "KeyError: '+44********23'" in user_error.cause.message
    assert any("def profiles" in line or "ValueError(" in line for line in user_error.stack)
    for value in IDENTIFIERS:
        assert value not in stored, value


def test_a_context_exception_and_a_failure_with_metadata_are_masked() -> None:
    @dg.asset(group_name=CORE_GROUP)
    def during() -> None:
        try:
            raise RuntimeError(f"row {{'email': '{EMAIL}'}}")
        except RuntimeError:
            raise KeyError("while handling")  # noqa: B904 - its context is what is tested

    @dg.asset(group_name=CORE_GROUP)
    def failed() -> None:
        raise dg.Failure(
            description=f"bad row for {EMAIL}",
            metadata={"row": dg.MetadataValue.md(f"| {EMAIL} | {PHONE} |"), "id": RECORD},
        )

    result, stored = _stored([during, failed])
    assert not result.success
    for value in IDENTIFIERS:
        assert value not in stored, value
    assert "j***@example.com" in stored


def test_metadata_and_check_results_are_masked() -> None:
    @dg.asset(
        group_name=CORE_GROUP,
        check_specs=[dg.AssetCheckSpec("no_dupes", asset="linked")],
    )
    def linked() -> dg.MaterializeResult:
        return dg.MaterializeResult(
            metadata={
                "note": f"merged {RECORD} into {EMAIL}",
                "table": dg.MetadataValue.md(f"| email |\n| --- |\n| {EMAIL} |"),
                "json": dg.MetadataValue.json({"phone": PHONE, "rows": [RECORD]}),
                "rows": 3,
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="no_dupes",
                    passed=False,
                    description=f"{PHONE} shared",
                    metadata={"shared": f"{PHONE} and {EMAIL}"},
                )
            ],
        )

    @dg.asset(group_name=CORE_GROUP)
    def yielded():  # noqa: ANN201 - a generator of Dagster events
        yield dg.AssetObservation(asset_key="linked", metadata={"who": EMAIL})
        yield dg.Output(None, metadata={"who": f"birth_date '{BIRTH}'"})

    result, stored = _stored([linked, yielded])
    assert result.success
    for value in IDENTIFIERS:
        assert value not in stored, value
    (materialization,) = result.asset_materializations_for_node("linked")
    assert materialization.metadata["rows"].value == 3
    assert materialization.metadata["note"].value == "merged C*** into j***@example.com"


@pytest.mark.parametrize("retry", [True, False])
def test_dagster_control_flow_keeps_its_kind(retry: bool) -> None:
    @dg.asset(group_name=CORE_GROUP)
    def flaky() -> None:
        if retry:
            raise dg.RetryRequested(max_retries=0) from ValueError(EMAIL)
        raise dg.Failure(description=EMAIL, allow_retries=False)

    result, stored = _stored([flaky])
    assert not result.success
    assert EMAIL not in stored
    error = _failure(result).step_failure_data.error
    assert error is not None
    text = serialize_value(error)
    assert "j***@example.com" in text
