"""The `dangvien` command line: serve the API, run the read-model runner, rebuild the read models."""

from __future__ import annotations

import signal
import threading
import time
from datetime import date
from pathlib import Path
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
    with_demo: Annotated[
        bool, typer.Option("--demo", help="First load the demonstration province (once)")
    ] = False,
) -> None:
    """Run the HTTP API (and, unless --no-projector, the read-model runner)."""
    import uvicorn

    from service.app import create_app

    settings = load_settings()
    if with_demo:
        load_demo_province(settings)
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
    from domain.collector import PacedInBackground
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
        collector = PacedInBackground(freeze_every=settings.gc_freeze_seconds)
        collector.start()
        err.print(f"Following the log of {settings.safe_database_url}; Ctrl-C to stop.")
        try:
            while not stopping.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            collector.stop()
            read_models.stop()
        err.print(f"Stopped at position {read_models.position()}.")
    finally:
        ledger.close()


@main.command()
def rebuild(
    name: Annotated[
        str | None,
        typer.Argument(help="The read model to rebuild: 'views' (the tree, rosters, reports, audit index); all when omitted"),
    ] = None,
) -> None:
    """Empty the read models and apply every event again, with a progress bar."""
    import projections
    from service.app import open_ledger

    if name is not None and name not in projections.READ_MODELS:
        err.print(f"[red]no read model named {name!r}; the read models are: {', '.join(projections.READ_MODELS)}[/red]")
        raise typer.Exit(2)
    settings = load_settings()
    ledger = open_ledger(settings)
    started = time.perf_counter()
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
        ) as progress:
            task = progress.add_task("Rebuilding read models", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=max(total, done))

            def finishing() -> None:
                progress.update(task, description="Vacuuming and analyzing the read models")

            events, _ = projections.rebuild(ledger, progress=advance, finishing=finishing)
    finally:
        ledger.close()
    seconds = max(time.perf_counter() - started, 1e-9)
    typer.echo(f"Rebuilt from {events} events in {seconds:.1f} s ({events / seconds:,.0f} events/s).")


@main.command()
def verify(
    code: Annotated[str, typer.Argument(help="The organization whose records to verify, e.g. KT")],
    subtree: Annotated[bool, typer.Option("--subtree", help="Every organization of its subtree, each stream apart")] = False,
    through: Annotated[
        int | None, typer.Option(help="Only events up to this position (default: every event applied)", min=0)
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the whole answer, each stream's digest, as JSON")] = None,
) -> None:
    """Prove that no record was altered: the digest of every stored event, as
    GET /v1/organizations/{code}/verification answers it. Exit status 1 if a stream is damaged."""
    import json

    from projections import ReadModels
    from service.app import open_ledger

    if out is not None and not out.parent.is_dir():
        err.print(f"[red]--out {out}: no folder {out.parent}[/red]")
        raise typer.Exit(2)
    settings = load_settings()
    ledger = open_ledger(settings)
    try:
        read_models = ReadModels(settings.database_url, ledger)
        applied = read_models.position()
        if read_models.organization(code, date.max) is None:
            head = ledger.recorder.max_notification_id() or 0
            behind = f" (they have applied {applied} of {head} events: run dangvien rebuild)" if applied < head else ""
            err.print(f"[red]no organization with code {code!r} in the read models{behind}[/red]")
            raise typer.Exit(2)
        if through is not None and through > applied:
            err.print(f"[red]--through {through} is after {applied}, the last position applied to the read models[/red]")
            raise typer.Exit(2)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err) as progress:
            task = progress.add_task("Hashing the streams", total=None)
            found = read_models.verification(
                code, "subtree" if subtree else "self", applied if through is None else through,
                lambda done, total: progress.update(task, completed=done, total=total),
            )
    finally:
        ledger.close()
    if out is not None:
        out.write_text(json.dumps(found, ensure_ascii=False, indent=2) + "\n")
    for unit in found["organizations"]:
        for problem in unit["problems"]:
            err.print(f"[red]{unit['organization']}: {problem}[/red]")
    streams = len(found["organizations"])
    state = "intact" if found["intact"] else "DAMAGED"
    typer.echo(f"{code}: {streams} streams, {found['events']:,} events through position {found['through']}: {state}")
    typer.echo(f"digest {found['digest']}")
    if not found["intact"]:
        raise typer.Exit(1)


def load_demo_province(settings: Settings) -> None:
    """Record the demonstration province through the ledger, unless it is already there."""
    from service.app import open_ledger
    from service.demo import ROOT, load_demo

    ledger = open_ledger(settings)
    try:
        with err.status("Loading the demo province (Kon Tum, 2019 to today)") as status:
            loaded = load_demo(ledger, progress=lambda step: status.update(f"Demo: {step}"))
    finally:
        ledger.close()
    if loaded.events:
        err.print(
            f"Demo loaded: {loaded.organizations} organizations, {loaded.events} commands, "
            f"up to position {loaded.position} ({len(loaded.refused)} refused by the Charter, as in life)."
        )
    err.print(
        f"Try: GET /v1/organizations/{ROOT}/report?from=2024-01-01&to=2024-12-31 and "
        f"GET /v1/organizations/{ROOT}/roster?scope=subtree with the admin token."
    )


