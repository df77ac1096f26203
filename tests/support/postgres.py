"""Start a throwaway PostgreSQL server on a loopback port (Debian's server binaries).

initdb refuses to run as root, so as root the server runs as the ``postgres`` user.
The data directory lives under /tmp and is removed at the end. ``server_for(url)`` gives the
fault drills a handle to stop and start a running server (same data, port and options).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def find_bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@dataclass(frozen=True)
class PostgresServer:
    bindir: Path
    datadir: Path
    options: str

    def _pg_ctl(self, *args: str) -> None:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args]
        subprocess.run(_as_postgres(command), cwd="/", check=True, capture_output=True)

    def start(self) -> None:
        self._pg_ctl(
            "-o", self.options, "-w", "-t", "30", "-l", str(self.datadir / "server.log"), "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session at once (an administrator's restart); ``immediate``
        is a crash."""
        self._pg_ctl("-m", mode, "-w", "stop")


_servers: dict[str, PostgresServer] = {}


def server_for(url: str) -> PostgresServer | None:
    """The running throwaway server behind ``url`` (None for any other database)."""
    return _servers.get(url)


@contextmanager
def throwaway_postgres(dbname: str = "hocso_test") -> Iterator[str]:
    """Yield a SQLAlchemy URL to a fresh database; stop and delete the server afterwards."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(
            "PostgreSQL server binaries not found: install Debian's 'postgresql' (make system-deps)"
        )
    if os.geteuid() == 0:
        subprocess.run(["id", "postgres"], check=True, capture_output=True)
    datadir = Path(tempfile.mkdtemp(prefix="hocso-pg-"))
    port = _free_port()
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres", "postgres")
    datadir.chmod(0o700)
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(datadir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                ]
            ),
            cwd="/",
            check=True,
            capture_output=True,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={datadir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        server = PostgresServer(bindir, datadir, options)
        server.start()
        deadline = time.monotonic() + 30
        while True:
            probe = subprocess.run(
                [
                    str(bindir / "psql"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-c",
                    f"CREATE DATABASE {dbname}",
                ],
                cwd="/",
                capture_output=True,
                text=True,
            )
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start: {probe.stderr.strip()}")
            time.sleep(0.2)
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/{dbname}"
        _servers[url] = server
        try:
            yield url
        finally:
            _servers.pop(url, None)
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "stop"]),
            cwd="/",
            capture_output=True,
        )
        shutil.rmtree(datadir, ignore_errors=True)
