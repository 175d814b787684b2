"""`python -m benchmarks --scale S --out FILE.json`: the national-scale benchmark, in one run.

On the PostgreSQL server `DANGVIEN_DATABASE_URL` points at (a fresh database is made on it and
dropped afterwards; the role needs CREATEDB), otherwise on a throw-away local server:

1. generate the synthetic country at scale S (`service.synthetic`);
2. import it (`service.importer`), then insert the same serialized rows straight into a copy of the
   events table, as the import writes them (the baseline) and through the library's own insert;
3. read and deserialize the whole log without projecting (the baseline), then rebuild the read
   models, each in a process of its own for its peak memory;
4. time the root report, a province's report, a cell's roster as of a day and a member's history;
5. send single commands over HTTP at a steady rate to a real `dangvien serve`.

The figures are written to FILE.json with the scale, the event count and the machine.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from eventsourcing.postgres import PostgresApplicationRecorder

from benchmarks import phases, store
from service.settings import Settings, parse_database_url
from service.synthetic import generate, open_text

console = Console(stderr=True)
app = typer.Typer(add_completion=False)


@contextmanager
def bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr; yields `advance(done, total)`."""
    with Progress(TextColumn(f"{label:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=max(total, done))

        yield advance


def postgres_server_url() -> str | None:
    """The server of DANGVIEN_DATABASE_URL when it is a PostgreSQL URL (via the settings), else None."""
    url = Settings().database_url
    return url if parse_database_url(url).engine == "postgres" else None


@app.command()
def main(
    scale: Annotated[float, typer.Option(help="Size of the country: 1.0 is 5.6 million members")] = 0.01,
    out: Annotated[Path, typer.Option(help="Where to write the figures (JSON)")] = Path("benchmark.json"),
    seed: Annotated[int, typer.Option(help="Seed of the synthetic country")] = 1,
    work: Annotated[Path, typer.Option(help="Folder for the generated file")] = Path("benchmarks/.work"),
    batch_size: Annotated[int, typer.Option(help="Commands per import transaction")] = 1000,
    samples: Annotated[int, typer.Option(help="Timed samples per query")] = 200,
    commands: Annotated[int, typer.Option(help="Commands sent over HTTP")] = 600,
    rate: Annotated[float, typer.Option(help="HTTP commands per second")] = 20.0,
    profile: Annotated[bool, typer.Option(help="Profile the import and the rebuild (cProfile, slower)")] = False,
) -> None:
    """Measure import, rebuild, commands and queries at one scale, with their baselines."""
    work.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {"scale": scale, "seed": seed}
    phase_seconds: dict[str, float] = {}
    started = time.perf_counter()

    history = work / f"country-{scale:g}-{seed}.ndjson"
    clock = time.perf_counter()
    with open_text(history, "w") as output, bar("generate") as advance:
        made = generate(output, scale, seed, progress=advance)
    phase_seconds["generate"] = time.perf_counter() - clock
    figures["commands"] = made.lines
    figures["members_at_end"] = made.members_at_end
    figures["organizations_at_end"] = dict(made.organizations)

    with store.postgres_database(postgres_server_url()) as (database_url, origin):
        figures["machine"] = store.machine(database_url)
        figures["machine"]["store"] = origin

        clock = time.perf_counter()
        with bar("import") as advance:
            summary = phases.import_history(database_url, history, batch_size, advance,
                                            work / "import.prof" if profile else None)
        phase_seconds["import"] = time.perf_counter() - clock
        if summary.stopped is not None or summary.refused:
            console.print(f"[yellow]import: {summary.stopped or dict(summary.refused)}[/yellow]")
        figures["events"] = summary.events
        figures["import_refused"] = dict(summary.refused)
        figures["import_events_per_s"] = round(summary.events_per_second)
        figures["database_mb_after_import"] = store.database_size_mb(database_url)

        clock = time.perf_counter()
        per_transaction = max(1, round(summary.events / max(1, summary.batches)))
        with bar("raw insert") as advance:
            raw_events, raw_seconds = phases.raw_insert(database_url, per_transaction, advance)
        phase_seconds["raw_insert"] = time.perf_counter() - clock
        figures["raw_insert_events_per_s"] = round(raw_events / raw_seconds)
        figures["raw_insert_events_per_transaction"] = per_transaction
        figures["import_ratio_vs_raw_insert"] = round(figures["import_events_per_s"] / figures["raw_insert_events_per_s"], 3)

        clock = time.perf_counter()
        with bar("library insert") as advance:
            library_events, library_seconds = phases.raw_insert(
                database_url, per_transaction, advance, PostgresApplicationRecorder
            )
        phase_seconds["library_insert"] = time.perf_counter() - clock
        figures["library_insert_events_per_s"] = round(library_events / library_seconds)

        clock = time.perf_counter()
        with bar("raw read") as advance:
            read = phases.in_child("read", database_url, advance)
        phase_seconds["raw_read"] = time.perf_counter() - clock
        figures["raw_read_events_per_s"] = round(read["events"] / read["seconds"])
        figures["raw_read_peak_rss_mb"] = round(read["peak_rss_mb"], 1)
        # The import's own floor: its events serialized (the same mapper, no rules) and inserted.
        # No import that checks nothing could go faster than this on this machine.
        figures["serialize_events_per_s"] = round(read["events"] / read["encode_seconds"])
        figures["import_ceiling_events_per_s"] = round(
            1 / (1 / figures["serialize_events_per_s"] + 1 / figures["raw_insert_events_per_s"])
        )

        clock = time.perf_counter()
        with bar("rebuild") as advance:
            rebuilt = phases.in_child("rebuild", database_url, advance, work / "rebuild.prof" if profile else None)
        phase_seconds["rebuild"] = time.perf_counter() - clock
        figures["rebuild_events_per_s"] = round(rebuilt["events"] / rebuilt["seconds"])
        figures["rebuild_ratio_vs_raw_read"] = round(figures["rebuild_events_per_s"] / figures["raw_read_events_per_s"], 3)
        figures["rebuild_peak_rss_mb"] = round(rebuilt["peak_rss_mb"], 1)
        figures["database_mb_after_rebuild"] = store.database_size_mb(database_url)

        # Latencies are timed on a quiet disk, not behind the write-back of what the rebuild wrote.
        figures["settled_before_latencies"] = store.settle(database_url)

        clock = time.perf_counter()
        console.print("queries ...")
        figures.update(phases.queries(database_url, samples, seed))
        phase_seconds["queries"] = time.perf_counter() - clock

        # What the queries left for the kernel to write back while the commands are timed.
        figures["dirty_mb_before_commands"] = store.dirty_mb()
        clock = time.perf_counter()
        console.print(f"{commands} commands over HTTP at {rate:g}/s ...")
        figures.update(phases.http_commands(database_url, commands, rate, seed))
        phase_seconds["http"] = time.perf_counter() - clock

    figures["phase_seconds"] = {k: round(v, 1) for k, v in phase_seconds.items()}
    figures["total_seconds"] = round(time.perf_counter() - started, 1)
    out.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    console.print_json(json.dumps({k: v for k, v in figures.items() if not isinstance(v, dict)}))


if __name__ == "__main__":
    app()
