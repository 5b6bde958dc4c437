"""The local model store: versions, champion pointer, champion/challenger decisions."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from cdp_assets.ml import model_store as store_module
from cdp_assets.ml.model_store import (
    ModelStore,
    ModelStoreError,
    UntrustedModelError,
    frame_fingerprint,
    promotion_decision,
)

X = np.array([[0.0], [1.0], [2.0], [3.0]])
Y = np.array([0, 0, 1, 1])
T1 = dt.datetime(2026, 11, 29, 2, 15, tzinfo=dt.UTC)
T2 = dt.datetime(2026, 11, 30, 2, 15, tzinfo=dt.UTC)


def _two_versions(store: ModelStore) -> tuple[str, str]:
    first = LogisticRegression(C=0.01).fit(X, Y)
    second = LogisticRegression(C=100.0).fit(X, Y)
    v1 = store.save("churn", first, {"metrics": {"roc_auc": 0.7}}, created_at=T1)
    v2 = store.save("churn", second, {"metrics": {"roc_auc": 0.8}}, created_at=T2)
    return v1, v2


def test_versions_sort_by_time_and_carry_a_fingerprint(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    v1, v2 = _two_versions(store)
    assert v1.startswith("churn-20261129T021500-") and len(v1.rsplit("-", 1)[1]) == 8
    assert store.versions("churn") == [v1, v2]
    assert store.latest("churn") == v2
    assert store.versions("ltv") == []


def test_metadata_is_kept_with_the_version(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    metadata = {
        "training_cutoffs": [dt.date(2026, 5, 24)],
        "features": ("recency_days", "frequency"),
        "data_fingerprint": "abc",
        "metrics": {"roc_auc": np.float64(0.75), "brier": float("nan")},
        "rows": np.int64(12),
    }
    version = store.save("churn", LogisticRegression().fit(X, Y), metadata, created_at=T1)
    saved = store.metadata("churn", version)
    assert saved["version"] == version and saved["name"] == "churn"
    assert saved["created_at"] == T1.isoformat()
    assert saved["training_cutoffs"] == ["2026-05-24"]
    assert saved["features"] == ["recency_days", "frequency"]
    assert saved["metrics"] == {"roc_auc": 0.75, "brier": None}
    assert saved["rows"] == 12


def test_saving_the_same_model_twice_in_one_second_is_one_version(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    model = LogisticRegression().fit(X, Y)
    assert store.save("churn", model, {"a": 1}, created_at=T1) == store.save(
        "churn", model, {"a": 1}, created_at=T1
    )
    assert len(store.versions("churn")) == 1


def test_promote_then_load_the_champion_and_an_earlier_version(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    v1, v2 = _two_versions(store)
    assert store.champion("churn") is None
    with pytest.raises(ModelStoreError, match="no champion"):
        store.load("churn")
    store.promote("churn", v1)
    assert store.load("churn").version == v1
    store.promote("churn", v2, reason="better AUC")
    champion = store.load("churn")
    earlier = store.load("churn", v1)
    assert champion.version == v2 and earlier.version == v1
    assert earlier.metadata["metrics"] == {"roc_auc": 0.7}
    # two different fitted models, both still usable
    p1 = earlier.model.predict_proba(X)[:, 1]
    p2 = champion.model.predict_proba(X)[:, 1]
    assert not np.allclose(p1, p2)
    promotions = (tmp_path / "churn" / "promotions.jsonl").read_text().splitlines()
    assert [json.loads(line)["version"] for line in promotions] == [v1, v2]


def test_promoting_an_unknown_version_fails(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    v1, _ = _two_versions(store)
    store.promote("churn", v1)
    with pytest.raises(ModelStoreError, match="no version"):
        store.promote("churn", "churn-20990101T000000-deadbeef")
    with pytest.raises(ModelStoreError):
        store.load("churn", "ltv-20990101T000000-deadbeef")
    assert store.champion("churn") == v1


def test_a_failed_pointer_write_leaves_the_champion_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ModelStore(tmp_path)
    v1, v2 = _two_versions(store)
    store.promote("churn", v1)

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store_module.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        store.promote("churn", v2)
    monkeypatch.undo()
    assert store.champion("churn") == v1
    leftovers = [p.name for p in (tmp_path / "churn").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_invalid_names_are_refused(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    with pytest.raises(ModelStoreError, match="not a valid model name"):
        store.save("../escape", LogisticRegression().fit(X, Y), {})
    with pytest.raises(ModelStoreError, match="not a valid model name"):
        store.save("churn\n", LogisticRegression().fit(X, Y), {})


def test_frame_fingerprint_follows_values_not_the_index() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert frame_fingerprint(frame) == frame_fingerprint(frame.set_axis([5, 6]))
    assert frame_fingerprint(frame) != frame_fingerprint(frame.assign(a=[1, 3]))
    assert frame_fingerprint(frame) != frame_fingerprint(frame.astype({"a": "float64"}))


def test_promotion_decisions() -> None:
    assert promotion_decision({"roc_auc": 0.7}, None, floor=0.65)[0]
    promote, reason = promotion_decision({"roc_auc": 0.6}, None, floor=0.65)
    assert not promote and "below the floor" in reason
    assert promotion_decision({"roc_auc": 0.72}, {"roc_auc": 0.70}, floor=0.65)[0]
    promote, reason = promotion_decision({"roc_auc": 0.70}, {"roc_auc": 0.70})
    assert not promote and "does not beat" in reason
    # lower is better for the Brier score
    assert promotion_decision({"brier": 0.10}, {"brier": 0.12}, metric="brier")[0]
    assert not promotion_decision({"brier": 0.13}, {"brier": 0.12}, metric="brier")[0]
    assert not promotion_decision({"roc_auc": float("nan")}, None)[0]


def test_champion_challenger_needs_the_champion_on_the_same_holdout(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    v1, _ = _two_versions(store)
    promote, reason = store.champion_challenger("churn", {"roc_auc": 0.7}, None, floor=0.65)
    assert promote and "no champion" in reason
    store.promote("churn", v1)
    with pytest.raises(ModelStoreError, match="same holdout|challenger's holdout"):
        store.champion_challenger("churn", {"roc_auc": 0.7}, None)
    promote, reason = store.champion_challenger(
        "churn", {"roc_auc": 0.69}, {"roc_auc": 0.71}, floor=0.65
    )
    assert not promote and v1 in reason


def test_training_snapshots_are_kept_and_erasure_removes_a_customer(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    snapshot = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C1", "C3"],
            "cutoff": pd.to_datetime(["2026-05-01", "2026-05-01", "2026-07-01", "2026-07-01"]),
            "label": [1, 0, 0, 1],
            "frequency": [3.0, 1.0, 4.0, 2.0],
        }
    )
    fitted = LogisticRegression().fit(X, Y)
    v1 = store.save(
        "churn", fitted, {"metrics": {"roc_auc": 0.7}}, created_at=T1, snapshot=snapshot
    )
    v2 = store.save("leads", fitted, {"metrics": {"roc_auc": 0.7}}, created_at=T2)
    (path,) = store.snapshot_files()
    assert path == tmp_path / "churn" / v1 / store_module.SNAPSHOT_FILE
    pd.testing.assert_frame_equal(pd.read_parquet(path), snapshot)
    model_bytes = (tmp_path / "churn" / v1 / store_module.MODEL_FILE).read_bytes()

    removed = store.erase_customers({"C1", "C9"})

    assert removed == {f"churn/{v1}/{store_module.SNAPSHOT_FILE}": 2}
    assert pd.read_parquet(path)["customer_id"].tolist() == ["C2", "C3"]
    assert (tmp_path / "churn" / v1 / store_module.MODEL_FILE).read_bytes() == model_bytes
    assert store.load("leads", v2) is not None
    assert store.erase_customers({"C1"}) == {}  # nothing left to remove
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def _saved_champion(tmp_path: Path) -> tuple[ModelStore, str, Path]:
    store = ModelStore(tmp_path / "models")
    version = store.save("churn", {"weights": [1, 2, 3]}, {"auc": 0.8})
    store.promote("churn", version)
    return store, version, tmp_path / "models" / "churn" / version / "model.joblib"


def test_model_files_are_private_to_the_platform(tmp_path: Path) -> None:
    _, _, model_file = _saved_champion(tmp_path)
    assert model_file.stat().st_mode & 0o777 == 0o600
    assert model_file.parent.stat().st_mode & 0o777 == 0o700
    assert model_file.parent.parent.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "models").stat().st_mode & 0o777 == 0o700


def test_a_model_file_replaced_after_training_is_not_unpickled(tmp_path: Path) -> None:
    store, version, model_file = _saved_champion(tmp_path)
    buffer = io.BytesIO()
    joblib.dump({"weights": [6, 6, 6]}, buffer)
    model_file.write_bytes(buffer.getvalue())
    with pytest.raises(UntrustedModelError, match="SHA-256"):
        store.load("churn", version)


def test_a_model_others_may_write_is_not_unpickled(tmp_path: Path) -> None:
    store, version, model_file = _saved_champion(tmp_path)
    assert store.load("churn").model == {"weights": [1, 2, 3]}
    model_file.parent.chmod(0o777)
    with pytest.raises(UntrustedModelError, match="chmod go-w"):
        store.load("churn", version)
    model_file.parent.chmod(0o700)
    (tmp_path / "models").chmod(0o775)
    with pytest.raises(UntrustedModelError, match="writable by group or others"):
        store.load("churn", version)


def test_a_snapshot_rewritten_by_erasure_stays_private(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    snapshot = pd.DataFrame({"customer_id": ["c1", "c2"], "label": [0, 1]})
    version = store.save("churn", {"w": 1}, {}, snapshot=snapshot)
    assert store.erase_customers({"c1"})
    path = tmp_path / "models" / "churn" / version / "training_snapshot.parquet"
    assert path.stat().st_mode & 0o777 == 0o600
    assert pd.read_parquet(path)["customer_id"].tolist() == ["c2"]
