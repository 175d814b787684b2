"""The eventsourcing library's settings for a test store, from its `sqlite:///` or `postgresql://` URL.

Kept apart from the service settings on purpose: tests need only this mapping, and it is the one
place to change when the settings object takes it over.
"""

from urllib.parse import unquote, urlsplit

# Seconds a writer waits for the events table's lock before failing instead of hanging a test.
POSTGRES_LOCK_TIMEOUT = "5"


def ledger_env(database_url: str) -> dict[str, str]:
    """Map a database URL to the `env` the `Ledger` application is constructed with."""
    if database_url.startswith("sqlite:///"):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": database_url.removeprefix("sqlite:///"),
        }
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a sqlite:/// or postgresql:// URL: {database_url!r}")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")),
        "POSTGRES_HOST": parts.hostname or "localhost",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or ""),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_LOCK_TIMEOUT": POSTGRES_LOCK_TIMEOUT,
    }
