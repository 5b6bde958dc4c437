"""What a test needs to look for a demo person's identifiers in Dagster's run and event
storage (the tests are in test_pipeline.py, on its demo runs)."""

from __future__ import annotations

import dagster as dg
import pandas as pd
from dagster._serdes import serialize_value

from cdp_assets.privacy.event_storage import event_text
from cdp_assets_tests.e2e.pipeline import DemoProject

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
