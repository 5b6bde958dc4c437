"""Erased identifiers in the text Dagster keeps (run and event storage): asset metadata and
previews, check results, log messages and step failures.

The platform never puts an identifier there (every computation's metadata and failures are
masked, see `cdp_assets.defs.spec_defaults`), and erasure never rewrites it. This is the proof:
each stored event is read as text, URL-decoded, and its emails, phone numbers and id-like
tokens are hashed with the privacy salt and compared with the suppression list — the same
readers the warehouse trace check uses for quarantined lines (`text_values`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

import pandas as pd

from cdp_assets.privacy.identifiers import hash_matches, text_values

MAX_EVENTS_PER_SCAN = 50_000  # stored events read by one evaluation of the check
EVENT_PAGE = 2_000  # events read from the storage at a time


@dataclass(frozen=True)
class StoredEvent:
    storage_id: int
    run_id: str
    kind: str  # Dagster's event type, or `LOG` for a log message
    text: str


def event_text(serialized: str) -> str:
    """Every string inside a serialized event (keys included), one per line, URL-decoded so
    that `jane%40x.com` reads as the address it is."""
    strings: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, str):
            strings.append(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                strings.append(str(key))
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(serialized))
    text = "\n".join(s for s in strings if s and not s.startswith("data:image/"))
    return unquote(unquote(text)) if "%" in text else text


def traced_events(
    events: Iterable[StoredEvent],
    salt: bytes,
    suppressed: frozenset[str],
    region: str,
    record_sources: Iterable[str],
) -> pd.DataFrame:
    """Stored events whose text names an erased identifier: storage_id, run_id, kind (never
    the identifier itself)."""
    rows = list(events)
    columns = ["storage_id", "run_id", "kind"]
    if not rows or not suppressed:
        return pd.DataFrame(columns=columns)
    texts = pd.Series([e.text for e in rows], dtype="string")
    found = hash_matches(text_values(texts, region, record_sources), salt, suppressed, texts.index)
    hits = [e for e, hit in zip(rows, found, strict=True) if hit]
    return pd.DataFrame([(e.storage_id, e.run_id, e.kind) for e in hits], columns=columns).astype(
        {"storage_id": "int64"}
    )


def suppression_fingerprint(suppressed: frozenset[str]) -> int:
    """Changes whenever the suppression list does: a scan made against another list must be
    redone from the start, since a newly erased person's identifiers may sit in old events.
    A number, so that it is stored as metadata unmasked."""
    digest = hashlib.sha256()
    for value in sorted(suppressed):
        digest.update(value.encode("ascii") + b"\n")
    return int(digest.hexdigest()[:12], 16)
