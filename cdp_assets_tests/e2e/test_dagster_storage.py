"""End to end: after the real Definitions ran on a demo set, no identifier of a demo person is
anywhere in Dagster's run and event storage, and the storage trace check finds an erased one
that gets there."""

from __future__ import annotations

import re
from collections.abc import Iterator

import dagster as dg
import pandas as pd
import pytest
from dagster._serdes import serialize_value

from cdp_assets.config import load_config
from cdp_assets.defs.catalog import ERASURE_JOB
from cdp_assets.defs.privacy.storage_trace import CHECK_NO_STORED_TRACE
from cdp_assets.privacy.event_storage import event_text
from cdp_assets.privacy.identifiers import identifier_hash
from cdp_assets.privacy.suppression import load_suppressed, privacy_salt
from cdp_assets_tests.e2e.pipeline import DemoProject, make_demo_project, project_env, run_job

PEOPLE = 60
# Staged columns holding a person's identifiers, by what they are.
STAGED: dict[str, tuple[str, ...]] = {
    "record id": ("record_id",),
    "email": ("email", "email_key"),
    "phone": ("phone",),
    "loyalty id": ("loyalty_id",),
    "cookie id": ("anonymous_id",),
    "birth date": ("birth_date",),
    "postcode": ("postal_code",),
}
CUSTOMER_TABLES = ("shop_accounts", "crm_contacts", "loyalty_members")
FACT_TABLES = ("shop_orders", "pos_sales", "web_events", "surveys", "support_tickets")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoProject, dict]]:
    root = tmp_path_factory.mktemp("storage")
    project = make_demo_project(root, f"duckdb:///{root / 'warehouse.duckdb'}", people=PEOPLE)
    with dg.instance_for_test() as instance:
        run_job(project, instance)  # builds `core`; the erasure requests wait for it
        run = run_job(project, instance)  # erases them
        yield project, {"instance": instance, "run": run}


def demo_identifiers(project: DemoProject) -> dict[str, str]:
    """Every identifier value of the demo people (value → what it is), from the ground truth
    and from the staged tables (as stored and as delivered)."""
    people = pd.read_csv(project.ground_truth / "people.csv", dtype=str)
    found: dict[str, str] = {}

    def add(kind: str, values: pd.Series) -> None:
        for value in values.dropna().astype(str).str.strip():
            if value:
                found.setdefault(value, kind)

    for column in ("email", "alt_email"):
        add("email", people[column])
    for column in ("mobile", "landline"):
        add("phone", people[column])
    add("birth date", people["birth_date"])
    add("postcode", pd.concat([people["postal_code"], people["old_postal_code"]]))
    birth = pd.to_datetime(people["birth_date"])
    add("birth date", birth.dt.strftime("%d/%m/%Y"))  # as shop_accounts delivers it
    for table in (*CUSTOMER_TABLES, *FACT_TABLES):
        frame = project.table("staging", table)
        for kind, columns in STAGED.items():
            for column in columns:
                if column in frame.columns:
                    values = frame[column]
                    if kind == "birth date":
                        values = values.dt.strftime("%Y-%m-%d")
                    add(kind, values)
    add("customer id", project.table("core", "customer_profiles")["customer_id"])
    return found


def stored_texts(instance: dg.DagsterInstance) -> list[str]:
    """Every event of every run, as the text Dagster stores (all of its strings)."""
    entries = instance.event_log_storage.get_logs_for_all_runs_by_log_id(after_cursor=-1)
    return [event_text(serialize_value(e)) for e in entries.values()]


def test_no_identifier_of_a_demo_person_is_in_dagster_storage(built: tuple) -> None:
    project, state = built
    identifiers = demo_identifiers(project)
    counts = pd.Series(identifiers).value_counts()
    assert {
        "email",
        "phone",
        "record id",
        "loyalty id",
        "cookie id",
        "birth date",
        "postcode",
    } <= set(counts.index)
    texts = stored_texts(state["instance"])
    assert len(texts) > 300
    tokens = {tok for text in texts for tok in re.split(r"[\s|'\"(),;=\[\]{}<>]+", text) if tok}
    leaked = {
        v: k
        for v, k in identifiers.items()
        if v in tokens or (" " in v and any(v in t for t in texts))
    }
    assert leaked == {}


def test_storage_trace_check_passes_then_finds_an_erased_identifier(built: tuple) -> None:
    project, state = built
    instance: dg.DagsterInstance = state["instance"]
    (evaluation,) = [
        e
        for e in state["run"].get_asset_check_evaluations()
        if e.check_name == CHECK_NO_STORED_TRACE
    ]
    assert evaluation.passed
    assert evaluation.metadata["identifiers_on_suppression_list"].value > 0
    assert evaluation.metadata["events_scanned"].value > 100
    with project_env(project):
        config = load_config(project.config_path)
        salt = privacy_salt(config)
        with project.warehouse().transaction() as session:
            suppressed = load_suppressed(session, salt)
    requests = pd.read_csv(project.landing / "privacy" / "erasure_requests.csv", dtype=str)
    erased = next(
        e
        for e in requests["email"].dropna().str.strip().str.lower()
        if identifier_hash(salt, "email", e) in suppressed
    )
    # Something outside the platform's masking (a hand-made event) stores an erased address.
    instance.report_runless_asset_event(
        dg.AssetMaterialization("manual_note", metadata={"note": f"called {erased} back"})
    )
    again = run_job(project, instance, job=ERASURE_JOB, raise_on_error=False)
    (evaluation,) = [
        e for e in again.get_asset_check_evaluations() if e.check_name == CHECK_NO_STORED_TRACE
    ]
    assert not evaluation.passed
    assert evaluation.metadata["events_with_an_erased_identifier"].value == 1
    assert evaluation.metadata["scanned_after_storage_id"].value > 0  # only new events read
    assert erased not in serialize_value(evaluation)
