"""The service's settings: the one reader of the environment (variables prefixed `DANGVIEN_`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Seconds an SQLite writer waits for the file's lock before failing.
SQLITE_LOCK_TIMEOUT = 30
# Seconds a PostgreSQL writer waits for the events table's lock: a stuck writer must fail a
# request, not hang every other writer behind it.
POSTGRES_LOCK_TIMEOUT = 5
# Threads that use the event store besides the web threads: the projection runner (two) and the
# feed's log watcher; the webhook workers are counted from their setting.
BACKGROUND_THREADS = 3


class BadDatabaseURL(ValueError):
    """The database URL is neither `sqlite:///path` nor `postgresql://user:pw@host:port/db`."""


@dataclass(frozen=True)
class Database:
    """Where the event store, the read models and the service's own tables live."""

    engine: Literal["sqlite", "postgres"]
    path: str = ""
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    dbname: str = ""


def parse_database_url(url: str) -> Database:
    """Read `sqlite:///relative.db`, `sqlite:////absolute.db` or `postgresql://u:p@h:port/db`."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not path or path.endswith("/"):
            raise BadDatabaseURL(f"{_safe(url)}: sqlite:/// needs a file path, e.g. sqlite:///dangvien.db")
        if path == ":memory:":
            # Each connection would get its own empty database: the service needs one shared store.
            raise BadDatabaseURL("sqlite:///:memory: cannot be shared; use a file")
        return Database("sqlite", path=path)
    if url.startswith("sqlite:"):
        raise BadDatabaseURL(f"{_safe(url)}: write sqlite:///path/to/file.db (three slashes)")
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise BadDatabaseURL(
            f"{_safe(url)}: expected sqlite:///path/to/file.db or postgresql://user:password@host:port/dbname"
        )
    try:
        port = parts.port or 5432
    except ValueError:
        raise BadDatabaseURL(f"{_safe(url)}: the port is not a number") from None
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or "/" in dbname:
        raise BadDatabaseURL(f"{_safe(url)}: name the database, e.g. postgresql://user:pw@host:5432/dangvien")
    if not parts.username:
        raise BadDatabaseURL(f"{_safe(url)}: name the user, e.g. postgresql://user:pw@host:5432/dangvien")
    return Database(
        "postgres",
        host=parts.hostname or "localhost",
        port=port,
        user=unquote(parts.username),
        password=unquote(parts.password or ""),
        dbname=dbname,
    )


def _safe(url: str) -> str:
    """The URL with its password hidden, fit for an error message or a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class Settings(BaseSettings):
    """Everything the service reads from its environment, validated once at start."""

    model_config = SettingsConfigDict(env_prefix="DANGVIEN_", extra="ignore")

    database_url: str = Field(
        "sqlite:///dangvien.db", description="sqlite:///path/to/file.db or postgresql://user:pw@host:port/db"
    )
    read_database_url: str | None = Field(
        None,
        description="A read-only streaming replica of the PostgreSQL database, for queries "
        "(commands and the projection runner always use the primary)",
    )
    admin_token: SecretStr | None = Field(
        None, description="The bootstrap administrator's bearer token; made and printed once if unset"
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    threads: int = Field(40, ge=1, le=1000, description="Web worker threads (plain `def` endpoints)")
    postgres_pool_size: int = Field(5, ge=1, le=1000, description="Connections kept open to PostgreSQL")
    postgres_max_overflow: int | None = Field(
        None, ge=0, le=1000, description="Extra connections under load; default: enough for every thread"
    )
    postgres_connect_timeout: int = Field(5, ge=1, le=300, description="Seconds to wait for a connection")
    service_pool_size: int = Field(
        10, ge=1, le=1000, description="Connections for the token and idempotency tables (PostgreSQL)"
    )
    read_wait_seconds: float = Field(5.0, ge=0, le=60, description="How long a query waits for min_position")
    ready_max_lag: int = Field(
        1000, ge=0, description="Events the read models may be behind the log and still be ready"
    )
    idempotency_days: int = Field(7, ge=1, le=3650, description="How long an Idempotency-Key is remembered")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Largest request body accepted")
    stream_poll_seconds: float = Field(
        0.05, gt=0, le=60,
        description="How often, on SQLite, the process looks for new events for its streams and webhooks "
        "(one query for all of them; PostgreSQL notifies instead)",
    )
    stream_max_seconds: float = Field(
        300.0, gt=0, description="How long one event-stream connection lasts before the client reconnects"
    )
    projector: bool = Field(True, description="Run the read-model runner inside the web process")
    gc_freeze_seconds: float = Field(
        1.0, ge=0, le=3600,
        description="How often the web process freezes its long-lived objects out of the garbage collector's "
        "full scans, which would otherwise pause requests longer as the caches grow (0: never)",
    )
    stream_heartbeat_seconds: float = Field(
        15.0, gt=0, le=300, description="Silence after which the event stream sends a comment as heartbeat"
    )
    webhooks: bool = Field(True, description="Deliver webhooks from this process")
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=120, description="How long one delivery may take")
    webhook_retry_seconds: float = Field(
        1.0, gt=0, le=3600, description="Wait before the first retry of a failed delivery; doubled each time"
    )
    webhook_retry_max_seconds: float = Field(3600.0, gt=0, description="Longest wait between two retries")
    webhook_lease_seconds: float = Field(
        30.0, gt=0, le=3600, description="How long a process keeps a webhook to itself after its last delivery"
    )
    webhook_workers: int = Field(4, ge=1, le=100, description="Webhooks delivered to at the same time")

    @field_validator("database_url")
    @classmethod
    def _database_url_is_usable(cls, url: str) -> str:
        parse_database_url(url)
        return url

    @field_validator("read_database_url")
    @classmethod
    def _read_database_url_is_usable(cls, url: str | None) -> str | None:
        if url and parse_database_url(url).engine != "postgres":
            raise BadDatabaseURL("a read replica must be a postgresql:// URL")
        return url or None

    @property
    def database(self) -> Database:
        """The parsed database URL."""
        return parse_database_url(self.database_url)

    @property
    def safe_database_url(self) -> str:
        """The database URL without its password, for logs and messages."""
        return _safe(self.database_url)

    def ledger_env(self) -> dict[str, str]:
        """The eventsourcing library's settings for `Ledger(env)`, from the database URL."""
        return self._library_env(self.database)

    def replica_env(self) -> dict[str, str] | None:
        """The library's settings for reading from the replica, if one is configured."""
        if not self.read_database_url:
            return None
        return self._library_env(parse_database_url(self.read_database_url))

    def _library_env(self, db: Database) -> dict[str, str]:
        if db.engine == "sqlite":
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": db.path,
                "SQLITE_LOCK_TIMEOUT": str(SQLITE_LOCK_TIMEOUT),
            }
        overflow = self.postgres_max_overflow
        if overflow is None:
            # Every web thread and background thread may hold a connection at once.
            overflow = max(0, self.threads + BACKGROUND_THREADS + self.webhook_workers - self.postgres_pool_size)
        # POSTGRES_ENABLE_DB_FUNCTIONS stays unset: it skips the writers' lock that keeps positions
        # committing in order (see shared/EVENTSOURCING-NOTES.md).
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            # The library's recorder, copying large batches (imports) instead of inserting them.
            "APPLICATION_RECORDER_TOPIC": "service.recorder:PostgresLedgerRecorder",
            "POSTGRES_DBNAME": db.dbname,
            "POSTGRES_HOST": db.host,
            "POSTGRES_PORT": str(db.port),
            "POSTGRES_USER": db.user,
            "POSTGRES_PASSWORD": db.password,
            "POSTGRES_POOL_SIZE": str(self.postgres_pool_size),
            "POSTGRES_MAX_OVERFLOW": str(overflow),
            "POSTGRES_LOCK_TIMEOUT": str(POSTGRES_LOCK_TIMEOUT),
            "POSTGRES_CONNECT_TIMEOUT": str(self.postgres_connect_timeout),
        }
