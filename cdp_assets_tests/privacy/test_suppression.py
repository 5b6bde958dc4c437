"""The suppression list: the salt, its fingerprint check, and erased people kept out of
ingestion (rows and malformed lines), counted in the ledger's `rows_suppressed`."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from cdp_assets.activation.ad_hashing import hash_email
from cdp_assets.config import CDPConfig, parse_config
from cdp_assets.contracts.canonical import LEDGER_DTYPES
from cdp_assets.ingest import IngestBatch, ingest_source
from cdp_assets.privacy.identifiers import Identifiers
from cdp_assets.privacy.suppression import (
    SUPPRESSION,
    SUPPRESSION_DTYPES,
    RowSuppressor,
    SuppressionError,
    load_suppressed,
    privacy_salt,
    salt_fingerprint,
)
from cdp_assets.privacy.trace import export_traces
from cdp_assets.warehouse import Warehouse, WarehouseSession, coerce_frame
from cdp_assets_tests.ingest.helpers import csv_source, make_config, write

SALT = b"suppression-test-salt"
AT = pd.Timestamp("2026-11-21T06:00:00Z")
EMPTY_LEDGER = pd.DataFrame({c: pd.Series(dtype=d) for c, d in LEDGER_DTYPES.items()})

ACCOUNTS = csv_source(
    columns={"source_record_id": "account_id", "email": "email", "phone": "phone"}
)
ORDERS = {
    "name": "shop_orders",
    "kind": "orders",
    "format": "csv",
    "path": "shop_orders/*.csv",
    "customer_ref_source": "shop_accounts",
    "columns": {
        "order_id": "order_id",
        "customer_ref": "account_id",
        "ordered_at": "ordered_at",
        "amount": "amount",
    },
}


def jane() -> Identifiers:
    """Jane as erasure lists her: normalised email and its key, E.164 phone, her account."""
    ids = Identifiers()
    ids.add("email", ["jane.doe@gmail.com", "janedoe@gmail.com"])
    ids.add("phone", ["+16502530000"])
    ids.add("record", ["shop_accounts:A1"])
    return ids


def suppressed_hashes(salt: bytes = SALT) -> frozenset[str]:
    return frozenset(jane().hashes(salt)["identifier_hash"])


# --------------------------------------------------------------------------- the salt


def salt_config(tmp_path: Path, **privacy: str) -> CDPConfig:
    return parse_config(
        {"landing_dir": "landing", "privacy": privacy},
        file=Path("cdp.yaml"),
        base_dir=tmp_path,
    )


def test_salt_from_the_environment_variable_named_in_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = salt_config(tmp_path, salt_env="MY_CDP_SALT")
    monkeypatch.setenv("MY_CDP_SALT", "from-the-env")
    monkeypatch.setenv("CDP_PRIVACY_SALT", "the-default-variable-is-not-read")
    assert privacy_salt(config) == b"from-the-env"
    assert not (tmp_path / ".cdp_privacy_salt").exists()


def test_salt_file_is_created_once_readable_by_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CDP_PRIVACY_SALT", raising=False)
    config = salt_config(tmp_path)
    first = privacy_salt(config)
    path = tmp_path / ".cdp_privacy_salt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 64 and int(first, 16) >= 0  # 32 random bytes, hex
    assert path.read_text(encoding="utf-8").strip().encode() == first
    assert privacy_salt(config) == first
    assert privacy_salt(salt_config(tmp_path)) == first  # another process, same salt
    # Another folder: another salt.
    assert privacy_salt(salt_config(tmp_path / "other")) != first


def test_salt_file_path_is_relative_to_cdp_yaml_and_an_empty_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CDP_SALT_X", raising=False)
    config = salt_config(tmp_path, salt_env="CDP_SALT_X", salt_file="secrets/salt")
    salt = privacy_salt(config)
    assert (tmp_path / "secrets" / "salt").read_text(encoding="utf-8").strip().encode() == salt
    monkeypatch.setenv("CDP_SALT_X", "")  # set but empty: the file still counts
    assert privacy_salt(config) == salt
    (tmp_path / "secrets" / "salt").write_text("\n", encoding="utf-8")
    monkeypatch.delenv("CDP_SALT_X")
    with pytest.raises(SuppressionError, match="empty"):
        privacy_salt(config)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_salt_file_others_can_read_is_refused_with_the_chmod_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int
) -> None:
    monkeypatch.delenv("CDP_PRIVACY_SALT", raising=False)
    config = salt_config(tmp_path)
    salt = privacy_salt(config)
    path = tmp_path / ".cdp_privacy_salt"
    path.chmod(mode)
    with pytest.raises(SuppressionError) as refused:
        privacy_salt(config)
    message = str(refused.value)
    assert str(path) in message and f"chmod 600 {path}" in message and f"{mode:04o}" in message
    path.chmod(0o600)
    assert privacy_salt(config) == salt


# --------------------------------------------------------------------------- the list


@contextmanager
def isolated(url: str) -> Iterator[WarehouseSession]:
    """One rolled-back transaction from an empty warehouse (the PostgreSQL test database is
    shared: its platform schemas are dropped inside the transaction and come back after)."""
    with Warehouse(url).engine.connect() as conn:
        transaction = conn.begin()
        try:
            session = WarehouseSession(conn)
            if session.dialect == "postgresql":
                for schema in ("raw", "staging", "ops", "core", "analytics", "ml", "activation"):
                    conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            yield session
        finally:
            transaction.rollback()


def suppression_frame(salt: bytes) -> pd.DataFrame:
    frame = (
        jane()
        .hashes(salt)
        .assign(request_id="R1", added_at=AT, salt_fingerprint=salt_fingerprint(salt))
    )
    return coerce_frame(frame, SUPPRESSION_DTYPES)


def test_load_suppressed_checks_the_salt_fingerprint(warehouse_url: str) -> None:
    with isolated(warehouse_url) as session:
        assert load_suppressed(session, SALT) == frozenset()  # no list yet
        session.append(SUPPRESSION, suppression_frame(SALT).iloc[:0])
        assert load_suppressed(session, SALT) == frozenset()  # an empty list
        session.append(SUPPRESSION, suppression_frame(SALT))
        assert load_suppressed(session, SALT) == suppressed_hashes()
        with pytest.raises(SuppressionError, match="another privacy salt"):
            load_suppressed(session, b"a-new-salt")
        # One row made with another salt is enough to refuse the list.
        session.append(SUPPRESSION, suppression_frame(b"old-salt").iloc[:1])
        with pytest.raises(SuppressionError):
            load_suppressed(session, SALT)


def test_salt_fingerprint() -> None:
    assert salt_fingerprint(SALT) == salt_fingerprint(SALT)
    assert salt_fingerprint(SALT) != salt_fingerprint(b"other")
    assert len(salt_fingerprint(SALT)) == 16
    assert SALT.hex() not in salt_fingerprint(SALT)


# --------------------------------------------------------------------------- raw rows


def test_row_suppressor_flags_the_person_in_any_spelling(tmp_path: Path) -> None:
    config = make_config(tmp_path, ACCOUNTS, ORDERS)
    suppressor = RowSuppressor(config.sources[0], config, SALT, suppressed_hashes())
    rows = pd.DataFrame(
        {
            "account_id": ["A7", "A8", "B1", "A1", None],
            "email": [" JaneDoe+news@GMAIL.com ", None, "bob@example.com", None, None],
            "phone": [None, "+1 (650) 253-0000", "650-253-0099", None, None],
        },
        dtype="string",
    )
    assert suppressor.rows(rows).tolist() == [True, True, False, True, False]
    lines = pd.Series(
        ["A9,Jane.Doe@gmail.com,x,y", "B9,bob@example.com,x,y", "A1,,,", "A10,,,"],
        dtype="string",
    )
    assert suppressor.payloads(lines).tolist() == [True, False, True, False]

    orders = RowSuppressor(config.sources[1], config, SALT, suppressed_hashes())
    placed = pd.DataFrame(
        {"order_id": ["O1", "O2"], "account_id": ["A1", "B1"], "amount": ["1", "2"]},
        dtype="string",
    )
    assert orders.rows(placed).tolist() == [True, False]  # her account's order

    # Hashes made with another salt, or no list at all: nobody is suppressed.
    other = RowSuppressor(config.sources[0], config, b"x", suppressed_hashes())
    assert not other.rows(rows).any()
    nobody = RowSuppressor(config.sources[0], config, SALT, frozenset())
    assert not nobody.rows(rows).any() and not nobody.payloads(lines).any()


# --------------------------------------------------------------------------- ingestion

FILE = (
    "account_id,email,phone\n"
    "A7,JaneDoe+news@GMAIL.com,\n"  # Jane, another spelling of her address
    "B1,bob@example.com,650-253-0099\n"
    "A8,,+1 650 253 0000\n"  # Jane, her phone in another format
    "B1,bob@example.com,650-253-0099\n"  # an exact duplicate
    "A9,jane.doe@gmail.com,1,extra\n"  # a malformed line naming Jane
    "B9,bob@example.com,x,extra\n"  # a malformed line naming Bob
)


def ingest(config: CDPConfig, suppressor: RowSuppressor | None) -> IngestBatch:
    return ingest_source(
        config.sources[0],
        config,
        ledger=EMPTY_LEDGER,
        known_row_hashes=np.array([], dtype="int64"),
        batch_id="b1",
        ingested_at=AT,
        suppressor=suppressor,
    )


def test_ingestion_suppresses_rows_and_malformed_lines_of_erased_people(tmp_path: Path) -> None:
    config = make_config(tmp_path, ACCOUNTS)
    write(tmp_path / "landing" / "shop_accounts" / "2026-11-21.csv", FILE)

    plain = ingest(config, None)
    assert plain.rows["account_id"].tolist() == ["A7", "B1", "A8"]
    assert plain.quarantine["line"].tolist() == [6, 7]
    assert plain.rows_suppressed == 0

    suppressor = RowSuppressor(config.sources[0], config, SALT, suppressed_hashes())
    batch = ingest(config, suppressor)
    assert batch.rows["account_id"].tolist() == ["B1"]
    assert batch.rows["_line"].tolist() == [3]
    assert batch.quarantine["line"].tolist() == [7]
    assert batch.quarantine["raw_payload"].tolist() == ["B9,bob@example.com,x,extra"]
    assert batch.counts == {
        "files_ingested": 1,
        "duplicate_files": 0,
        "rows_read": 6,
        "rows_loaded": 1,
        "rows_quarantined": 1,
        "exact_duplicates": 1,
        "rows_suppressed": 3,  # two rows and the malformed line
    }
    (row,) = batch.ledger.to_dict("records")
    assert (row["rows_read"], row["rows_loaded"], row["rows_quarantined"]) == (6, 1, 1)
    assert (row["exact_duplicates"], row["rows_suppressed"]) == (1, 3)
    assert row["rows_read"] == (
        row["rows_loaded"]
        + row["rows_quarantined"]
        + row["exact_duplicates"]
        + row["rows_suppressed"]
    )
    # Nothing of Jane's is kept anywhere in the batch.
    kept = pd.concat([batch.rows.astype(str), batch.quarantine.astype(str)], ignore_index=True)
    text = kept.to_csv(index=False).lower()
    assert "jane" not in text and "253 0000" not in text


# --------------------------------------------------------------------------- export files


def test_export_traces_find_the_person_in_export_files(tmp_path: Path) -> None:
    ids = jane()
    ids.add("email_sha256", [hash_email("jane.doe@gmail.com")])
    ids.add("customer_id", ["C-JANE"])
    suppressed = frozenset(ids.hashes(SALT)["identifier_hash"])
    root = tmp_path / "exports"
    ads = root / "ads" / "2026-11-21"
    ads.mkdir(parents=True)
    (ads / "audience.csv").write_text(
        "email_sha256,phone_sha256\n"
        f"{hash_email('jane.doe@gmail.com')},\n"
        f"{hash_email('bob@example.com')},\n",
        encoding="utf-8",
    )
    (ads / ".audience.csv.tmp.csv").write_text("customer_id\nC-JANE\n", encoding="utf-8")
    (ads / "manifest.json").write_text("{}", encoding="utf-8")
    pd.DataFrame(
        {"customer_id": ["C-BOB", "C-JANE", None], "phone": [None, None, "+16502530000"]}
    ).to_parquet(root / "sms.parquet")
    traces = export_traces(root, SALT, suppressed)
    assert traces.to_dict("records") == [
        {"table": "ads/2026-11-21/audience.csv", "rows": 2, "traces": 1},
        {"table": "sms.parquet", "rows": 3, "traces": 2},
    ]
    assert export_traces(tmp_path / "missing", SALT, suppressed).empty
