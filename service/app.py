"""The composition root: settings in, a FastAPI application out, everything wired in its lifespan.

Nothing here connects to a database until the application starts; stopping it closes every pool
and stops the projection runner it started.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

import anyio
import structlog
from fastapi import FastAPI

from domain.collector import PacedInBackground
from domain.ledger import Ledger
from projections import ReadModels
from service.auth import TokenStore
from service.context import ReadSide, Services
from service.feed import Feed
from service.idempotency import IdempotencyMiddleware, IdempotencyStore
from service.logs import AccessLog, configure_logging
from service.metrics import Metrics
from service.problems import BodySizeLimit, CatchAll, install_problem_handlers
from service.routes import events, health, members, organizations, reports, tokens, webhooks
from service.settings import Settings
from service.sql import SqlStore, conninfo
from service.stream import LogWatcher
from service.webhooks import DeliveryPolicy, Dispatcher, WebhookStore

ReadModelsFactory = Callable[[Settings, Ledger], ReadSide]

log = structlog.get_logger("dangvien.app")


def open_ledger(settings: Settings) -> Ledger:
    """The write side on the configured store."""
    database = settings.database
    if database.engine == "sqlite":
        # SQLite makes the file but not its folder; a fresh checkout should just work.
        Path(database.path).parent.mkdir(parents=True, exist_ok=True)
    return Ledger(settings.ledger_env())


def open_read_models(settings: Settings, ledger: Ledger) -> ReadModels:
    """The read models on the primary, and on the read replica when one is configured."""
    return ReadModels(settings.database_url, ledger, replica_env=settings.replica_env())


def build_services(settings: Settings, read_models_factory: ReadModelsFactory) -> Services:
    """Open the stores and build everything the routes use; the caller must `close_services`."""
    ledger = open_ledger(settings)
    sql = SqlStore(settings.database, settings.service_pool_size, settings.postgres_connect_timeout)
    try:
        sql.open()
        token_store = TokenStore(sql)
        token_store.create_table()
        idempotency = IdempotencyStore(sql)
        idempotency.create_table()
        idempotency.purge(datetime.now(timezone.utc) - timedelta(days=settings.idempotency_days))
        read_models = read_models_factory(settings, ledger)
        feed = Feed(ledger)
        return Services(
            settings=settings,
            ledger=ledger,
            read_models=read_models,
            sql=sql,
            tokens=token_store,
            idempotency=idempotency,
            feed=feed,
            metrics=Metrics(head=feed.head, position=read_models.position),
        )
    except BaseException:
        sql.close()
        ledger.close()
        raise


def listen_connection(settings: Settings) -> Callable[[], Any] | None:
    """A way to open a connection of its own for LISTEN (PostgreSQL), or None (SQLite cannot notify)."""
    db = settings.database
    if db.engine != "postgres":
        return None

    def connect() -> Any:
        import psycopg

        return psycopg.connect(conninfo(db, settings.postgres_connect_timeout), autocommit=True)

    return connect


def start_followers(app: FastAPI, settings: Settings, found: Services) -> Callable[[], None]:
    """Follow the log for the event streams and, unless disabled, deliver webhooks; return how to stop."""
    channel = getattr(found.ledger.recorder, "channel_name", None)
    watcher = LogWatcher(found.feed, settings.stream_poll_seconds, listen_connection(settings), channel)
    store = WebhookStore(found.sql)
    store.create_tables()
    app.state.watcher = watcher
    app.state.webhooks = store
    dispatcher: Dispatcher | None = None
    if settings.webhooks:
        policy = DeliveryPolicy(
            timeout=settings.webhook_timeout_seconds,
            first_retry=settings.webhook_retry_seconds,
            longest_retry=settings.webhook_retry_max_seconds,
            lease=settings.webhook_lease_seconds,
            workers=settings.webhook_workers,
        )
        dispatcher = Dispatcher(store, found.feed, lambda: watcher.head, policy)
        watcher.on_advance(dispatcher.wake)
    watcher.start()
    if dispatcher is not None:
        dispatcher.start()

    def stop() -> None:
        if dispatcher is not None:
            dispatcher.stop()
        watcher.stop()

    return stop


def close_services(found: Services) -> None:
    """Stop the runner and close the pools."""
    try:
        found.read_models.close()
    finally:
        found.sql.close()
        found.ledger.close()


def create_app(
    settings: Settings | None = None,
    *,
    read_models_factory: ReadModelsFactory | None = None,
    announce_admin_token: Callable[[str], None] | None = None,
    log_stream: TextIO | None = None,
) -> FastAPI:
    """The HTTP API over the ledger; `announce_admin_token` receives a bootstrap token made at start."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, log_stream)
        # Plain `def` endpoints run in this pool; the database pools are sized to match it.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        found = await anyio.to_thread.run_sync(build_services, settings, read_models_factory or open_read_models)
        try:
            admin_secret = settings.admin_token.get_secret_value() if settings.admin_token else None
            made = await anyio.to_thread.run_sync(found.tokens.ensure_bootstrap_admin, admin_secret)
            if made is not None:
                if announce_admin_token is not None:
                    announce_admin_token(made)
                else:
                    log.warning("a bootstrap admin token was made but not shown; set DANGVIEN_ADMIN_TOKEN")
            if settings.projector:
                found.read_models.start()
            stop_followers = await anyio.to_thread.run_sync(start_followers, app, settings, found)
            collector = PacedInBackground(freeze_every=settings.gc_freeze_seconds)
            collector.start()
            app.state.services = found
            log.info("started", database=settings.safe_database_url, projector=settings.projector)
            try:
                yield
            finally:
                collector.stop()
                await anyio.to_thread.run_sync(stop_followers)
        finally:
            await anyio.to_thread.run_sync(close_services, found)
            log.info("stopped")

    app = FastAPI(
        title="dangvien",
        summary="The ledger of party membership (sổ đảng viên)",
        version="1.0",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    for module in (organizations, members, reports, events, webhooks, tokens, health):
        app.include_router(module.router)
    # Added innermost first: the access log sees every answer, the catch-all every failure,
    # and idempotency sees the body only once its size is known to be sane.
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(CatchAll)
    app.add_middleware(AccessLog, observer=lambda: _metrics_of(app))
    return app


def _metrics_of(app: FastAPI) -> Metrics | None:
    found = getattr(app.state, "services", None)
    return found.metrics if found is not None else None
