"""The eventsourcing library's settings for a test store, from its `sqlite:///` or `postgresql://` URL."""

from service.settings import Settings


def ledger_env(database_url: str) -> dict[str, str]:
    """Map a database URL to the `env` the `Ledger` is constructed with, exactly as the service does."""
    return Settings(database_url=database_url).ledger_env()
