"""Throw-away PostgreSQL servers and databases for the test suite.

The server part needs only the standard library and the PostgreSQL binaries, because `.ci/run`
starts a server before the project and its dependencies are installed.
"""

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

INSTALL_HINT = (
    "install the PostgreSQL server (Debian/Ubuntu: apt-get install postgresql; "
    "macOS: brew install postgresql@15) or point DANGVIEN_TEST_POSTGRES_URL at a server"
)

# The role the tests log in as: not a superuser, so permission mistakes show up in tests too.
ROLE = "dangvien"
SUPERUSER = "postgres"
SYSTEM_USER = "postgres"


class PostgresNotInstalled(RuntimeError):
    """The PostgreSQL server binaries (initdb, pg_ctl, psql) cannot be found."""


def find_bindir() -> Path:
    """Return the folder holding initdb, pg_ctl and psql, or raise PostgresNotInstalled."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        # libpq-dev ships pg_config without the server, so its answer is only a candidate.
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    # Debian keeps the server off PATH, one folder per major version: prefer the newest.
    debian = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]
    versions = [p for p in debian if p.parent.name.isdigit()]
    candidates += sorted(versions, key=lambda p: int(p.parent.name), reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "psql")):
            return folder
    raise PostgresNotInstalled(f"PostgreSQL server binaries not found: {INSTALL_HINT}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SYSTEM_USER)


class PostgresServer:
    """A PostgreSQL server in a temporary folder on a free loopback port, gone after stop()."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.folder: Path | None = None
        self.url = ""
        # PostgreSQL refuses to run as root.
        self._as_root = os.geteuid() == 0

    @property
    def _data(self) -> Path:
        assert self.folder is not None, "the server is not started"
        return self.folder / "data"

    @property
    def _log(self) -> Path:
        return self._data.parent / "server.log"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", SYSTEM_USER, "--", *command]
        # The system user may not be allowed into the caller's working directory.
        result = subprocess.run(command, cwd=self.folder, capture_output=True, text=True)
        if result.returncode != 0:
            log_text = self._log.read_text() if self._log.exists() else ""
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}{log_text}"
            )

    def start(self) -> str:
        """Create, start and configure the server; return a postgresql:// URL for the role."""
        self.folder = Path(tempfile.mkdtemp(prefix="dangvien-pg-"))
        try:
            if self._as_root:
                user = _system_user()
                os.chown(self.folder, user.pw_uid, user.pw_gid)
            self._run(
                "initdb", f"--pgdata={self._data}", f"--username={SUPERUSER}", "--no-sync",
                "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C",
            )
            port = _free_port()
            socket_dir = str(self.folder).replace("'", "''")
            # Durability is worthless for a throw-away server; skipping it makes tests faster.
            with open(self._data / "postgresql.conf", "a") as conf:
                conf.write(
                    f"listen_addresses = '127.0.0.1'\nport = {port}\n"
                    f"unix_socket_directories = '{socket_dir}'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                )
            self._run("pg_ctl", "start", "--wait", f"--pgdata={self._data}", f"--log={self._log}")
            password = secrets.token_hex(16)
            self._run(
                "psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", f"--host={self.folder}",
                f"--port={port}", f"--username={SUPERUSER}", "--dbname=postgres",
                f"--command=CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{password}'",
                f"--command=CREATE DATABASE {ROLE} OWNER {ROLE}",
            )
        except BaseException:
            self.stop()
            raise
        self.url = f"postgresql://{ROLE}:{password}@127.0.0.1:{port}/{ROLE}"
        return self.url

    def as_superuser(self, statement: str) -> None:
        """Run one SQL statement as the server's superuser (the tests' role is not one)."""
        port = self.url.rsplit(":", 1)[1].split("/", 1)[0]
        self._run(
            "psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", f"--host={self.folder}",
            f"--port={port}", f"--username={SUPERUSER}", "--dbname=postgres", f"--command={statement}",
        )

    def stop(self) -> None:
        """Stop the server if it runs and remove its folder."""
        if self.folder is None:
            return
        if (self._data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "--wait", f"--pgdata={self._data}", "--mode=fast")
        shutil.rmtree(self.folder)
        self.folder = None
        self.url = ""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def temporary_database(server_url: str) -> Iterator[str]:
    """Create an empty database with a random name on the server; yield its URL, then drop it."""
    # Imported here so that starting a server needs only the standard library.
    import psycopg
    from psycopg import sql

    name = f"test_{secrets.token_hex(8)}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    with psycopg.connect(server_url, autocommit=True) as maintenance:
        maintenance.execute(statement)
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        drop_database(server_url, name)


def drop_database(server_url: str, name: str, attempts: int = 30) -> None:
    """Drop a database, waiting for the server's own workers (autovacuum) that may still be in it."""
    import psycopg
    from psycopg import sql

    statement = sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
    for attempt in range(attempts):
        try:
            with psycopg.connect(server_url, autocommit=True) as maintenance:
                maintenance.execute(statement)
            return
        except psycopg.errors.InsufficientPrivilege:
            # FORCE cannot end a superuser's backend (an autovacuum worker), which leaves soon.
            if attempt == attempts - 1:
                raise
            time.sleep(1)
