"""activation.audience_selection / export_files: rows, deltas, the files and manifests
written; and privacy.export_scrub: erasure scrubbing of those files."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cdp_assets.activation.ad_hashing import hash_email, hash_phone
from cdp_assets.activation.audience_selection import channel_columns, export_key, export_rows
from cdp_assets.activation.export_files import (
    EXPORT_SCHEMA_VERSION,
    export_delta,
    frame_bytes,
    read_export_file,
    write_export,
)
from cdp_assets.privacy.export_scrub import scrub_exports

AS_OF = dt.date(2025, 3, 31)
T1 = dt.datetime(2025, 4, 1, 6, 0, 0, 1, tzinfo=dt.UTC)
T2 = dt.datetime(2025, 4, 2, 6, 0, 0, 2, tzinfo=dt.UTC)
T3 = dt.datetime(2025, 4, 3, 6, 0, 0, 3, tzinfo=dt.UTC)
PEOPLE: dict[str, tuple[str, str, str]] = {  # customer_id: (email, phone, first_name)
    "A": ("ann@example.com", "+4915111111111", "Ann"),
    "B": ("bob@example.com", "+4915222222222", "Bob"),
    "C": ("cy@example.com", "+4915333333333", "Cy"),
    "D": ("dee@example.com", "+4915444444444", "Dee"),
}


def _eligible(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ids,
            "email": [PEOPLE[i][0] for i in ids],
            "phone": [PEOPLE[i][1] for i in ids],
            "first_name": [PEOPLE[i][2] for i in ids],
        }
    )


def _email_rows(ids: list[str]) -> pd.DataFrame:
    return export_rows(_eligible(ids), "email")


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under root (hidden ones too) with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- columns and rows -------------------------------------------------------------------


def test_channel_columns_and_keys() -> None:
    assert channel_columns("email", ("city", "loyalty_points")) == [
        "customer_id",
        "email",
        "first_name",
        "city",
        "loyalty_points",
    ]
    assert channel_columns("sms") == ["customer_id", "phone"]
    assert channel_columns("ads") == ["email_sha256", "phone_sha256"]
    assert export_key("email") == ["email"]
    assert export_key("sms") == ["phone"]
    assert export_key("ads") == ["email_sha256", "phone_sha256"]
    with pytest.raises(ValueError):
        channel_columns("sms", ("city",))
    with pytest.raises(ValueError):
        channel_columns("email", ("email",))


def test_shared_addresses_are_sent_once_for_the_smallest_customer_id() -> None:
    eligible = pd.DataFrame(
        {
            "customer_id": ["c3", "c1", "c2", "c4"],
            "email": ["z@x.com", "shared@x.com", "shared@x.com", ""],
            "phone": ["+4915100000001", "+4915100000002", "+4915100000001", "+4915100000003"],
            "first_name": ["Zed", "One", "Two", "Four"],
            "loyalty_points": pd.array([3, None, 2, 4], dtype="Int64"),
        }
    )
    rows = export_rows(eligible, "email", ("loyalty_points",))
    assert rows.columns.tolist() == ["customer_id", "email", "first_name", "loyalty_points"]
    assert rows["customer_id"].tolist() == ["c1", "c3"]
    assert rows["email"].tolist() == ["shared@x.com", "z@x.com"]
    assert str(rows["loyalty_points"].dtype) == "Int64"

    sms = export_rows(eligible, "sms")
    assert sms.values.tolist() == [
        ["c2", "+4915100000001"],  # c2 < c3 for the shared phone
        ["c1", "+4915100000002"],
        ["c4", "+4915100000003"],
    ]

    ads = export_rows(eligible, "ads")
    # each address once: c1 keeps shared@ and ...02; c2 keeps ...01 only; c3 keeps z@ only
    assert set(ads.itertuples(index=False, name=None)) == {
        (hash_email("shared@x.com"), hash_phone("+4915100000002")),
        (hash_email("z@x.com"), pd.NA),
        (pd.NA, hash_phone("+4915100000001")),
        (pd.NA, hash_phone("+4915100000003")),
    }
    # sorted by email hash (nulls last), then phone hash
    with_email = ads["email_sha256"].dropna().tolist()
    assert with_email == sorted(with_email) and ads["email_sha256"].iloc[:2].notna().all()
    assert ads["phone_sha256"].iloc[2:].tolist() == sorted(ads["phone_sha256"].iloc[2:])
    assert "customer_id" not in ads.columns


def test_rows_do_not_depend_on_input_order() -> None:
    forward = _email_rows(["A", "B", "C", "D"])
    backward = _email_rows(["D", "C", "B", "A"])
    pd.testing.assert_frame_equal(forward, backward)
    assert frame_bytes(forward, "csv") == frame_bytes(backward, "csv")


# --- delta ------------------------------------------------------------------------------


def test_delta_hand_built() -> None:
    previous = _email_rows(["A", "B", "C"])
    current = _email_rows(["B", "C", "D"])
    additions, removals = export_delta(previous, current, ["email"])
    assert additions["customer_id"].tolist() == ["D"]
    assert removals["customer_id"].tolist() == ["A"]
    additions, removals = export_delta(None, current, ["email"])
    pd.testing.assert_frame_equal(additions, current)
    assert removals.empty and removals.columns.tolist() == current.columns.tolist()


def test_delta_keys_are_null_safe() -> None:
    previous = pd.DataFrame(
        {"email_sha256": ["e1", None, "e2"], "phone_sha256": ["p1", "p2", None]}, dtype="string"
    )
    current = pd.DataFrame(
        {"email_sha256": [None, "e2", None], "phone_sha256": ["p2", None, "p3"]}, dtype="string"
    )
    additions, removals = export_delta(previous, current, export_key("ads"))
    assert additions.values.tolist() == [[pd.NA, "p3"]]
    assert removals.values.tolist() == [["e1", "p1"]]


# --- writing ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_two_exports_full_delta_and_manifest(tmp_path: Path, fmt: str) -> None:
    excluded = {"erased_or_suppressed": 1, "no_email": 0, "email_not_confirmed": 2}
    first = write_export(
        tmp_path,
        "esp",
        "champions",
        "email",
        fmt,
        _email_rows(["A", "B", "C"]),
        AS_OF,
        excluded,
        now=T1,
    )
    assert first.export_id == "2025-03-31_20250401T060000000001Z"
    assert (first.rows, first.additions, first.removals, first.unchanged) == (3, 3, 0, False)
    assert first.manifest["previous_export_id"] is None

    current = _email_rows(["B", "C", "D"])
    second = write_export(
        tmp_path, "esp", "champions", "email", fmt, current, AS_OF, excluded, now=T2
    )
    audience_dir = tmp_path / "esp" / "champions"
    assert second.directory == audience_dir / second.export_id
    assert (second.rows, second.additions, second.removals) == (3, 1, 1)

    pd.testing.assert_frame_equal(read_export_file(second.directory / f"full.{fmt}"), current)
    assert read_export_file(second.directory / f"additions.{fmt}")["customer_id"].tolist() == ["D"]
    assert read_export_file(second.directory / f"removals.{fmt}")["customer_id"].tolist() == ["A"]

    manifest = json.loads((second.directory / "manifest.json").read_text())
    assert manifest == second.manifest
    assert {k: manifest[k] for k in ("destination", "audience", "channel", "format", "as_of")} == {
        "destination": "esp",
        "audience": "champions",
        "channel": "email",
        "format": fmt,
        "as_of": "2025-03-31",
    }
    assert manifest["schema_version"] == EXPORT_SCHEMA_VERSION
    assert manifest["export_id"] == "2025-03-31_20250402T060000000002Z"
    assert manifest["created_at"] == "2025-04-02T06:00:00.000002Z"
    assert manifest["previous_export_id"] == first.export_id
    assert manifest["excluded"] == excluded
    for kind, rows in (("full", 3), ("additions", 1), ("removals", 1)):
        entry = manifest["files"][kind]
        assert entry["path"] == f"{second.export_id}/{kind}.{fmt}"
        assert entry["rows"] == rows
        assert entry["sha256"] == _sha(audience_dir / entry["path"])
        assert entry["columns"] == ["customer_id", "email", "first_name"]
    # sorted keys, indent 2
    text = (second.directory / "manifest.json").read_text()
    assert text == json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert json.loads((audience_dir / "latest.json").read_text()) == {
        "export_id": second.export_id,
        "manifest": f"{second.export_id}/manifest.json",
    }
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary files left


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_rerun_with_the_same_rows_writes_nothing(tmp_path: Path, fmt: str) -> None:
    rows = _email_rows(["A", "B"])
    first = write_export(tmp_path, "esp", "champions", "email", fmt, rows, AS_OF, {}, now=T1)
    before = _tree(tmp_path)
    again = write_export(
        tmp_path,
        "esp",
        "champions",
        "email",
        fmt,
        _email_rows(["B", "A"]),
        AS_OF,
        {"no_email": 5},
        now=T2,
    )
    assert _tree(tmp_path) == before
    assert again.unchanged
    assert again.export_id == first.export_id
    assert again.manifest == first.manifest
    assert (again.rows, again.additions, again.removals) == (2, 0, 0)


def test_csv_bytes_and_round_trip_of_nulls(tmp_path: Path) -> None:
    eligible = pd.DataFrame(
        {
            "customer_id": ["c1", "c2"],
            "email": ["a@x.com", "b,c@x.com"],
            "first_name": ["", None],
            "city": ['Köln "Süd"', None],
        }
    )
    rows = export_rows(eligible, "email", ("city",))
    result = write_export(tmp_path, "esp", "all", "email", "csv", rows, AS_OF, {}, now=T1)
    data = (result.directory / "full.csv").read_bytes()
    assert (
        data
        == (
            'customer_id,email,first_name,city\nc1,a@x.com,,"Köln ""Süd"""\nc2,"b,c@x.com",,\n'
        ).encode()
    )
    pd.testing.assert_frame_equal(read_export_file(result.directory / "full.csv"), rows)


