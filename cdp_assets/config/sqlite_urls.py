"""SQLite URLs that name a database file (relative or absolute), as sql sources give them."""

import sqlalchemy as sa


def sqlite_database_file(url: str) -> str | None:
    """The file a SQLite URL names, as written; None for another database, an in-memory or
    URI-form SQLite database (`file:...`, `?uri=true`, `?mode=...`), or a URL SQLAlchemy
    cannot parse."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return None
    database = parsed.database
    if (
        parsed.get_backend_name() != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")
        or "uri" in parsed.query
        or "mode" in parsed.query
    ):
        return None
    return database
