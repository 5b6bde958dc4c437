"""A local folder of trained model versions, each with its metadata, and a champion pointer.

Layout under `root`::

    <name>/<version>/model.joblib      the fitted estimator (joblib)
    <name>/<version>/metadata.json     training window, features, data fingerprint, metrics
    <name>/<version>/training_snapshot.parquet   the rows it learned from (customer_id, cutoff,
                                       label, features), when given; erasure removes people
    <name>/champion.json               the promoted version (replaced atomically)
    <name>/promotions.jsonl            every promotion, appended

Versions read `<name>-<YYYYmmddTHHMMSS>-<8 hex>`: they sort by creation time, and the hex
part is a hash of the model file and its metadata, so saving the same thing twice in the
same second gives the same version. A version is never overwritten or deleted by the store:
earlier versions stay loadable after a newer one is promoted. The one change a version
undergoes: an erased person's rows leave its training snapshot (`erase_customers`).

Model files are pickles (joblib): loading one runs code. The store therefore guards what it
loads: folders are created 0700 and files 0600, `load` refuses a model file that group or
others may write (or that sits in such a folder), and it refuses a file whose SHA-256 differs
from the one recorded in the version's metadata at save time (a file swapped after training).
The root itself must be writable only by the platform's user; the README says so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import joblib
import numpy as np
import pandas as pd

from cdp_assets.activation.atomic import write_bytes_atomically

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
CHAMPION_FILE = "champion.json"
PROMOTIONS_FILE = "promotions.jsonl"
SNAPSHOT_FILE = "training_snapshot.parquet"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Metrics where a smaller value is better; every other metric is "higher is better".
LOWER_IS_BETTER: frozenset[str] = frozenset({"brier", "calibration_error", "log_loss"})


class ModelStoreError(RuntimeError):
    """A version or champion that does not exist, or a name that is not allowed."""


class UntrustedModelError(ModelStoreError):
    """A model file the store will not unpickle: writable by others, or not what was saved."""


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _writable_by_others(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o022)


def check_trusted(model_file: Path, root: Path, expected_sha256: str | None) -> None:
    """Raise UntrustedModelError unless `model_file` is safe to unpickle.

    Safe means: neither the file nor any folder from it up to the store's `root` is writable
    by group or others, and its content has the SHA-256 recorded at save time. Versions saved
    before the checksum was recorded have none; for them the permission test alone applies.
    """
    folders = [p for p in model_file.parents if p == root or root in p.parents]
    for path in (model_file, *folders):
        if _writable_by_others(path):
            raise UntrustedModelError(
                f"{path} is writable by group or others (mode {path.stat().st_mode & 0o777:o});"
                f" a model file is a pickle and runs code when loaded: `chmod go-w {path}`"
            )
    if expected_sha256 is not None and _file_sha256(model_file) != expected_sha256:
        raise UntrustedModelError(
            f"{model_file} does not match the SHA-256 recorded when it was saved; it was"
            " replaced after training. Retrain, or restore the original file."
        )


@dataclass(frozen=True)
class StoredModel:
    """One loaded version: the estimator and the metadata saved with it."""

    name: str
    version: str
    model: Any
    metadata: dict[str, Any]


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pd.DataFrame):
        return json.loads(value.to_json(orient="records", date_format="iso"))
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"metadata value of type {type(value).__name__} is not JSON serialisable")


def _clean_floats(value: Any) -> Any:
    """NaN and infinities as None: JSON has no spelling for them."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_floats(v) for v in value]
    return value