def test_parquet_types(tmp_path: Path) -> None:
    eligible = _eligible(["A", "B"]).assign(
        first_name=[None, None],  # all null: still a string column
        loyalty_points=pd.array([5, None], dtype="Int64"),
        monetary=[12.5, 0.0],
    )
    rows = export_rows(eligible, "email", ("loyalty_points", "monetary"))
    result = write_export(tmp_path, "esp", "all", "email", "parquet", rows, AS_OF, {}, now=T1)
    schema = pq.read_schema(result.directory / "full.parquet")
    assert {f.name: str(f.type) for f in schema} == {
        "customer_id": "string",
        "email": "string",
        "first_name": "string",
        "loyalty_points": "int64",
        "monetary": "double",
    }
    assert "__index_level_0__" not in schema.names
    pd.testing.assert_frame_equal(read_export_file(result.directory / "full.parquet"), rows)


def test_ads_export_and_null_hashes(tmp_path: Path) -> None:
    eligible = _eligible(["A", "B"]).assign(email=["ann@example.com", None])
    rows = export_rows(eligible, "ads")
    result = write_export(tmp_path, "google", "all", "ads", "csv", rows, AS_OF, {}, now=T1)
    back = read_export_file(result.directory / "full.csv")
    pd.testing.assert_frame_equal(back, rows)
    assert back.values.tolist() == [
        [hash_email("ann@example.com"), hash_phone(PEOPLE["A"][1])],
        [pd.NA, hash_phone(PEOPLE["B"][1])],
    ]
    # the row without an email hash is the same row again: nothing new
    again = write_export(tmp_path, "google", "all", "ads", "csv", rows, AS_OF, {}, now=T2)
    assert again.unchanged


