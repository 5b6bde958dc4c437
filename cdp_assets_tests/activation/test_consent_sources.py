"""A brand whose sources carry no email or SMS consent: the exports say plainly that nobody
can be sent on those channels, and which fields a source must map."""

from pathlib import Path

import pytest

from cdp_assets.activation.consent_sources import (
    channels_without_consent_source,
    consent_source_note,
)
from cdp_assets.config import CDPConfig
from cdp_assets_tests.activation.test_export_publishing import Project


def _config(customers_columns: dict[str, str]) -> CDPConfig:
    return CDPConfig.model_validate(
        {
            "sources": [
                {
                    "name": "crm",
                    "kind": "customers",
                    "format": "csv",
                    "path": "crm/*.csv",
                    "columns": {"source_record_id": "id", **customers_columns},
                },
                {
                    "name": "orders",
                    "kind": "orders",
                    "format": "csv",
                    "path": "orders/*.csv",
                    "columns": {"order_id": "o", "ordered_at": "t", "amount": "a"},
                },
            ]
        }
    )


def test_channels_whose_consent_no_source_maps_are_named() -> None:
    config = _config({"email": "email", "phone": "phone"})
    found = channels_without_consent_source(config, ["email", "sms", "ads", "email"])
    assert list(found) == ["email", "sms"]  # ads consent is an opt-out: no source needed
    assert "email_opt_in and email_opt_in_confirmed_at" in found["email"]
    assert "nobody has a confirmed email opt-in" in found["email"]
    assert "sms_opt_in and sms_opt_in_confirmed_at" in found["sms"]


def test_an_opt_in_without_its_confirmation_time_is_not_a_consent_source() -> None:
    # Double opt-in: an opt-in counts only with its confirmation timestamp.
    config = _config({"email_opt_in": "newsletter"})
    assert list(channels_without_consent_source(config, ["email"])) == ["email"]
    config = _config({"email_opt_in": "newsletter", "email_opt_in_confirmed_at": "confirmed"})
    assert channels_without_consent_source(config, ["email"]) == {}
    assert consent_source_note(config, ["email", "ads"]) == "none"


def test_audience_exports_say_that_nobody_can_be_emailed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The project's configuration has no source at all: nobody can have an email opt-in.
    project = Project(tmp_path, monkeypatch)
    result = project.materialize()
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.event_specific_data.materialization.metadata
    note = metadata["channels_without_consent_source"].value
    assert note.startswith("no email consent source: no customers source in cdp.yaml maps ")
