"""A throwaway PostgreSQL server for the ledger tests.

``shared_url()`` returns a connection URL, starting at most one server per test process:

1. ``$POLICYLANG_TEST_PG_URL`` when set (CI starts a server with ``.ci/postgres.sh``);
2. otherwise a fresh cluster: ``initdb`` into a temporary folder and ``pg_ctl start`` on a
   free loopback port (and a Unix socket in the same folder), fsync off, trust auth.
   PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user
   (created by Debian's package) through ``runuser``. The server is stopped and its folder
   removed when the process exits.

When neither works, :class:`Unavailable` says why; the fixtures skip with that reason,
or fail when ``CI=true`` (CI must test PostgreSQL for real).

Run ``python tests/pg_server.py`` to start a server by hand; it prints the URL and waits.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

ENV_URL = "POLICYLANG_TEST_PG_URL"


class Unavailable(Exception):
    """No PostgreSQL server can be had here; the message says why."""


def find_bindir() -> str:
    """The folder with initdb, pg_ctl and postgres (the newest Debian one, or on PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    raise Unavailable(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH); "
        "apt-get install postgresql, or set POLICYLANG_TEST_PG_URL"
    )


def _version_key(path: str) -> tuple[int, ...]:
    version = path.split("/")[4]
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A PostgreSQL cluster in a temporary folder, running until :meth:`stop`."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.user = self._run_as()
        self.folder = tempfile.mkdtemp(prefix="policylang-pg-")
        self.data = os.path.join(self.folder, "data")
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.running = False
        if self.user is not None:
            pw = pwd.getpwnam(self.user)
            os.chown(self.folder, pw.pw_uid, pw.pw_gid)

    @staticmethod
    def _run_as() -> str | None:
        """None when we are not root; else a user PostgreSQL will run as."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise Unavailable(
                "running as root and there is no `postgres` user to run the server as "
                "(apt-get install postgresql creates one)"
            ) from None
        if shutil.which("runuser") is None:
            raise Unavailable("running as root and `runuser` is missing (util-linux)")
        return "postgres"

    def _cmd(self, *argv: str) -> list[str]:
        if self.user is None:
            return list(argv)
        return ["runuser", "-u", self.user, "--", *argv]

    def _run(self, *argv: str, timeout: float = 60) -> None:
        try:
            done = subprocess.run(self._cmd(*argv), capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Unavailable(f"{argv[0]} failed: {exc}") from None
        if done.returncode != 0:
            log = self._log_tail()
            raise Unavailable(f"{os.path.basename(argv[0])} failed ({done.returncode}): "
                              f"{(done.stderr or done.stdout).strip()[-800:]}{log}")

    def _log_tail(self) -> str:
        try:
            with open(os.path.join(self.folder, "log"), encoding="utf-8", errors="replace") as f:
                return "\nserver log:\n" + f.read()[-800:]
        except OSError:
            return ""

    def start(self) -> Server:
        self._run(os.path.join(self.bindir, "initdb"), "-D", self.data, "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=120 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=64MB"
        )
        self._run(os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l", os.path.join(self.folder, "log"),
                  "-o", options, "-w", "-t", "60", "start", timeout=90)
        self.running = True
        return self

    def stop(self) -> None:
        if self.running:
            self.running = False
            subprocess.run(self._cmd(os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "immediate",
                                     "-w", "stop"), capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


_shared: dict[str, object] = {}


def check_url(url: str) -> None:
    """Raise Unavailable unless a connection to ``url`` works."""
    try:
        import psycopg
    except ImportError:
        raise Unavailable("psycopg 3 is not installed (pip install 'psycopg[binary]')") from None
    deadline = time.monotonic() + 10
    while True:
        try:
            with psycopg.connect(url, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.Error as exc:
            if time.monotonic() > deadline:
                raise Unavailable(f"cannot connect to {url}: {str(exc).strip()}") from None
            time.sleep(0.2)


def shared_url() -> str:
    """A URL of a working server for this process (started once); Unavailable if none."""
    if "url" in _shared:
        return str(_shared["url"])
    if "error" in _shared:
        raise Unavailable(str(_shared["error"]))
    try:
        url = os.environ.get(ENV_URL)
        if not url:
            server = Server().start()
            atexit.register(server.stop)
            url = server.url
        check_url(url)
    except Unavailable as exc:
        _shared["error"] = str(exc)
        raise
    _shared["url"] = url
    return url


def with_schema(url: str, schema: str) -> str:
    """``url`` with the ledger's ``schema`` parameter (a fresh namespace per test)."""
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


if __name__ == "__main__":
    s = Server().start()
    print(s.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        s.stop()