def test_format_change_starts_from_the_previous_rows(tmp_path: Path) -> None:
    write_export(tmp_path, "esp", "all", "email", "csv", _email_rows(["A", "B"]), AS_OF, {}, now=T1)
    second = write_export(
        tmp_path, "esp", "all", "email", "parquet", _email_rows(["B", "C"]), AS_OF, {}, now=T2
    )
    assert (second.additions, second.removals) == (1, 1)


def test_names_that_are_not_folder_names_are_refused(tmp_path: Path) -> None:
    rows = _email_rows(["A"])
    for destination, audience in (("../up", "a"), ("esp", "a/b"), ("esp", "..")):
        with pytest.raises(ValueError):
            write_export(tmp_path, destination, audience, "email", "csv", rows, AS_OF, {}, now=T1)


# --- erasure ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_scrub_removes_a_person_everywhere(tmp_path: Path, fmt: str) -> None:
    # esp/champions: export 1 = A, B, C (all additions); export 2 = B, C, D (A in removals)
    one = write_export(
        tmp_path, "esp", "champions", "email", fmt, _email_rows(["A", "B", "C"]), AS_OF, {}, now=T1
    )
    two = write_export(
        tmp_path, "esp", "champions", "email", fmt, _email_rows(["B", "C", "D"]), AS_OF, {}, now=T2
    )
    ads = write_export(
        tmp_path,
        "google",
        "champions",
        "ads",
        fmt,
        export_rows(_eligible(["A", "C"]), "ads"),
        AS_OF,
        {},
        now=T1,
    )
    sms = write_export(
        tmp_path,
        "sms_gw",
        "champions",
        "sms",
        fmt,
        export_rows(_eligible(["A", "B"]), "sms"),
        AS_OF,
        {},
        now=T1,
    )
    other = write_export(
        tmp_path, "esp", "others", "email", fmt, _email_rows(["B", "C"]), AS_OF, {}, now=T1
    )
    before = _tree(tmp_path)

    email, phone, _ = PEOPLE["A"]
    removed = scrub_exports(tmp_path, {"A"}, {email}, {phone})
    rel = lambda r, kind, dest="esp", aud="champions": f"{dest}/{aud}/{r.export_id}/{kind}.{fmt}"  # noqa: E731
    assert removed == {
        rel(one, "full"): 1,
        rel(one, "additions"): 1,
        rel(two, "removals"): 1,
        rel(ads, "full", "google"): 1,
        rel(ads, "additions", "google"): 1,
        rel(sms, "full", "sms_gw"): 1,
        rel(sms, "additions", "sms_gw"): 1,
    }
    after = _tree(tmp_path)
    changed_manifests = {
        f"esp/champions/{one.export_id}/manifest.json",
        f"esp/champions/{two.export_id}/manifest.json",
        f"google/champions/{ads.export_id}/manifest.json",
        f"sms_gw/champions/{sms.export_id}/manifest.json",
    }
    assert after.keys() == before.keys()
    assert {p for p in after if after[p] != before[p]} == set(removed) | changed_manifests
    assert after[rel(other, "full", "esp", "others")] == before[rel(other, "full", "esp", "others")]

    for path in removed:
        frame = read_export_file(tmp_path / path)
        assert "A" not in set(frame.get("customer_id", pd.Series(dtype="string")).dropna())
        assert hash_email(email) not in set(
            frame.get("email_sha256", pd.Series(dtype="string")).dropna()
        )
    assert read_export_file(tmp_path / rel(one, "full"))["customer_id"].tolist() == ["B", "C"]
    assert read_export_file(tmp_path / rel(two, "removals")).empty
    assert read_export_file(tmp_path / rel(ads, "full", "google")).values.tolist() == [
        [hash_email(PEOPLE["C"][0]), hash_phone(PEOPLE["C"][1])]
    ]

    for manifest_path in changed_manifests:
        manifest = json.loads((tmp_path / manifest_path).read_text())
        audience_dir = (tmp_path / manifest_path).parent.parent
        for entry in manifest["files"].values():
            data_file = audience_dir / entry["path"]
            assert entry["sha256"] == _sha(data_file)
            assert entry["rows"] == len(read_export_file(data_file))
    # scrubbing again finds nobody
    assert scrub_exports(tmp_path, {"A"}, {email}, {phone}) == {}
    assert _tree(tmp_path) == after


def test_scrub_matches_the_ads_hash_of_an_email_alone(tmp_path: Path) -> None:
    eligible = pd.DataFrame(
        {"customer_id": ["x1"], "email": ["first.last@gmail.com"], "phone": [None]}
    )
    result = write_export(
        tmp_path, "google", "all", "ads", "csv", export_rows(eligible, "ads"), AS_OF, {}, now=T1
    )
    removed = scrub_exports(tmp_path, set(), {"first.last@gmail.com"}, set())
    assert removed == {
        f"google/all/{result.export_id}/full.csv": 1,
        f"google/all/{result.export_id}/additions.csv": 1,
    }
    assert scrub_exports(tmp_path / "missing", {"x"}, set(), set()) == {}


def test_after_scrub_the_next_export_still_compares_with_the_scrubbed_file(tmp_path: Path) -> None:
    write_export(tmp_path, "esp", "all", "email", "csv", _email_rows(["A", "B"]), AS_OF, {}, now=T1)
    scrub_exports(tmp_path, {"A"}, set(), set())
    again = write_export(
        tmp_path, "esp", "all", "email", "csv", _email_rows(["B"]), AS_OF, {}, now=T3
    )
    assert again.unchanged