@main.command()
def demo() -> None:
    """Load a small realistic province (Kon Tum: districts, communes, cells, 2019 to today)."""
    load_demo_province(load_settings())


@main.command()
def generate(
    out: Annotated[
        str | None,
        typer.Argument(help="File to write: NDJSON commands, compressed when it ends in .gz "
                       "[default: country-SCALE-seedSEED.ndjson.gz]"),
    ] = None,
    scale: Annotated[float, typer.Option(help="Size of the country; 1.0 is 5.6 million members", min=0.0001, max=2)] = 0.01,
    seed: Annotated[int, typer.Option(help="The same scale and seed always give the same file")] = 1,
) -> None:
    """Write a synthetic country (tree, members, 2016-2025 at DOMAIN.md's rates, the 2025 restructuring)."""
    from service.synthetic import generate as generate_history
    from service.synthetic import open_text

    if out is None:
        out = f"country-{scale:g}-seed{seed}.ndjson.gz"
    if not Path(out).parent.is_dir():
        err.print(f"[red]{out}: no folder {Path(out).parent}[/red]")
        raise typer.Exit(2)
    started = time.perf_counter()
    with open_text(out, "w") as output, Progress(
        TextColumn("Generating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err
    ) as progress:
        task = progress.add_task("generate", total=None)
        made = generate_history(
            output, scale, seed, progress=lambda done, total: progress.update(task, completed=done, total=total)
        )
    seconds = time.perf_counter() - started
    typer.echo(
        f"Wrote {made.lines:,} commands to {out} in {seconds:.1f} s: {made.members_at_end:,} members and "
        f"{made.organizations['cell'] + made.organizations['grassroots_cell']:,} cells at the end of 2025."
    )


@main.command("import")
def import_(
    file: Annotated[str, typer.Argument(help="NDJSON commands (.ndjson, .jsonl, optionally .gz), or a roster (.csv, .xlsx)")],
    batch_size: Annotated[int, typer.Option(help="Rows per transaction", min=1, max=100_000)] = 1000,
    start_line: Annotated[int, typer.Option(help="Skip the lines before this one (to resume)", min=1)] = 1,
    refusals: Annotated[
        str | None, typer.Option(help="Write every refused row to this file, one JSON object per line")
    ] = None,
) -> None:
    """Load commands or a roster through the Charter's rules, in batches; report refused rows by line.

    A row the Charter refuses is skipped and reported; a malformed row stops the import, dropping its
    batch (earlier batches stay saved) and naming the line to resume from with --start-line.
    """
    import json

    from service.app import open_ledger
    from service.importer import import_file

    path = Path(file)
    if not path.is_file():
        err.print(f"[red]{file}: no such file[/red]")
        raise typer.Exit(2)
    if refusals and not Path(refusals).parent.is_dir():
        err.print(f"[red]--refusals {refusals}: no folder {Path(refusals).parent}[/red]")
        raise typer.Exit(2)
    settings = load_settings()
    ledger = open_ledger(settings)
    report = open(refusals, "w", encoding="utf-8") if refusals else None
    try:
        with Progress(
            TextColumn(f"Importing {path.name}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
            TimeRemainingColumn(), console=err,
        ) as progress:
            task = progress.add_task("import", total=None)
            summary = import_file(
                ledger, path, batch_size=batch_size, start_line=start_line, recorded_by=f"import {path.name}",
                progress=lambda done, total: progress.update(task, completed=done, total=total),
                on_refused=(lambda refusal: report.write(json.dumps(refusal.as_dict(), ensure_ascii=False) + "\n"))
                if report else None,
            )
    finally:
        ledger.close()
        if report is not None:
            report.close()
    typer.echo(
        f"Applied {summary.applied:,} commands ({summary.events:,} events, up to position {summary.position}) "
        f"in {summary.seconds:.1f} s: {summary.events_per_second:,.0f} events/s."
    )
    if summary.refused:
        typer.echo(f"Refused {sum(summary.refused.values()):,}: " + ", ".join(
            f"{code} {n:,}" for code, n in summary.refused.most_common()))
        for refusal in summary.refusals[:20]:
            typer.echo(f"  line {refusal.line}: {refusal.command} refused ({refusal.code}): {refusal.detail}")
        hidden = sum(summary.refused.values()) - min(20, len(summary.refusals))
        if hidden > 0:
            typer.echo(f"  ... and {hidden:,} more" + ("" if refusals else "; --refusals FILE writes every one"))
    if summary.stopped is not None:
        err.print(f"[red]Stopped at line {summary.stopped.line}: {summary.stopped.detail}[/red]")
        err.print(f"Nothing from line {summary.resume_from} on was saved; correct the file and run again "
                  f"with --start-line {summary.resume_from}.")
        raise typer.Exit(1)
