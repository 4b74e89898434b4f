"""A real PostgreSQL server for the tests, started in a temporary directory with the
machine's own `initdb` and `pg_ctl` (Debian's postgresql; `.ci/run` installs it where
it is missing). Never skipped: a machine without the binaries fails the tests that
need them, saying what to install.

One server per test process (each xdist worker has its own), listening on a loopback
port with password authentication, so the tests see real URLs and real logins. Each
test gets a database of its own (`PgServer.new_database`).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

USER = "cronplus_test"
PASSWORD = "s3cret-pw-4-tests"  # the tests look for it in every output, log and dump


def bindir() -> Path:
    """Where `initdb` and `pg_ctl` are: Debian keeps them off PATH."""
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True):
        return Path(found).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    raise RuntimeError(
        "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: "
        "apt-get install postgresql (bash .ci/run does)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user() -> list[str]:
    """PostgreSQL refuses to run as root: run it as `postgres` (made if missing)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class PgServer:
    root: Path
    port: int
    _names = itertools.count(1)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        secret = f":{PASSWORD}" if password else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cur = conn.execute(statement)
            return cur.fetchall() if cur.description else []

    def new_database(self) -> str:
        """A fresh, empty database; its name."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name}")
        return name

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*_as_server_user(), str(bindir() / "pg_ctl"), "-D", str(self.data), "-w", *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        self.pg_ctl("stop", "-m", "fast")

    def start(self) -> None:
        self.pg_ctl("start", "-l", str(self.root / "server.log"))

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> PgServer:
    root = Path(tempfile.mkdtemp(prefix="cronplus-pg-"))
    wrap = _as_server_user()
    if wrap:
        shutil.chown(root, "postgres", "postgres")
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if wrap:
        shutil.chown(pwfile, "postgres", "postgres")
    subprocess.run(
        [
            *wrap,
            str(bindir() / "initdb"),
            "-D",
            str(root / "data"),
            "-U",
            USER,
            "--pwfile",
            str(pwfile),
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    pwfile.unlink()
    port = _free_port()
    conf = root / "data" / "postgresql.conf"
    with conf.open("a") as f:
        f.write(
            f"\nport = {port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{root}'\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            "shared_buffers = 16MB\nmax_connections = 200\n"
        )
    server = PgServer(root, port)
    server.start()
    return server
