"""The cheaper export path gives the same bytes, and an audience whose inputs did not change
is neither built nor rewritten while a changed one is.

- Ads hashes computed once per person (`with_ad_hashes`) give the same consent split, the same
  rows and the same file bytes as hashing each audience's members again.
- `rows_of_customers` selects what `isin` selects.
- The export asset reuses an audience whose members' customer_360 rows did not change without
  building a row (`_build_one` not called for it), and builds the one that changed.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from cdp_assets.activation.audience_selection import (
    AD_EMAIL_HASH,
    apply_consent,
    export_rows,
    rows_of_customers,
    with_ad_hashes,
)
from cdp_assets.activation.consent_audit import allowed_identifiers
from cdp_assets.activation.export_files import LATEST_FILE, frame_bytes
from cdp_assets.activation.export_inputs import INPUTS_FILE
from cdp_assets.config import CDPConfig
from cdp_assets.contracts.customer_360 import CUSTOMER_360_DTYPES
from cdp_assets.defs.activation import exports as exports_module
from cdp_assets.defs.activation.exports import build_exports_asset
from cdp_assets.defs.catalog import CUSTOMER_360, MEMBERSHIP
from cdp_assets.defs.resources import ExportsResource, WarehouseResource
from cdp_assets.warehouse import Warehouse, dispose_engines

# Addresses that normalise differently for the ad platforms: case and blanks, gmail dots,
# shared addresses, a phone not in E.164, unusable values, consent null / False / True.
TRICKY = pd.DataFrame(
    {
        "customer_id": ["C01", "C02", "C03", "C04", "C05", "C06", "C07", "C08", "C09", "C10"],
        "email": [
            " Ann.Lee@Gmail.com ",
            "annlee@gmail.com",
            "bob@example.com",
            "BOB@example.com",
            "no-at-sign",
            None,
            "   ",
            "cy+tag@googlemail.com",
            "dee@example.org",
            "=cmd@example.com",
        ],
        "phone": [
            "+4915111111111",
            None,
            "(212) 565-0000",
            "+4915111111111",
            "+12125650000",
            "not a phone",
            "+4915333333333",
            None,
            "",
            "+4915444444444",
        ],
        "first_name": ["Ann", "Ann", "Bob", "Bo", "X", "Y", "Z", "Cy", "Dee", "Eve"],
        "email_consent": [True, True, True, False, True, None, True, True, True, True],
        "sms_consent": [True, False, True, True, None, True, True, False, True, True],
        "ads_consent": [None, True, False, True, True, True, None, True, True, None],
        "suppressed": [False, False, False, False, False, False, False, False, True, False],
    }
).astype({"email_consent": "boolean", "sms_consent": "boolean", "ads_consent": "boolean"})


@pytest.mark.parametrize("channel", ["email", "sms", "ads"])
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_hashes_computed_once_give_the_same_files(channel: str, fmt: str) -> None:
    hashed = with_ad_hashes(TRICKY)
    for ids in (list(TRICKY["customer_id"]), ["C02", "C04", "C05", "C07", "C10"]):
        plain_eligible, plain_excluded = apply_consent(
            rows_of_customers(TRICKY, pd.Series(ids)), channel
        )
        fast_eligible, fast_excluded = apply_consent(
            rows_of_customers(hashed, pd.Series(ids)), channel
        )
        pd.testing.assert_frame_equal(plain_excluded, fast_excluded)
        plain = export_rows(plain_eligible, channel)
        fast = export_rows(fast_eligible, channel)
        pd.testing.assert_frame_equal(plain, fast)
        assert frame_bytes(plain, fmt) == frame_bytes(fast, fmt)
    if channel == "ads":  # the ads rows really hold hashes: gmail dots and case removed
        assert hashed.loc[0, AD_EMAIL_HASH] == hashed.loc[1, AD_EMAIL_HASH]
        assert pd.isna(hashed.loc[4, AD_EMAIL_HASH]) and pd.isna(hashed.loc[6, AD_EMAIL_HASH])


def test_the_consent_audit_allows_every_eligible_address() -> None:
    allowed = {k: set(v.to_pylist()) for k, v in allowed_identifiers(TRICKY).items()}
    # Bob's two casings are both allowed: either may be the one a file keeps.
    assert allowed["email"] == {
        " Ann.Lee@Gmail.com ",
        "annlee@gmail.com",
        "bob@example.com",
        "no-at-sign",
        "cy+tag@googlemail.com",
        "=cmd@example.com",
    }
    assert allowed["sms"] == {
        "+4915111111111",
        "(212) 565-0000",
        "not a phone",  # SMS needs a phone and an opt-in; staging validates the number
        "+4915333333333",
        "+4915444444444",
    }
    hashed = with_ad_hashes(TRICKY)
    expected = export_rows(apply_consent(TRICKY, "ads")[0], "ads")
    assert allowed["ads"] == set(expected["email_sha256"].dropna()) | set(
        expected["phone_sha256"].dropna()
    )
    assert hashed.loc[8, AD_EMAIL_HASH] not in allowed["ads"]  # Dee is suppressed


def test_rows_of_customers_selects_what_isin_selects() -> None:
    frame = TRICKY.astype({"customer_id": "string[pyarrow]"})
    ids = pd.Series(["C09", "C01", None, "C01", "nobody"], dtype="string")
    pd.testing.assert_frame_equal(
        rows_of_customers(frame, ids), frame[frame["customer_id"].isin(["C09", "C01"])]
    )
    assert rows_of_customers(frame, pd.Series([], dtype="string")).empty


# --- the asset ---------------------------------------------------------------------------

AUDIENCES = {"fans": ["P1", "P2"], "critics": ["P3", "P4"]}


def _profiles(first_names: dict[str, str] | None = None) -> pd.DataFrame:
    names = {"P1": "Ann", "P2": "Bob", "P3": "Cy", "P4": "Dee"} | (first_names or {})
    frame = pd.DataFrame(
        {
            "customer_id": list(names),
            "email": [f"{n.lower()}@example.com" for n in ("ann", "bob", "cy", "dee")],
            "first_name": list(names.values()),
            "email_consent": True,
        }
    )
    for column, dtype in CUSTOMER_360_DTYPES.items():
        if column not in frame.columns:
            frame[column] = pd.Series([None] * len(frame), index=frame.index).astype(dtype)
    return frame[list(CUSTOMER_360_DTYPES)].astype(CUSTOMER_360_DTYPES)


def _membership() -> pd.DataFrame:
    rows = [(a, c) for a, ids in AUDIENCES.items() for c in ids]
    return pd.DataFrame(
        {
            "audience": [a for a, _ in rows],
            "customer_id": [c for _, c in rows],
            "as_of": pd.Timestamp("2025-03-31"),
        }
    ).astype({"audience": "string", "customer_id": "string"})


class Exports:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CDP_PRIVACY_SALT", "test-salt")
        self.url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
        self.root = tmp_path / "exports"
        self.config = CDPConfig.model_validate(
            {
                "as_of": "2025-03-31",
                "analytics": {"audiences": [{"name": a, "rule": "orders >= 1"} for a in AUDIENCES]},
                "exports": {
                    "dir": str(self.root),
                    "destinations": [{"name": "esp", "channel": "email", "format": "csv"}],
                },
            }
        )
        self.built: list[str] = []
        build = exports_module._build_one

        def counting(root, destination, audience, *args, **kwargs):  # noqa: ANN001, ANN202
            self.built.append(audience)
            return build(root, destination, audience, *args, **kwargs)

        monkeypatch.setattr(exports_module, "_build_one", counting)
        with Warehouse(self.url).transaction() as session:
            session.replace_table(CUSTOMER_360, _profiles())
            session.replace_table(MEMBERSHIP, _membership())

    def materialize(self) -> dg.ExecuteInProcessResult:
        self.built.clear()
        result = dg.materialize(
            [build_exports_asset(self.config)],
            resources={
                "warehouse": WarehouseResource(url=self.url),
                "exports": ExportsResource(root=str(self.root)),
            },
        )
        dispose_engines()
        return result

    def files(self, audience: str) -> dict[str, tuple[int, bytes]]:
        folder = self.root / "esp" / audience
        return {
            str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }


def test_an_unchanged_audience_is_not_built_and_a_changed_one_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = Exports(tmp_path, monkeypatch)
    project.materialize()
    assert sorted(project.built) == ["critics", "fans"]
    record = json.loads((project.root / "esp" / "fans" / INPUTS_FILE).read_text())
    assert set(record) == {"version", "export_id", "digest", "members", "excluded", "full_sha256"}
    fans, critics = project.files("fans"), project.files("critics")

    # Cy (a critic) changes his first name: only the critics are built again.
    with Warehouse(project.url).transaction() as session:
        session.replace_table(CUSTOMER_360, _profiles({"P3": "Cyrus"}))
    result = project.materialize()
    assert project.built == ["critics"]
    assert project.files("fans") == fans  # same files, bytes and modification times
    assert project.files("critics") != critics
    latest = json.loads((project.root / "esp" / "critics" / LATEST_FILE).read_text())
    full = (project.root / "esp" / "critics" / latest["export_id"] / "full.csv").read_text()
    assert "Cyrus" in full
    metadata = result.asset_materializations_for_node("activation__audience_exports")[0].metadata
    assert metadata["exports_not_rebuilt"].value == 1
    assert metadata["files_written"].value == 1
    assert "| fans | email | 2 |" in metadata["exports"].value  # figures kept from the record

    # Nothing changed: nothing is built, nothing rewritten.
    fans, critics = project.files("fans"), project.files("critics")
    project.materialize()
    assert project.built == []
    assert (project.files("fans"), project.files("critics")) == (fans, critics)


def test_a_full_file_changed_on_disk_is_built_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = Exports(tmp_path, monkeypatch)
    project.materialize()
    folder = project.root / "esp" / "fans"
    export_id = json.loads((folder / LATEST_FILE).read_text())["export_id"]
    (folder / export_id / "full.csv").write_text("customer_id,email,first_name\n")
    project.materialize()
    assert project.built == ["fans"]  # the record no longer matches the file's checksum
