"""A PostgreSQL primary and a streaming replica for tests, through deploy/local-cluster.sh.

- `primary_and_replica()`: start both, yield `(primary_url, replica_url)`, stop both.
- `replicated_database(primary_url, replica_url)`: a new, empty database on the primary, yielded
  as `(primary_db_url, replica_db_url)` once the replica has it too; dropped afterwards.
- `wait_replayed(replica_url, lsn)`: wait until the replica has applied the primary's WAL up to
  `lsn` (from `current_lsn(primary_url)`), so what was committed before is visible there.
- `paused_replay(replica_url)`: hold the replica still, so that it lags the primary on purpose.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tests.pgserver import INSTALL_HINT, PostgresNotInstalled, temporary_database

SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "local-cluster.sh"
# local-cluster.sh's exit status when the PostgreSQL binaries are missing (EX_UNAVAILABLE).
NOT_INSTALLED = 69
START_TIMEOUT = 120


class ClusterFailed(RuntimeError):
    """deploy/local-cluster.sh failed; the message holds its output."""


@dataclass(frozen=True)
class Cluster:
    """A running primary and replica, as `local-cluster.sh start` described them."""

    primary_url: str
    replica_url: str
    folder: Path
    state_file: Path

    def script(self, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `local-cluster.sh COMMAND` on this cluster."""
        return run_script(command, self.state_file, check=check)


def run_script(
    command: str, state_file: Path, check: bool = True, **environment: str
) -> subprocess.CompletedProcess[str]:
    """Run `local-cluster.sh COMMAND` with this state file (and extra environment variables)."""
    env = {**os.environ, "DANGVIEN_CLUSTER_STATE": str(state_file), **environment}
    result = subprocess.run(
        ["bash", str(SCRIPT), command], env=env, capture_output=True, text=True, timeout=START_TIMEOUT
    )
    if check and result.returncode == NOT_INSTALLED:
        raise PostgresNotInstalled(f"PostgreSQL server binaries not found: {INSTALL_HINT}")
    if check and result.returncode != 0:
        raise ClusterFailed(
            f"local-cluster.sh {command} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result


def parse_output(stdout: str) -> dict[str, str]:
    """The KEY=VALUE lines `start` and `status` print."""
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


@contextmanager
def started_cluster(**environment: str) -> Iterator[Cluster]:
    """Start a primary and a replica (extra environment for the script allowed); stop them after."""
    with tempfile.TemporaryDirectory(prefix="dangvien-cluster-state-") as scratch:
        state_file = Path(scratch) / "cluster.state"
        values = parse_output(run_script("start", state_file, **environment).stdout)
        cluster = Cluster(
            values["PRIMARY_URL"], values["REPLICA_URL"], Path(values["CLUSTER_DIR"]), state_file
        )
        try:
            yield cluster
        finally:
            cluster.script("stop")


@contextmanager
def primary_and_replica() -> Iterator[tuple[str, str]]:
    """A PostgreSQL primary and a streaming replica of it: yield (primary_url, replica_url)."""
    with started_cluster() as cluster:
        yield cluster.primary_url, cluster.replica_url


def with_database(url: str, dbname: str) -> str:
    """The same server and role, another database."""
    return urlsplit(url)._replace(path=f"/{dbname}").geturl()


def current_lsn(primary_url: str) -> str:
    """The primary's current WAL position: everything committed so far lies before it."""
    import psycopg

    with psycopg.connect(primary_url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    return str(row[0])


def wait_replayed(replica_url: str, lsn: str, timeout: float = 30.0) -> None:
    """Wait until the replica has replayed the WAL up to `lsn`; TimeoutError if not in time."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(replica_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn, pg_last_wal_replay_lsn()::text", (lsn,)
            ).fetchone()
            assert row is not None
            if row[0]:
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the replica replayed only up to {row[1]}, not {lsn}, in {timeout} s")
            time.sleep(0.02)


def wait_caught_up(primary_url: str, replica_url: str, timeout: float = 30.0) -> None:
    """Wait until the replica shows everything committed on the primary so far."""
    wait_replayed(replica_url, current_lsn(primary_url), timeout)


@contextmanager
def paused_replay(replica_url: str, timeout: float = 30.0) -> Iterator[None]:
    """Pause WAL replay on the replica (it lags from here on); resume it afterwards."""
    import psycopg

    with psycopg.connect(replica_url, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + timeout
        # Pausing is a request: replay stops at the next record boundary.
        while conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() != ("paused",):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the replica did not pause replay in {timeout} s")
            time.sleep(0.01)
        try:
            yield
        finally:
            conn.execute("SELECT pg_wal_replay_resume()")


@contextmanager
def replicated_database(primary_url: str, replica_url: str) -> Iterator[tuple[str, str]]:
    """A new, empty database: yield (its URL on the primary, its URL on the replica); dropped after."""
    with temporary_database(primary_url) as primary_db_url:
        dbname = urlsplit(primary_db_url).path.lstrip("/")
        wait_caught_up(primary_url, replica_url)
        yield primary_db_url, with_database(replica_url, dbname)
