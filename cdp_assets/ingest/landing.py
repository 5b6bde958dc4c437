"""What is in the landing folder, and what arrived since a previous look: the state the
file sensors keep in their cursor (file identity = relative path, size and mtime)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from pathlib import Path

from cdp_assets.config import CDPConfig, landing_dir
from cdp_assets.ingest.ledger import content_hash, discover_files

LandingState = dict[str, dict[str, str]]  # source → relative file → "size:mtime_ns"


def landing_state(config: CDPConfig, sources: Collection[str] | None = None) -> LandingState:
    """What is in the landing folder now, per file source (all of them, or those named)."""
    root = landing_dir(config)
    state: LandingState = {}
    for source in config.sources:
        if source.format == "sql" or (sources is not None and source.name not in sources):
            continue
        files: dict[str, str] = {}
        for path in discover_files(root, source):
            if outside_landing(root, path):  # not followed: only its own identity counts
                stat = path.lstat()
                files[Path(path).relative_to(root).as_posix()] = (
                    f"link:{stat.st_size}:{stat.st_mtime_ns}"
                )
                continue
            stat = path.stat()
            files[Path(path).relative_to(root).as_posix()] = f"{stat.st_size}:{stat.st_mtime_ns}"
        state[source.name] = files
    return state


def new_arrivals(previous: LandingState, current: LandingState) -> dict[str, dict[str, str]]:
    """Per source, the files that are new or whose identity changed since `previous`."""
    arrivals: dict[str, dict[str, str]] = {}
    for source, files in current.items():
        seen = previous.get(source, {})
        changed = {f: ident for f, ident in files.items() if seen.get(f) != ident}
        if changed:
            arrivals[source] = changed
    return arrivals


def already_ingested(
    config: CDPConfig, current: LandingState, ingested: Mapping[str, Collection[tuple[str, str]]]
) -> LandingState:
    """The part of `current` the ledger says was ingested with the same bytes: (file, sha256)
    pairs per source from `ops.ingested_files`. A sensor with no cursor starts from it, so its
    first look does not redo what an earlier run (`make demo`) already loaded."""
    root = landing_dir(config)
    state: LandingState = {}
    for source, files in current.items():
        seen = set(ingested.get(source, ()))
        known_names = {file for file, _ in seen}
        state[source] = {
            file: identity
            for file, identity in files.items()
            if file in known_names
            and not identity.startswith("link:")
            and (file, content_hash(root / file)) in seen
        }
    return state


def run_key(source: str, files: dict[str, str]) -> str:
    """Same files with the same identities → same run key, so a re-evaluation is a no-op."""
    digest = hashlib.sha256(
        json.dumps(sorted(files.items()), ensure_ascii=False).encode("utf-8")
    ).hexdigest()[:16]
    return f"{source}:{digest}"


def outside_landing(landing: Path, path: Path) -> bool:
    """Whether `path` resolves outside the landing folder (a symbolic link, or a file under a
    linked folder, pointing elsewhere; a broken link counts as outside): never read."""
    try:
        path.resolve(strict=True).relative_to(landing.resolve(strict=True))
    except (OSError, RuntimeError, ValueError):
        return True
    return False
