"""The PostgreSQL store a benchmark runs on, and a description of the machine it runs on."""

from __future__ import annotations

import os
import platform
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from tests.pgserver import ROLE, PostgresServer, drop_database


@contextmanager
def postgres_database(server_url: str | None) -> Iterator[tuple[str, str]]:
    """A fresh, empty database: on the server `server_url` names, else on a throw-away local server.

    Yields (database URL, where it came from); the database (and a throw-away server) is gone afterwards.
    """
    with ExitStack() as stack:
        origin = "DANGVIEN_DATABASE_URL"
        if server_url is None:
            server = stack.enter_context(PostgresServer())
            server_url = server.url
            # So that `settle` may ask for a checkpoint.
            server.as_superuser(f"GRANT pg_checkpoint TO {ROLE}")
            origin = "throw-away local server (fsync, synchronous_commit and full_page_writes off)"
        name = f"bench_{secrets.token_hex(6)}"
        with psycopg.connect(server_url, autocommit=True) as maintenance:
            maintenance.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}")), origin
        finally:
            drop_database(server_url, name)


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def machine(database_url: str) -> dict[str, Any]:
    """The CPU, memory, Python and PostgreSQL (version and the settings that matter) of this run."""
    cpuinfo = _read("/proc/cpuinfo")
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    meminfo = _read("/proc/meminfo")
    total_kb = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal")), 0)
    with psycopg.connect(database_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        settings = {
            name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0]  # type: ignore[index]
            for name in ("shared_buffers", "fsync", "synchronous_commit", "full_page_writes", "work_mem")
        }
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(total_kb / 2**20, 1),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "postgres": version[0] if version else "",
        "postgres_settings": settings,
    }


def database_size_mb(database_url: str) -> float:
    """The size of the database on disk."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return round((row[0] if row else 0) / 2**20, 1)


def dirty_mb() -> float:
    """What the kernel holds of written files not yet on disk (Linux; 0 elsewhere)."""
    meminfo = _read("/proc/meminfo")
    kb = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("Dirty:")), 0)
    return round(kb / 1024, 1)


def settle(database_url: str) -> dict[str, Any]:
    """Put the bulk phases' writes on disk before latencies are timed: a checkpoint of the server
    (where the benchmark's role may ask for one), then the kernel's own flush (`sync`).

    A rebuild leaves gigabytes in the page cache that the kernel writes back on its own clock
    (every 5 s, pages older than 30 s); a request that reads from the disk meanwhile waits behind
    that, and its latency is the disk's backlog, not the service's.
    """
    started = time.perf_counter()
    before = dirty_mb()
    checkpoint = True
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        checkpoint = False
    os.sync()
    return {"dirty_mb_before": before, "checkpoint": checkpoint, "seconds": round(time.perf_counter() - started, 1)}