def to_json(value: Any) -> str:
    """Metadata as JSON text: dates as ISO strings, numpy numbers as numbers, NaN as null."""
    plain = json.loads(json.dumps(value, default=_json_default))
    return json.dumps(_clean_floats(plain), indent=2, sort_keys=True, allow_nan=False)


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """A SHA-256 hex digest of a frame's columns, dtypes and values (not its index)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def promotion_decision(
    challenger_metrics: Mapping[str, float],
    champion_metrics: Mapping[str, float] | None,
    metric: str = "roc_auc",
    floor: float | None = None,
    min_improvement: float = 0.0,
) -> tuple[bool, str]:
    """Whether a challenger replaces the champion, and why, from metrics on one holdout.

    The challenger must reach `floor` (when given) and, if there is a champion, beat it by
    more than `min_improvement`; a tie keeps the champion.
    """
    lower = metric in LOWER_IS_BETTER
    value = challenger_metrics.get(metric)
    if value is None or not np.isfinite(value):
        return False, f"challenger has no {metric} on the holdout"
    if floor is not None and (value > floor if lower else value < floor):
        side = "above the ceiling" if lower else "below the floor"
        return False, f"challenger {metric} {value:.4f} is {side} {floor:.4f}"
    if champion_metrics is None:
        return True, f"no champion yet; challenger {metric} {value:.4f}"
    current = champion_metrics.get(metric)
    if current is None or not np.isfinite(current):
        return True, f"champion has no {metric} on the holdout; challenger {value:.4f}"
    gain = (current - value) if lower else (value - current)
    verdict = "beats" if gain > min_improvement else "does not beat"
    return gain > min_improvement, (
        f"challenger {metric} {value:.4f} {verdict} champion {current:.4f} on the same holdout"
    )


class ModelRegistry(Protocol):
    """What training, scoring and erasure need of a model store. `ModelStore` keeps versions
    in a local folder; a remote store (object storage, a model registry service) implements
    the same methods."""

    def save(
        self,
        name: str,
        model: Any,
        metadata: Mapping[str, Any],
        created_at: dt.datetime | None = None,
        snapshot: pd.DataFrame | None = None,
    ) -> str: ...

    def promote(self, name: str, version: str, reason: str = "") -> None: ...

    def champion(self, name: str) -> str | None: ...

    def metadata(self, name: str, version: str | None = None) -> dict[str, Any]: ...

    def load(self, name: str, version: str | None = None) -> StoredModel: ...

    def erase_customers(self, customer_ids: set[str], dry_run: bool = False) -> dict[str, int]: ...

    def count_customers(self, groups: Mapping[str, set[str]]) -> dict[str, dict[str, int]]: ...

    def snapshot_customer_ids(self, skip: Callable[[Path], bool] | None = None) -> set[str]: ...

    def champion_challenger(
        self,
        name: str,
        challenger_metrics: Mapping[str, float],
        champion_metrics_on_same_holdout: Mapping[str, float] | None,
        metric: str = "roc_auc",
        floor: float | None = None,
        min_improvement: float = 0.0,
    ) -> tuple[bool, str]: ...


class ModelStore:
    """Model versions in a local folder (see the module docstring for the layout)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    # -- paths -------------------------------------------------------------------------------

    def _model_dir(self, name: str) -> Path:
        if not _NAME_RE.fullmatch(name):
            raise ModelStoreError(f"{name!r} is not a valid model name (lower-case, digits, _)")
        return self.root / name

    def _version_dir(self, name: str, version: str) -> Path:
        folder = self._model_dir(name)
        if not version.startswith(f"{name}-") or "/" in version or version.startswith("."):
            raise ModelStoreError(f"{version!r} is not a version of model {name!r}")
        return folder / version

    # -- writing -----------------------------------------------------------------------------

    def save(
        self,
        name: str,
        model: Any,
        metadata: Mapping[str, Any],
        created_at: dt.datetime | None = None,
        snapshot: pd.DataFrame | None = None,
    ) -> str:
        """Store a new version of `name` and return it; the champion is not changed.

        `metadata` (JSON-serialisable, dates and numpy numbers allowed) is saved with the
        name, version and `created_at` (UTC, default now) added.
        """
        created_at = (created_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        buffer = io.BytesIO()
        joblib.dump(model, buffer)
        payload = buffer.getvalue()
        content = to_json(dict(metadata))
        fingerprint = hashlib.sha256(payload + content.encode()).hexdigest()[:8]
        version = f"{name}-{created_at:%Y%m%dT%H%M%S}-{fingerprint}"
        target = self._version_dir(name, version)
        if target.exists():
            return version
        record = {**json.loads(content), "name": name, "version": version}
        record["created_at"] = created_at.isoformat()
        record["model_sha256"] = hashlib.sha256(payload).hexdigest()
        if not self.root.exists():
            self.root.mkdir(mode=0o700, parents=True)
        target.parent.mkdir(mode=0o700, exist_ok=True)
        # Build the version in a hidden folder and rename it into place, so that a reader
        # never sees a version without its model file.
        # (mkdtemp creates the folder 0700.)
        staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=target.parent))
        try:
            write_bytes_atomically(staging / MODEL_FILE, payload, 0o600)
            write_bytes_atomically(staging / METADATA_FILE, to_json(record).encode(), 0o600)
            if snapshot is not None:
                write_bytes_atomically(staging / SNAPSHOT_FILE, _parquet_bytes(snapshot), 0o600)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return version

    def promote(self, name: str, version: str, reason: str = "") -> None:
        """Make `version` the champion of `name` (an atomic pointer-file replace)."""
        if not (self._version_dir(name, version) / MODEL_FILE).exists():
            raise ModelStoreError(f"model {name!r} has no version {version!r}")
        pointer = {
            "version": version,
            "promoted_at": dt.datetime.now(dt.UTC).isoformat(),
            "reason": reason,
        }
        write_bytes_atomically(
            self._model_dir(name) / CHAMPION_FILE, to_json(pointer).encode(), 0o600
        )
        with (self._model_dir(name) / PROMOTIONS_FILE).open("a", encoding="utf-8") as log:
            log.write(json.dumps(pointer, sort_keys=True) + "\n")

    # -- reading -----------------------------------------------------------------------------

    def versions(self, name: str) -> list[str]:
        """Every stored version of `name`, oldest first."""
        folder = self._model_dir(name)
        if not folder.is_dir():
            return []
        return sorted(
            p.name
            for p in folder.iterdir()
            if p.is_dir() and p.name.startswith(f"{name}-") and (p / MODEL_FILE).exists()
        )

    def latest(self, name: str) -> str | None:
        """The most recently saved version of `name`, or None."""
        found = self.versions(name)
        return found[-1] if found else None

    def champion(self, name: str) -> str | None:
        """The promoted version of `name`, or None when none has been promoted."""
        pointer = self._model_dir(name) / CHAMPION_FILE
        if not pointer.exists():
            return None
        return str(json.loads(pointer.read_text(encoding="utf-8"))["version"])

    def metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        """The metadata of `version` (default: the champion), without loading the model."""
        version = self._resolve(name, version)
        path = self._version_dir(name, version) / METADATA_FILE
        return json.loads(path.read_text(encoding="utf-8"))

    def load(self, name: str, version: str | None = None) -> StoredModel:
        """A stored version of `name` (default: the champion) with its metadata."""
        version = self._resolve(name, version)
        folder = self._version_dir(name, version)
        if not (folder / MODEL_FILE).exists():
            raise ModelStoreError(f"model {name!r} has no version {version!r}")
        metadata = self.metadata(name, version)
        check_trusted(folder / MODEL_FILE, self.root, metadata.get("model_sha256"))
        model = joblib.load(folder / MODEL_FILE)
        return StoredModel(name, version, model, metadata)

    def _resolve(self, name: str, version: str | None) -> str:
        if version is not None:
            return version
        champion = self.champion(name)
        if champion is None:
            raise ModelStoreError(f"model {name!r} has no champion; train and promote one first")
        return champion

    # -- decisions ---------------------------------------------------------------------------

    def snapshot_files(self) -> list[Path]:
        return sorted(self.root.glob(f"*/*/{SNAPSHOT_FILE}"))

    def erase_customers(self, customer_ids: set[str], dry_run: bool = False) -> dict[str, int]:
        """Remove these customers' rows from every training snapshot (each file replaced
        atomically); returns {snapshot path relative to the store: rows removed} (with
        `dry_run`, the rows that would be removed; nothing is written)."""
        removed: dict[str, int] = {}
        if not customer_ids:
            return removed
        for path in self.snapshot_files():
            frame = pd.read_parquet(path)
            theirs = frame["customer_id"].astype(str).isin(customer_ids)
            if theirs.any():
                if not dry_run:
                    write_bytes_atomically(path, _parquet_bytes(frame[~theirs]), 0o600)
                removed[str(path.relative_to(self.root))] = int(theirs.sum())
        return removed

    def count_customers(self, groups: Mapping[str, set[str]]) -> dict[str, dict[str, int]]:
        """Per group of customer ids: {snapshot path: rows of theirs}, as `erase_customers`
        with `dry_run` gives for each group alone; every snapshot is read once for all."""
        counts: dict[str, dict[str, int]] = {key: {} for key in groups}
        if not any(groups.values()):
            return counts
        for path in self.snapshot_files():
            ids = pd.read_parquet(path, columns=["customer_id"])["customer_id"].astype(str)
            for key, customer_ids in groups.items():
                rows = int(ids.isin(customer_ids).sum()) if customer_ids else 0
                if rows:
                    counts[key][str(path.relative_to(self.root))] = rows
        return counts

    def snapshot_customer_ids(self, skip: Callable[[Path], bool] | None = None) -> set[str]:
        """Every customer id in any training snapshot (but those `skip` says need not be
        read)."""
        ids: set[str] = set()
        for path in self.snapshot_files():
            if skip is not None and skip(path):
                continue
            ids.update(pd.read_parquet(path, columns=["customer_id"])["customer_id"].astype(str))
        return ids

    def champion_challenger(
        self,
        name: str,
        challenger_metrics: Mapping[str, float],
        champion_metrics_on_same_holdout: Mapping[str, float] | None,
        metric: str = "roc_auc",
        floor: float | None = None,
        min_improvement: float = 0.0,
    ) -> tuple[bool, str]:
        """(promote, reason) for a challenger of `name`.

        Without a champion in the store the challenger only has to reach `floor`. With one,
        the caller must pass the champion's metrics on the challenger's holdout: metrics from
        the champion's own training run were measured on other data and are not comparable.
        """
        current = self.champion(name)
        if current is not None and champion_metrics_on_same_holdout is None:
            raise ModelStoreError(
                f"model {name!r}: evaluate the champion {current} on the challenger's holdout "
                "before deciding"
            )
        promote, reason = promotion_decision(
            challenger_metrics,
            champion_metrics_on_same_holdout if current is not None else None,
            metric,
            floor,
            min_improvement,
        )
        return promote, reason if current is None else f"{reason} ({current})"


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    plain = frame.reset_index(drop=True)
    plain.attrs = {}  # pandas would write attrs (which may hold dates) as JSON metadata
    plain.to_parquet(buffer, index=False)
    return buffer.getvalue()
