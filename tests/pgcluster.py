"""A throwaway PostgreSQL cluster for tests that stop, restart or kill the database.

The machine's PostgreSQL on 5432 is shared by every test and every helper
and is never stopped. A test that needs the database to go away makes its
own cluster instead: ``initdb`` into a temporary folder, its own free
loopback port, started and stopped with ``pg_ctl`` from
``/usr/lib/postgresql/15/bin`` (``MUSTER_PG_BIN`` overrides). The first
cluster of a test run pays for ``initdb`` (~2 s); later ones copy that
folder (~0.1 s).

    with throwaway_cluster() as pg:
        url = pg.create_database("muster")   # a SQLAlchemy URL
        ...
        pg.restart()                         # or pg.stop() ... pg.start()

PostgreSQL refuses to run as root: under root the cluster's files belong
to the ``postgres`` user and the binaries run as that user. The cluster is
tuned for tests (``fsync=off``): a stop or a crash of PostgreSQL loses
nothing it acknowledged, a crash of the machine would.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.servers import free_port

PG_BIN = Path(os.environ.get("MUSTER_PG_BIN", "/usr/lib/postgresql/15/bin"))

#: Settings of every throwaway cluster: quick, loopback only, room for two
#: ``muster serve`` processes (each holds up to ~75 connections).
SERVER_OPTIONS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "log_min_messages": "warning",
}

_template: Path | None = None


def available() -> bool:
    """Whether this machine can run a throwaway cluster."""
    return all((PG_BIN / tool).exists() for tool in ("initdb", "pg_ctl", "postgres", "psql"))


def _owner() -> str | None:
    """The user the cluster runs as: ``postgres`` under root, else the current user."""
    return "postgres" if os.geteuid() == 0 else None


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one of the PostgreSQL binaries (or ``cp``) as the cluster's owner."""
    program = tool if tool == "cp" else str(PG_BIN / tool)
    return subprocess.run(
        [program, *args], user=_owner(), check=True, capture_output=True, text=True, timeout=60
    )


def _private_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    owner = _owner()
    if owner is not None:
        entry = pwd.getpwnam(owner)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def _initdb_template() -> Path:
    """One ``initdb`` per test run; every cluster starts as a copy of it."""
    global _template
    if _template is None:
        root = _private_dir("muster-pg-template-")
        _run(
            "initdb",
            *("-D", str(root / "data"), "-U", "postgres", "-E", "UTF8", "--auth=trust"),
            *("--locale=C", "--no-sync", "--no-instructions"),
        )
        atexit.register(shutil.rmtree, root, True)
        _template = root / "data"
    return _template


class PgCluster:
    """One throwaway cluster: its folder, its port, and how to stop and start it."""

    def __init__(self) -> None:
        self.root = _private_dir("muster-pg-")
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.port = free_port()
        template = _initdb_template()
        _run("cp", "-a", str(template), str(self.data))

    # --- addresses ------------------------------------------------------------------

    def dsn(self, database: str = "postgres") -> str:
        """A libpq / asyncpg address."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def url(self, database: str = "muster") -> str:
        """The SQLAlchemy URL ``MUSTER_DATABASE_URL`` takes."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    # --- running it -----------------------------------------------------------------

    def start(self) -> None:
        """Start the cluster (on the same port every time) and wait until it answers."""
        options = " ".join(f"-c {k}={v}" for k, v in SERVER_OPTIONS.items())
        _run(
            "pg_ctl",
            *("-D", str(self.data), "-l", str(self.log_path), "-w", "-t", "30"),
            *("-o", f"-p {self.port} -k {self.root} {options}", "start"),
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop it: ``fast`` (sessions ended, as a restart by an operator does),
        ``immediate`` (as a crash: no shutdown checkpoint) or ``smart``."""
        _run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-m", mode, "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    @property
    def running(self) -> bool:
        status = subprocess.run(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"],
            user=_owner(),
            capture_output=True,
            timeout=10,
        )
        return status.returncode == 0

    def accepts_connections(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            return True
        return False

    # --- contents ------------------------------------------------------------------

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement with ``psql`` and return what it printed (tuples only)."""
        found = _run(
            "psql",
            *("-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"),
            *("-p", str(self.port), "-U", "postgres", "-d", database, "-c", statement),
        )
        return str(found.stdout).strip()

    def create_database(self, name: str = "muster") -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        """Stop it if it runs and delete its folder."""
        if self.running:
            with contextlib.suppress(subprocess.SubprocessError):
                self.stop("immediate")
        # Wait for the postmaster to let go of the port before the folder goes.
        deadline = time.monotonic() + 10
        while self.accepts_connections() and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def throwaway_cluster(*, start: bool = True) -> Iterator[PgCluster]:
    """A fresh cluster, running unless ``start=False``; removed afterwards."""
    cluster = PgCluster()
    try:
        if start:
            cluster.start()
        yield cluster
    finally:
        cluster.remove()
