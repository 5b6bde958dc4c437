"""A sql source whose database is a file (SQLite) is not read again while the file and the
statement are as they were when a snapshot was last read.

Reading a sql source means running its statement and hashing every row of the result (the
ledger then says whether the snapshot is new). When the database is a local SQLite file, the
result is a function of the statement and the file's bytes: while the file, with its `-wal`
and `-journal` companions, keeps the size and modification time it had before that read, and
the statement is the same, the snapshot is the one read then. As for landed files
(`LedgerIndex.known_digest`), a file modified less than `RACY_SECONDS` before the read could be
written again within the same tick of the file system's clock: such a state is not trusted.

A rewrite that keeps the size and puts an older modification time back is not seen; neither is
a database attached from inside the statement. Any other database (PostgreSQL, a server) is
read every time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from cdp_assets.config.sqlite_urls import sqlite_database_file
from cdp_assets.ingest.ledger import RACY_SECONDS

COMPANIONS = ("", "-wal", "-journal")  # the database file and what SQLite writes beside it


@dataclass(frozen=True)
class DatabaseFileState:
    """What a sql source's snapshot is a function of when its database is a file."""

    statement: str  # the table or query read
    database: str  # the file, absolute
    size: int  # bytes of the file and its companions
    modified_ns: int  # the latest modification time among them

    @property
    def fingerprint(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def settled_before(self, moment: pd.Timestamp) -> bool:
        """Whether the files were last modified at least RACY_SECONDS before `moment`."""
        modified = pd.Timestamp(self.modified_ns, unit="ns", tz="UTC")
        return modified < moment - pd.Timedelta(seconds=RACY_SECONDS)


def database_file_state(url: str, statement: str) -> DatabaseFileState | None:
    """The state of a SQLite database file named by `url`; None for any other database, an
    in-memory or URI-form SQLite database, or a file that does not exist."""
    database = sqlite_database_file(url)
    if database is None:
        return None
    path = Path(database).resolve()
    if not path.is_file():
        return None
    stats = [
        companion.stat()
        for suffix in COMPANIONS
        if (companion := path.with_name(path.name + suffix)).exists()
    ]
    return DatabaseFileState(
        statement=statement,
        database=str(path),
        size=sum(s.st_size for s in stats),
        modified_ns=max(s.st_mtime_ns for s in stats),
    )


def snapshot_name(source_name: str) -> str:
    """The `ops.data_versions` row that keeps a source's last trusted state."""
    return f"sql_snapshot:{source_name}"
