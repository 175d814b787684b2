"""`python -m benchmarks.sse_latency`: how long after a command's response its event reaches a
connected server-sent event client.

A real `dangvien serve` on PostgreSQL (the server `DANGVIEN_DATABASE_URL` names, in a fresh database,
else a throw-away local server), or with `--store sqlite` on a file. One client follows
`GET /v1/events/stream`; admissions are sent one at a time at a steady pace; for each, the delay is
the moment the event arrives on the stream minus the moment the admission's response arrived
(negative when the stream was faster than the response). Prints the median and the tail.
"""

from __future__ import annotations

import json
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from service.settings import Settings, parse_database_url

app = typer.Typer(add_completion=False)
ADMIN_TOKEN = "dv_bench-" + secrets.token_hex(12)


@contextmanager
def database(store: str) -> Iterator[tuple[str, str]]:
    """A fresh database URL for the store, and where it came from."""
    if store == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'ledger.db'}", "SQLite file"
        return
    from benchmarks import store as stores

    url = Settings().database_url
    server = url if parse_database_url(url).engine == "postgres" else None
    with stores.postgres_database(server) as found:
        yield found


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of the sorted values lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def measure(database_url: str, commands: int, pause: float) -> dict[str, Any]:
    """Send `commands` admissions to a fresh server and time each event's arrival on a stream."""
    from tests.e2e.serving import Client, Message, ServeProcess, stream

    env = {"DANGVIEN_DATABASE_URL": database_url, "DANGVIEN_ADMIN_TOKEN": ADMIN_TOKEN, "DANGVIEN_LOG_LEVEL": "warning",
           "DANGVIEN_STREAM_MAX_SECONDS": "3600"}
    with ServeProcess(env) as server:
        admin = Client(server.url, ADMIN_TOKEN)
        province = admin.found(f"BM-{secrets.token_hex(3)}", "provincial", None)
        cell = admin.found(f"{province}.A", "grassroots_cell", province)
        head = int(admin.feed()[-1]["id"])
        arrived: dict[str, float] = {}
        connected = threading.Event()
        done = threading.Event()

        def follow() -> None:
            messages = stream(server.url, ADMIN_TOKEN, query=f"?after={head}", timeout=60)
            try:
                connected.set()
                for item in messages:
                    if isinstance(item, Message) and "subject" in item.event:
                        arrived[item.event["subject"]] = time.perf_counter()
                    if done.is_set():
                        return
            finally:
                messages.close()

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        connected.wait(10)
        # Let the stream's request reach the server before the first command.
        time.sleep(0.5)
        answered: dict[str, float] = {}
        for _ in range(commands):
            member = admin.admit(cell)["member_id"]
            answered[member] = time.perf_counter()
            time.sleep(pause)
        deadline = time.monotonic() + 10
        while len(arrived) < len(answered) and time.monotonic() < deadline:
            time.sleep(0.01)
        done.set()
        admin.admit(cell)  # wakes the reader so it can notice it is done
        reader.join(timeout=5)
    delays = [(arrived[m] - answered[m]) * 1000 for m in answered if m in arrived]
    return {
        "commands": commands,
        "arrived": len(delays),
        "median_ms": round(statistics.median(delays), 2),
        "p90_ms": round(percentile(delays, 0.90), 2),
        "p99_ms": round(percentile(delays, 0.99), 2),
        "min_ms": round(min(delays), 2),
        "max_ms": round(max(delays), 2),
        "before_the_response": sum(1 for d in delays if d < 0),
    }


@app.command()
def main(
    store: Annotated[str, typer.Option(help="postgres or sqlite")] = "postgres",
    commands: Annotated[int, typer.Option(help="Admissions sent")] = 200,
    pause: Annotated[float, typer.Option(help="Seconds between two admissions")] = 0.02,
) -> None:
    """Measure the delay from a command's response to its event on a connected SSE client."""
    if store not in ("postgres", "sqlite"):
        raise typer.BadParameter("postgres or sqlite", param_hint="--store")
    with database(store) as (database_url, origin):
        figures = measure(database_url, commands, pause)
    figures["store"] = f"{store} ({origin})"
    typer.echo(json.dumps(figures, indent=2))
    typer.echo(
        f"median delay from a command's response to its event on the stream: {figures['median_ms']} ms "
        f"({store}, {figures['arrived']} events; p90 {figures['p90_ms']} ms, p99 {figures['p99_ms']} ms)",
        err=True,
    )


if __name__ == "__main__":
    app()
