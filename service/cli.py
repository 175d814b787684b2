"""The `dangvien` command line: serve the API, run the read-model runner, rebuild the read models."""

from __future__ import annotations

import signal
import threading
import time
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from service.settings import Settings

main = typer.Typer(
    name="dangvien",
    help="The ledger of party membership: an event-sourced record of members and party organizations.",
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True)


def load_settings() -> Settings:
    """The settings from the environment, or a readable message and exit status 2."""
    try:
        return Settings()
    except ValidationError as invalid:
        for error in invalid.errors():
            name = "DANGVIEN_" + "_".join(str(part) for part in error["loc"]).upper()
            err.print(f"[red]{name}[/red]: {error['msg'].removeprefix('Value error, ')}")
        raise typer.Exit(2) from None


@main.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on", min=1, max=65535)] = 8000,
    no_projector: Annotated[
        bool, typer.Option("--no-projector", help="Do not run the read-model runner in this process")
    ] = False,
) -> None:
    """Run the HTTP API (and, unless --no-projector, the read-model runner)."""
    import uvicorn

    from service.app import create_app

    settings = load_settings()
    if no_projector:
        settings = settings.model_copy(update={"projector": False})

    def announce(token: str) -> None:
        # Printed once, on the console only: the token is never logged or stored in the clear.
        typer.echo(f"Bootstrap admin token (shown once; keep it safe): {token}")

    app = create_app(settings, announce_admin_token=announce)
    # Our own logging config and access log (route templates, no query strings, no personal data).
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=10)


@main.command()
def project() -> None:
    """Run the read-model runner alone until interrupted (Ctrl-C or SIGTERM)."""
    from projections import ReadModels
    from service.app import open_ledger
    from service.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    ledger = open_ledger(settings)
    try:
        read_models = ReadModels(settings.database_url, ledger)
        read_models.start()
        err.print(f"Following the log of {settings.safe_database_url}; Ctrl-C to stop.")
        try:
            while not stopping.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            read_models.stop()
        err.print(f"Stopped at position {read_models.position()}.")
    finally:
        ledger.close()


@main.command()
def rebuild(
    name: Annotated[str | None, typer.Argument(help="One read model to rebuild (all when omitted)")] = None,
) -> None:
    """Empty the read models and apply every event again, with a progress bar."""
    import projections
    from service.app import open_ledger

    if name is not None:
        # projections.rebuild rebuilds every read model together; there is no single one to name yet.
        err.print(f"[red]rebuilding one read model ({name!r}) is not supported; run without NAME[/red]")
        raise typer.Exit(2)
    settings = load_settings()
    ledger = open_ledger(settings)
    started = time.perf_counter()
    try:
        with Progress(
            TextColumn("Rebuilding read models"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
        ) as progress:
            task = progress.add_task("rebuild", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=max(total, done))

            events, _ = projections.rebuild(ledger, progress=advance)
    finally:
        ledger.close()
    seconds = max(time.perf_counter() - started, 1e-9)
    typer.echo(f"Rebuilt from {events} events in {seconds:.1f} s ({events / seconds:,.0f} events/s).")


@main.command()
def demo() -> None:
    """TODO (lead): load a demonstration tree and members. Not yet implemented."""
    err.print("[red]dangvien demo: not yet implemented[/red]")
    raise typer.Exit(1)
