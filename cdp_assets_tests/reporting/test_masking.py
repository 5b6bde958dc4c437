"""Personal data masked in free text: metadata tables and log messages."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import dagster as dg
import pandas as pd
import pytest

from cdp_assets.reporting.log_masking import (
    MaskingFilter,
    install_log_masking,
    uninstall_log_masking,
)
from cdp_assets.reporting.markdown import (
    is_personal_column,
    markdown_table,
    mask_pii_text,
    mask_value,
    masked_preview,
)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("jane.doe@x.com", "j***@x.com"),
        ("email 'jane@x.com' is not valid", "email 'j***@x.com' is not valid"),
        (
            '{"email": "Jane.Doe+tag@Example.co.uk", "id": 7}',
            '{"email": "J***@Example.co.uk", "id": 7}',
        ),
        ("write to jane@x.com.", "write to j***@x.com."),
        ("emails a@x.com, bob@y.org", "emails a***@x.com, b***@y.org"),
        ("jane@", "j***@"),
        ("phone +44 7700 900123 is shared", "phone +44**********23 is shared"),
        ("+4915112345678", "+49*********78"),
        ("call 555-123-4567.", "call 555*******67."),
        ("(555) 123-4567", "(55*********67"),
        ("555.123.4567", "555*******67"),
        ("tel:+4915112345678", "tel:+49*********78"),
        ("phone '0301234567' is shared by 3 records", "phone '030*****67' is shared by 3 records"),
        ("at 12:30 5551234567", "at 12:30 555*****67"),
    ],
)
def test_emails_and_phones_are_masked(text: str, masked: str) -> None:
    assert mask_pii_text(text) == masked


def test_masking_keeps_the_shape_mask_value_gives() -> None:
    for value in ("jane.doe@x.com", "+447700900123", "0301234567"):
        assert mask_pii_text(value) == mask_value(value)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-20",
        "2026-11-30 09:59:41+00:00",
        "2026-11-30T09:59:41.123456Z",
        "30.11.2026 09:59:41",
        "1234.56",
        "12345678.90",
        "0.123456789",
        "2.6015488424e-05",  # a model parameter in scientific notation
        "lambda 1.5e-07",
        "4,679",
        "1,234,567,890",
        "SKU-119",
        "20261130T095930-70969aa3",  # a batch id
        "4e600670-5b9a-49c6-9eaf-188fa63d5a71",  # a run id
        "order 123456",
        "-123456789",
        "1234567890123456789",  # longer than any phone number (a hash)
        "12345678",  # shorter than one
        "record superseded by its latest version, in crm/2026-11-20.csv "
        "line 12 (batch 20261130T095930-70969aa3)",
        "shop/accounts/2026-11-20.csv: 4679 rows, loyalty_members 12345",
        "shop/orders/orders_2024-12.csv and responses_20250201.csv",
        "model churn-20261120T095930 promoted",
        "champion churn-20261204T222848-ff0b60d1",  # a model version
        "![plot](data:image/png;base64,iVBORw0KGgo12345AAAA+/9=)",
        "file_name '2026-11-20.csv', name is required",
        # a config key path ending in a personal field's name is not a label
        "sources[0].columns.email: column 'mail' not found in file shop/accounts/a.csv",
        "4,679 rows read, 12 quarantined, share 0.00256",
        # Dagster's step durations (`format_duration`) and the platform's own timings
        'Finished execution of step "ml__customer_ltv" in 23.41s.',
        'Finished execution of step "identity_resolution" in 12m34s.',
        "the nightly run took 25h13m",
        "scored in 1500ms, written in 2048.5ms",
        # a model's correction factors
        "totals corrected there by x0.9507 (purchases) and x1.0312 (order value)",
        "",
        "j***@x.com",
        "+44*******23",
    ],
)
def test_dates_numbers_and_ids_are_left_alone(text: str) -> None:
    assert mask_pii_text(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # record, customer, order, cookie, session and loyalty ids: letters with 4+ digits
        ("record 'C000002371' is superseded", "record 'C***' is superseded"),
        ("A0003472", "A***"),
        ("order ORD-123456789 refunded", "order O*** refunded"),
        ("anon-000000822 and s000000058", "a*** and s***"),
        ("ER-00001", "E***"),
        ("https://shop.example.com/p/SKU-1190", "https://shop.example.com/p/S***"),
        # shared values in identity evidence, and 12-digit loyalty card numbers
        ("evidence 'L12345678|+447700900123'", "evidence 'L***'"),
        ("card 710000007919", "card 710*******19"),
        ('{"loyalty_id": "LM000001"}', '{"loyalty_id": "L***"}'),
        # birth dates and postcodes, found by their label
        ("birth_date '07/09/2006' is not a date", "birth_date '0***' is not a date"),
        ('{"birth_date": "2006-09-07", "zip": "06108"}', '{"birth_date": "2***", "zip": "0***"}'),
        ("dob=1985-03-02", "dob=1***"),
        ("postal code 60647 unknown", "postal code 6*** unknown"),
        ("postal_code: 'SW1A 1AA'", "postal_code: 'S***'"),
        ("first_name 'Zoë'", "first_name 'Z***'"),
        # malformed and encoded emails
        ("email 'jane.doe.x.com' is not valid", "email 'j***' is not valid"),
        ("jane@@x.com", "j***@@x.com"),
        ("?email=jane.doe%40x.com&x=1", "?email=j***%40x.com&x=1"),
        ("/unsubscribe/jane.doe%2540x.com", "/unsubscribe/j***%2540x.com"),
        ("jane＠x.com", "j***＠x.com"),
        # malformed phones
        ("phone: 12345", "phone: 1***"),
        ("phone '+44 7700 9001'", "phone '+44********01'"),
        ("030/1234567 is a landline", "030******67 is a landline"),
    ],
)
def test_identifiers_in_free_text_are_masked(text: str, masked: str) -> None:
    assert mask_pii_text(text) == masked
    assert mask_pii_text(masked) == masked  # idempotent: metadata is masked at two places


def test_markdown_table_masks_every_cell_by_default() -> None:
    quarantine = pd.DataFrame(
        {
            "file": ["shop/2026-11-20.csv", "shop/2026-11-20.csv"],
            "line": [12, 4679],
            "rule": ["invalid_email", "shared_phone"],
            "reason": [
                "email 'jane@x.com' is not valid",
                "phone '+447700900123' is shared by 3 records",
            ],
            "quarantined_at": pd.to_datetime(["2026-11-30 09:59:41"] * 2, utc=True),
        }
    )
    table = markdown_table(quarantine)
    assert "jane@x.com" not in table and "j***@x.com" in table
    assert "+447700900123" not in table and "+44********23" in table
    assert "shop/2026-11-20.csv" in table
    assert "| 4679 |" in table
    assert "2026-11-30 09:59:41+00:00" in table
    unmasked = markdown_table(quarantine, mask_pii=False)
    assert "jane@x.com" in unmasked and "+447700900123" in unmasked


def test_markdown_table_masks_before_truncating_and_escaping() -> None:
    long = "x" * 50 + " reach me at jane.doe@example.com | or +44 7700 900123"
    cell = markdown_table(pd.DataFrame({"note": [long]})).splitlines()[2]
    assert "jane" not in cell and "example" not in cell
    assert cell.endswith("... |")
    piped = markdown_table(pd.DataFrame({"note": ["a|jane@x.com"]})).splitlines()[2]
    assert piped == "| a\\|j***@x.com |"


def test_masked_preview_still_masks_pii_columns_and_free_text() -> None:
    frame = pd.DataFrame(
        {
            "record_id": ["C000002371"],
            "email": ["jane@x.com"],
            "city": ["Leeds"],
            "attributes": ['{"alt": "joe@y.com"}'],
            "note": ["old address joe@y.com"],
        }
    )
    preview = masked_preview(frame, ["email"])
    assert "jane@x.com" not in preview and "joe@y.com" not in preview
    assert "C000002371" not in preview and "| C*** |" in preview and "Leeds" in preview
    assert "o***@y.com" in preview  # a column not known to be safe is masked whole


@pytest.fixture
def masking() -> Iterator[None]:
    install_log_masking()
    install_log_masking()  # idempotent
    try:
        yield
    finally:
        uninstall_log_masking()


def test_masking_filter_rewrites_the_formatted_message() -> None:
    record = logging.LogRecord(
        "any",
        logging.INFO,
        __file__,
        1,
        "customer %s, phone %s",
        ("jane@x.com", "+447700900123"),
        None,
    )
    assert MaskingFilter().filter(record) is True
    assert record.getMessage() == "customer j***@x.com, phone +44********23"


def test_masking_filter_on_a_handler_masks_propagated_records() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    parent = logging.getLogger("cdp_masking_test")
    handler = Keep()
    handler.addFilter(MaskingFilter())
    parent.addHandler(handler)
    try:
        logging.getLogger("cdp_masking_test.child").warning("bounced: %s", "jane@x.com")
    finally:
        parent.removeHandler(handler)
    assert [r.getMessage() for r in records] == ["bounced: j***@x.com"]


def test_install_masks_what_the_loggers_and_their_children_emit(
    masking: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("cdp_assets.defs.ingestion.raw").info("loaded %s", "jane@x.com")
    logging.getLogger("dagster.builtin").info("phone +44 7700 900123 on 2026-11-30")
    logging.getLogger("cdp_assets").info("as of 2026-11-20: 4,679 rows")
    logging.getLogger("elsewhere").info("jane@x.com")  # not one of the masked loggers
    assert [r.getMessage() for r in caplog.records] == [
        "loaded j***@x.com",
        "phone +44**********23 on 2026-11-30",
        "as of 2026-11-20: 4,679 rows",
        "jane@x.com",
    ]
    assert "jane@x.com" not in caplog.text.split("\n")[0]


def test_install_masks_context_log_in_the_dagster_event_log(masking: None) -> None:
    @dg.asset
    def noisy(context) -> None:  # noqa: ANN001 - Dagster reads the annotation as a class
        context.log.info("welcome email sent to jane.doe@x.com")

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([noisy], instance=instance)
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("j***@x.com" in m for m in messages)
    assert not any("jane.doe@x.com" in m for m in messages)


def test_uninstall_restores_the_record_factory() -> None:
    before = logging.getLogRecordFactory()
    install_log_masking(("cdp_assets",))
    assert logging.getLogRecordFactory() is not before
    uninstall_log_masking()
    assert logging.getLogRecordFactory() is before


def test_markdown_tables_show_floats_as_people_read_them() -> None:
    """Shares as percentages, money with thousands separators and cents, small figures to four
    significant digits; integers such as line numbers and years untouched."""
    frame = pd.DataFrame(
        {
            "segment": ["Champions", "Lost"],
            "share": [0.1551, 0.00067],
            "revenue": [448386.9207, 12.0],
            "auc": [0.712345, None],
            "purchase_rate": [2.5, 0.5],  # a rate above 1 is not a share
            "year": [2026, 2025],
        }
    )
    lines = markdown_table(frame).splitlines()
    assert lines[2] == "| Champions | 15.5 % | 448,386.92 | 0.7123 | 2.5 | 2026 |"
    assert lines[3] == "| Lost | 0.07 % | 12 |  | 0.5 | 2025 |"


def test_a_wide_preview_is_turned_and_still_masked() -> None:
    """More than WIDE_COLUMNS columns are cut off in the UI: one line per column instead, the
    first WIDE_RECORDS records, personal values masked as before."""
    from cdp_assets.reporting.markdown import WIDE_COLUMNS, WIDE_RECORDS

    frame = pd.DataFrame({f"figure_{i}": [float(i)] * 5 for i in range(WIDE_COLUMNS)})
    frame["email"] = ["jane@x.com"] * 5
    lines = masked_preview(frame).splitlines()
    assert (
        lines[0]
        == "| column | " + " | ".join(f"record {i + 1}" for i in range(WIDE_RECORDS)) + " |"
    )
    assert len(lines) == 2 + WIDE_COLUMNS + 1
    assert "| figure_3 | 3 | 3 | 3 |" in lines
    assert "| email | j***@x.com | j***@x.com | j***@x.com |" in lines
    narrow = masked_preview(frame[["figure_0", "email"]]).splitlines()
    assert narrow[0] == "| figure_0 | email |"


@pytest.mark.parametrize(
    ("column", "personal"),
    [
        ("email", True),
        ("email_key", True),
        ("first_name", True),
        ("name", True),
        ("phone", True),
        ("street", True),
        # what the platform says about a personal field is not the field
        ("email_consent", False),
        ("email_consent_at", False),
        ("email_consent_source", False),
        ("name_source", False),
        ("email_source", False),
        ("phone_source", False),
        ("address_source", False),
    ],
)
def test_columns_describing_a_personal_field_are_not_personal(column: str, personal: bool) -> None:
    assert is_personal_column(column) is personal


def test_ids_of_things_are_shown_in_tables_and_previews() -> None:
    """Product SKUs (`SKU-1001`) have the shape of an id but name no person: the columns that
    hold them are shown; an email in them, or an id in any other column, is still masked."""
    demand = pd.DataFrame(
        {
            "product_id": ["SKU-1001", "SKU-1002"],
            "product_name": ["Tea", "mail jane@x.com"],
            "note": ["after order ORD-123456789", ""],
        }
    )
    table = markdown_table(demand)
    assert "| SKU-1001 | Tea |" in table
    assert "| SKU-1002 | mail j***@x.com |" in table
    assert "O***" in table and "ORD-123456789" not in table
    profile = pd.DataFrame(
        {
            "customer_id": ["C000002371"],
            "email": ["jane@x.com"],
            "email_consent": pd.array([True], dtype="boolean"),
            "sms_consent": pd.array([False], dtype="boolean"),
            "email_consent_at": pd.to_datetime(["2026-11-02 10:00:00"]),
            "name_source": ["shop_accounts"],
            "email_source": ["crm_contacts"],
            "top_recommendations": ["SKU-1001|SKU-1002"],
            "churn_probability": [0.25],
        }
    )
    preview = masked_preview(profile)
    assert "| email_consent | True |" in preview and "| sms_consent | False |" in preview
    assert "| email_consent_at | 2026-11-02 10:00:00 |" in preview
    assert "| name_source | shop_accounts |" in preview
    assert "| email_source | crm_contacts |" in preview
    assert "| top_recommendations | SKU-1001\\|SKU-1002 |" in preview
    assert "jane@x.com" not in preview and "C000002371" not in preview
