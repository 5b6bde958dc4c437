"""The erasure log's export rows per request: counted with every file's columns normalised once
for all requests, they equal what removing each person alone would remove."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cdp_assets.activation.ad_hashing import hash_email, hash_phone
from cdp_assets.privacy.export_scrub import count_rows_of_people, scrub_exports


def test_rows_counted_per_person_are_those_each_alone_would_lose(tmp_path: Path) -> None:
    folder = tmp_path / "email_tool" / "loyal" / "e1"
    folder.mkdir(parents=True)
    pd.DataFrame(
        {
            "customer_id": ["C-1", "C-2", "C-3", " C-1 ", None],
            "email": ["ANN@Example.com ", "bob@example.com", None, None, "ann@example.com"],
            "phone": [None, "+441234567890", "+441234567890", None, None],
        }
    ).to_csv(folder / "full.csv", index=False)
    pd.DataFrame(
        {
            "email_sha256": [hash_email("bob@example.com"), "x", hash_email("ann@example.com")],
            "phone_sha256": [None, hash_phone("+441234567890"), None],
        }
    ).to_parquet(tmp_path / "email_tool" / "loyal" / "e1" / "ads.parquet")
    people = {
        "R1": ({"C-1"}, {"ann@example.com"}, set()),
        "R2": (set(), {"bob@example.com"}, {"+441234567890"}),
        "R3": ({"C-9"}, set(), set()),
    }
    counts = count_rows_of_people(tmp_path, people)
    alone = {
        key: sum(scrub_exports(tmp_path, *ids, dry_run=True).values())
        for key, ids in people.items()
    }
    assert counts == alone == {"R1": 4, "R2": 4, "R3": 0}


def test_snapshot_rows_counted_per_person_are_those_each_alone_would_lose(tmp_path: Path) -> None:
    from cdp_assets.ml.model_store import SNAPSHOT_FILE, ModelStore

    for version, ids in (("churn-1", ["C-1", "C-2", "C-2"]), ("leads-1", ["C-3", "C-1"])):
        folder = tmp_path / version.split("-")[0] / version
        folder.mkdir(parents=True)
        pd.DataFrame({"customer_id": ids, "x": range(len(ids))}).to_parquet(folder / SNAPSHOT_FILE)
    store = ModelStore(tmp_path)
    groups = {"R1": {"C-1"}, "R2": {"C-2", "C-3"}, "R3": set(), "R4": {"C-9"}}
    counts = store.count_customers(groups)
    alone = {key: store.erase_customers(ids, dry_run=True) for key, ids in groups.items()}
    assert counts == alone
    assert counts["R2"] == {"churn/churn-1/training_snapshot.parquet": 2,
                            "leads/leads-1/training_snapshot.parquet": 1}  # fmt: skip


def test_the_erasure_check_trusts_the_export_scan_of_the_same_list_only(tmp_path: Path) -> None:
    """A file the export steps' scan found clean against this very list is not read again by
    the erasure check; a file it found traces in, or a scan against another list, is."""
    from cdp_assets.privacy.export_trace_cache import cached_export_traces
    from cdp_assets.privacy.identifiers import Identifiers
    from cdp_assets.privacy.trace import verified_file_traces

    salt = b"files-salt"
    gone = Identifiers()
    gone.add("email", ["gone@example.com"])
    listed = frozenset(gone.hashes(salt)["identifier_hash"])
    folder = tmp_path / "email_tool" / "loyal" / "e1"
    folder.mkdir(parents=True)
    pd.DataFrame({"email": ["ann@example.com"]}).to_csv(folder / "full.csv", index=False)
    pd.DataFrame({"email": ["Gone@Example.com"]}).to_csv(folder / "additions.csv", index=False)

    def check(suppressed: frozenset[str]) -> dict[str, tuple[str, int]]:
        found = verified_file_traces(
            {"exports": tmp_path}, salt, suppressed, suppressed, Identifiers(), {}, "f", "f"
        )
        return {
            t: (s, int(n))
            for t, s, n in zip(found["table"], found["scan"], found["traces"], strict=True)
        }

    assert check(listed) == {
        "exports/email_tool/loyal/e1/additions.csv": ("full", 1),
        "exports/email_tool/loyal/e1/full.csv": ("full", 0),
    }
    cached_export_traces(tmp_path, salt, listed)  # what the export step does
    assert check(listed) == {
        "exports/email_tool/loyal/e1/additions.csv": ("full", 1),
        "exports/email_tool/loyal/e1/full.csv": ("remembered", 0),
    }
    other = listed | {"0" * 64}
    assert check(other)["exports/email_tool/loyal/e1/full.csv"] == ("full", 0)


def test_files_the_export_scan_found_clean_are_not_read_to_finish_interrupted_scrubs(
    tmp_path: Path,
) -> None:
    from cdp_assets.defs.privacy.erasure import _known_clean
    from cdp_assets.privacy.export_trace_cache import cached_export_traces, remembered_scans
    from cdp_assets.privacy.identifiers import Identifiers

    salt = b"files-salt"
    gone = Identifiers()
    gone.add("email", ["gone@example.com"])
    listed = frozenset(gone.hashes(salt)["identifier_hash"])
    folder = tmp_path / "email_tool" / "loyal" / "e1"
    folder.mkdir(parents=True)
    pd.DataFrame({"email": ["ann@example.com"]}).to_csv(folder / "full.csv", index=False)
    pd.DataFrame({"email": ["gone@example.com"]}).to_csv(folder / "additions.csv", index=False)
    clean = _known_clean(tmp_path, {}, "f", remembered_scans(tmp_path, salt, listed))
    assert not clean(folder / "full.csv")  # nothing remembered yet
    cached_export_traces(tmp_path, salt, listed)
    clean = _known_clean(tmp_path, {}, "f", remembered_scans(tmp_path, salt, listed))
    assert clean(folder / "full.csv") and not clean(folder / "additions.csv")
    other = _known_clean(tmp_path, {}, "f", remembered_scans(tmp_path, salt, listed | {"0" * 64}))
    assert not other(folder / "full.csv")


def test_snapshots_the_ledger_found_clean_are_not_read_to_finish_interrupted_scrubs(
    tmp_path: Path, monkeypatch
) -> None:
    """A training snapshot whose bytes the trace check found clean against this very list is
    not read again; one that changed since (or was never checked) is read and scrubbed."""
    from cdp_assets.defs.privacy import erasure
    from cdp_assets.ml.model_store import SNAPSHOT_FILE, ModelStore
    from cdp_assets.privacy.identifiers import Identifiers
    from cdp_assets.privacy.trace import file_checksum

    salt = b"snapshot-salt"
    gone = Identifiers()
    gone.add("customer_id", ["C-gone"])
    listed = frozenset(gone.hashes(salt)["identifier_hash"])
    store_root = tmp_path / "models"
    checked = store_root / "churn" / "v1" / SNAPSHOT_FILE
    unchecked = store_root / "leads" / "v1" / SNAPSHOT_FILE
    for path, ids in ((checked, ["C-1", "C-2"]), (unchecked, ["C-3", "C-gone"])):
        path.parent.mkdir(parents=True)
        pd.DataFrame({"customer_id": ids, "label": [0, 1]}).to_parquet(path, index=False)
    ledger = {
        f"{erasure.MODEL_STORE_LABEL}/churn/v1/{SNAPSHOT_FILE}": (file_checksum(checked), "fp"),
        f"{erasure.MODEL_STORE_LABEL}/leads/v1/{SNAPSHOT_FILE}": ("0" * 64, "fp"),
    }
    read: list[Path] = []
    read_parquet = pd.read_parquet

    def counting(path, *args, **kwargs):
        read.append(Path(path))
        return read_parquet(path, *args, **kwargs)

    monkeypatch.setattr(pd, "read_parquet", counting)
    clean = erasure._known_clean(store_root, ledger, "fp", label=erasure.MODEL_STORE_LABEL)
    exports = tmp_path / "exports"
    exports.mkdir()
    removed = erasure.finish_interrupted_scrubs(
        exports, ModelStore(store_root), salt, listed, snapshots_clean=clean
    )
    assert removed == 1  # read to find C-gone, then both files read again to remove him
    assert read[0] == unchecked and checked not in read[:1]
    assert list(read_parquet(unchecked)["customer_id"]) == ["C-3"]
    # the nightly case: nobody left to remove; the vouched-for snapshot is not read at all
    ledger[f"{erasure.MODEL_STORE_LABEL}/leads/v1/{SNAPSHOT_FILE}"] = (
        file_checksum(unchecked),
        "fp",
    )
    read.clear()
    clean = erasure._known_clean(store_root, ledger, "fp", label=erasure.MODEL_STORE_LABEL)
    assert (
        erasure.finish_interrupted_scrubs(
            exports, ModelStore(store_root), salt, listed, snapshots_clean=clean
        )
        == 0
    )
    assert read == []
    assert erasure.finish_interrupted_scrubs(exports, ModelStore(store_root), salt, listed) == 0
    assert sorted(read) == sorted([checked, unchecked])  # without the ledger: both read
    # against another list the same file is not vouched for
    other = erasure._known_clean(store_root, ledger, "other", label=erasure.MODEL_STORE_LABEL)
    assert not other(checked) and clean(checked)


def test_export_files_the_scrub_read_clean_are_not_read_again_by_the_trace_check(
    tmp_path: Path,
) -> None:
    """Each night the scrub of earlier erasures reads the export files no scan vouches for;
    those it finds clean go into the trace check's ledger with their bytes' checksum, so the
    check does not read them a second time. A file the scrub rewrote is read again."""
    from cdp_assets.defs.privacy import erasure
    from cdp_assets.ml.model_store import ModelStore
    from cdp_assets.privacy.identifiers import Identifiers
    from cdp_assets.privacy.trace import file_checksum, verified_file_traces

    salt = b"files-salt"
    gone = Identifiers()
    gone.add("email", ["gone@example.com"])
    listed = frozenset(gone.hashes(salt)["identifier_hash"])
    exports = tmp_path / "exports"
    folder = exports / "email_tool" / "loyal" / "e1"
    folder.mkdir(parents=True)
    pd.DataFrame({"email": ["ann@example.com"]}).to_csv(folder / "full.csv", index=False)
    pd.DataFrame({"email": ["Gone@Example.com", "bo@example.com"]}).to_csv(
        folder / "additions.csv", index=False
    )
    (tmp_path / "models").mkdir()
    read_clean = erasure.ReadClean(exports, "fp")
    removed = erasure.finish_interrupted_scrubs(
        exports, ModelStore(tmp_path / "models"), salt, listed, read_clean=read_clean
    )
    assert removed == 1
    full = "exports/email_tool/loyal/e1/full.csv"
    assert read_clean.entries == {full: (file_checksum(folder / "full.csv"), "fp")}
    found = verified_file_traces(
        {"exports": exports}, salt, listed, listed, Identifiers(), read_clean.entries, "fp", "fp"
    )
    scans = dict(zip(found["table"], zip(found["scan"], found["rows"], strict=True), strict=True))
    assert scans == {
        full: ("unchanged", 0),
        "exports/email_tool/loyal/e1/additions.csv": ("full", 1),
    }
    # Without those entries both files are read in full.
    found = verified_file_traces(
        {"exports": exports}, salt, listed, listed, Identifiers(), {}, "fp", "fp"
    )
    assert found["scan"].tolist() == ["full", "full"]


def test_a_file_is_hashed_once_while_its_bytes_stay_put(tmp_path: Path, monkeypatch) -> None:
    """The erasure step's checksums: one read of a file's bytes for its several checks, and a
    new one once the file is rewritten (atomically: another inode)."""
    from cdp_assets.activation.atomic import write_bytes_atomically
    from cdp_assets.privacy import file_checksums as trace

    path = tmp_path / "full.csv"
    path.write_text("email\nann@example.com\n")
    hashed: list[Path] = []
    plain = trace.file_checksum

    def counting(file: Path) -> str:
        hashed.append(file)
        return plain(file)

    monkeypatch.setattr(trace, "file_checksum", counting)
    checksums_of = trace.FileChecksums()
    first = checksums_of(path)
    assert checksums_of(path) == first == plain(path) and hashed == [path]
    write_bytes_atomically(path, b"email\n", 0o600)
    assert checksums_of(path) == plain(path) != first and hashed == [path, path]


def _snapshots_after_training(
    tmp_path: Path, monkeypatch
) -> tuple[bytes, frozenset[str], Path, dict[str, Path]]:
    """(salt, suppression list, model store folder, snapshot per model) after the training
    step saved and scanned two snapshots: churn's clean, leads' holding an erased customer."""
    from cdp_assets.defs.ml.classifier_training import scan_training_snapshots
    from cdp_assets.defs.resources import WarehouseResource
    from cdp_assets.privacy.identifiers import Identifiers
    from cdp_assets.privacy.suppression import SUPPRESSION, salt_fingerprint
    from cdp_assets.warehouse import Warehouse
    from cdp_assets_tests.ingest.helpers import csv_source, make_config

    config = make_config(tmp_path, csv_source())
    monkeypatch.setenv(config.privacy.salt_env, "train-salt")
    salt = b"train-salt"
    gone = Identifiers()
    gone.add("customer_id", ["C-gone"])
    hashes = gone.hashes(salt)
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    Warehouse(url).replace_table(
        SUPPRESSION, hashes.assign(salt_fingerprint=salt_fingerprint(salt))
    )
    models = tmp_path / "models"
    snapshots = {}
    for name, customers in (("churn", ["C1", "C2"]), ("leads", ["C3", "C-gone"])):
        folder = models / name / f"{name}-1"
        folder.mkdir(parents=True)
        snapshots[name] = folder / "training_snapshot.parquet"
        pd.DataFrame({"customer_id": customers, "x": [1.0, 2.0]}).to_parquet(snapshots[name])
    assert scan_training_snapshots(config, WarehouseResource(url=url), models) == 2
    assert scan_training_snapshots(config, WarehouseResource(url=url), models) == 0  # known
    return salt, frozenset(hashes["identifier_hash"]), models, snapshots


def test_training_snapshots_scanned_by_the_training_step_are_not_read_again(
    tmp_path: Path, monkeypatch
) -> None:
    """The training step scans the snapshots it saved against the suppression list: the
    erasure check then trusts a clean one (`remembered`) and still reads one with a trace."""
    from cdp_assets.privacy.identifiers import Identifiers
    from cdp_assets.privacy.trace import verified_file_traces

    salt, listed, models, _ = _snapshots_after_training(tmp_path, monkeypatch)
    found = verified_file_traces(
        {"models": models}, salt, listed, listed, Identifiers(), {}, "fp", "fp"
    )
    scans = dict(zip(found["table"], zip(found["scan"], found["traces"], strict=True), strict=True))
    assert scans == {
        "models/churn/churn-1/training_snapshot.parquet": ("remembered", 0),
        "models/leads/leads-1/training_snapshot.parquet": ("full", 1),
    }


def test_the_scrub_of_earlier_erasures_does_not_read_snapshots_training_found_clean(
    tmp_path: Path, monkeypatch
) -> None:
    """The night after a training, finishing interrupted scrubs read every customer id of the
    new snapshots; a snapshot the training step scanned clean against the same list is
    trusted now, one with a trace is still read (and its erased rows removed)."""
    from cdp_assets.defs.privacy.erasure import finish_interrupted_scrubs, snapshots_known_clean
    from cdp_assets.ml.model_store import ModelStore
    from cdp_assets.privacy.export_trace_cache import remembered_scans

    salt, listed, models, snapshots = _snapshots_after_training(tmp_path, monkeypatch)
    clean = snapshots_known_clean(models, {}, "fp", remembered_scans(models, salt, listed))
    # the ids the scrub reads: the snapshot with a trace only
    assert ModelStore(models).snapshot_customer_ids(clean) == {"C3", "C-gone"}
    exports = tmp_path / "exports"
    exports.mkdir()
    removed = finish_interrupted_scrubs(exports, ModelStore(models), salt, listed, None, clean)
    assert removed == 1
    assert pd.read_parquet(snapshots["leads"])["customer_id"].tolist() == ["C3"]
    assert pd.read_parquet(snapshots["churn"])["customer_id"].tolist() == ["C1", "C2"]
    # without the training scan's memory (as the step wired it before) both were read
    unaware = snapshots_known_clean(models, {}, "fp", {})
    assert ModelStore(models).snapshot_customer_ids(unaware) == {"C1", "C2", "C3"}
