"""A real PostgreSQL cluster (Debian's binaries) on a loopback port in a temp dir, restartable, with a database a test."""
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

BINARIES = Path("/usr/lib/postgresql/15/bin")
START_SECONDS = 30
# Run as root (CI), the cluster belongs to Debian's `postgres` user: PostgreSQL refuses to run as root.
AS_POSTGRES = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def free_port():
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def binary(name):
    """The path of one of PostgreSQL's programs: Debian's, else one on PATH."""
    found = BINARIES / name
    return str(found) if found.exists() else shutil.which(name)


class PostgresServer:
    """A cluster in a folder its owner can enter (not under pytest's tmp_path, which only root may), UTF-8 with the
    C.UTF-8 locale, so that the full-text parser knows Cyrillic letters for letters."""

    def __init__(self):
        """Make the cluster's folder; not initialised yet."""
        self.folder = Path(tempfile.mkdtemp(prefix="webui-pg-"))
        if AS_POSTGRES:
            account = pwd.getpwnam("postgres")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        self.data = self.folder / "data"
        self.port = free_port()

    def run(self, *command, timeout=START_SECONDS):
        """Run a PostgreSQL program as the cluster's owner; its output, or AssertionError with it."""
        done = subprocess.run([*AS_POSTGRES, *command], capture_output=True, text=True, timeout=timeout, cwd=self.folder)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self):
        """initdb (once) and start it; wait until it accepts connections."""
        if not self.data.exists():
            self.run(binary("initdb"), "-D", str(self.data), "--encoding=UTF8", "--locale=C.UTF-8", "-A", "trust",
                     "-U", "webui")
        self.run(binary("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "-t", str(START_SECONDS),
                 "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        return self

    def stop(self):
        """Stop it fast (open connections are cut), waiting for the end."""
        self.run(binary("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", str(START_SECONDS), "stop")

    def restart(self):
        """Stop and start again on the same port."""
        self.stop()
        self.start()

    def url(self, database="postgres"):
        """The SQLAlchemy URL of one of its databases."""
        return f"postgresql+psycopg://webui@127.0.0.1:{self.port}/{database}"

    def sql(self, statement, database="postgres"):
        """Run one statement with psql; its output."""
        return self.run(binary("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "webui", "-d", database,
                        "-v", "ON_ERROR_STOP=1", "-At", "-c", statement)

    def create_database(self):
        """A new empty database: its name."""
        name = "test_" + uuid.uuid4().hex[:12]
        self.sql(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name):
        """Drop a database, whoever is still connected to it."""
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def destroy(self):
        """Stop it if it runs and remove its folder."""
        try:
            self.stop()
        except AssertionError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)
