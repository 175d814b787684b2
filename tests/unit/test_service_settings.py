"""The service's settings: the database URL becomes the event store's environment, bad URLs are refused clearly."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.settings import BadDatabaseURL, Settings, parse_database_url


def test_the_default_store_is_a_sqlite_file_in_the_working_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing set, the ledger lives in ./dangvien.db."""
    monkeypatch.delenv("DANGVIEN_DATABASE_URL", raising=False)
    env = Settings().ledger_env()
    assert env == {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": "dangvien.db",
        "SQLITE_LOCK_TIMEOUT": "30",
    }


def test_the_database_url_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """DANGVIEN_DATABASE_URL is the one source of the store's location."""
    monkeypatch.setenv("DANGVIEN_DATABASE_URL", "sqlite:////var/lib/dangvien/ledger.db")
    assert Settings().ledger_env()["SQLITE_DBNAME"] == "/var/lib/dangvien/ledger.db"


def test_a_postgresql_url_becomes_the_postgres_settings_with_pools_sized_to_the_threads() -> None:
    """Every web thread and the background threads can hold a connection; writers time out on the lock."""
    settings = Settings(database_url="postgresql://ban%40to:p%40ss@db.example:6543/dangvien", threads=20)
    env = settings.ledger_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("ban@to", "p@ss")
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == ("db.example", "6543", "dangvien")
    assert int(env["POSTGRES_POOL_SIZE"]) + int(env["POSTGRES_MAX_OVERFLOW"]) >= 20
    assert int(env["POSTGRES_LOCK_TIMEOUT"]) > 0
    assert "POSTGRES_CONNECT_TIMEOUT" in env


def test_database_functions_are_never_enabled() -> None:
    """They skip the writers' lock that keeps positions committing in order."""
    env = Settings(database_url="postgresql://u:p@h/db").ledger_env()
    assert not any("ENABLE_DB_FUNCTIONS" in key for key in env)


@pytest.mark.parametrize(
    "url",
    ["mysql://u:p@h/db", "sqlite://relative.db", "sqlite:///", "sqlite:///:memory:", "postgresql://u:p@h:port/db",
     "postgresql://u:p@h:5432/", "postgresql://h:5432/db", "dangvien.db"],
)
def test_an_unusable_database_url_is_refused_with_a_clear_message(url: str) -> None:
    """The message says what a usable URL looks like."""
    with pytest.raises(BadDatabaseURL, match="sqlite|postgresql|port|name"):
        parse_database_url(url)


def test_an_unusable_url_fails_the_settings_with_a_message_that_hides_the_password() -> None:
    """A bad URL stops the service at start; the message shown (not the input) has no password."""
    with pytest.raises(ValidationError) as failure:
        Settings(database_url="postgresql://user:s3cret@host:notaport/db")
    [error] = failure.value.errors()
    assert "port" in error["msg"] and "s3cret" not in error["msg"]


def test_the_admin_token_is_kept_secret_in_reprs() -> None:
    """Settings can be logged without leaking the bootstrap token."""
    settings = Settings(admin_token="dv_very-secret")
    assert "dv_very-secret" not in repr(settings)
