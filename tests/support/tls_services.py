"""Private TLS-enabled PostgreSQL, Redis and SecantusDB instances for the database-TLS tests.

The machine's shared servers are never reconfigured: each helper here starts its own
instance on a free loopback port with certificates the test issued, and removes it
afterwards. PostgreSQL refuses to run as root, so when the tests run as root the cluster
is created and started as the ``postgres`` system user (``runuser``) in a temporary
directory that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.services import ServiceUnavailableError, free_port, secantus_executable

START_TIMEOUT_S = 60.0
POSTGRES_SYSTEM_USER = "postgres"


@dataclass(frozen=True)
class ServerPem:
    """What a server presents and whom it trusts for client certificates (all PEM text)."""

    certificate_chain: str
    private_key: str
    client_ca: str


# --- PostgreSQL -----------------------------------------------------------------------


@dataclass(frozen=True)
class TLSPostgres:
    host: str
    port: int
    data_dir: Path

    def dsn(self, user: str = "postgres", dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={user} dbname={dbname} connect_timeout=10"


def postgres_bindir() -> Path:
    """The newest installed PostgreSQL server binaries (``initdb``, ``pg_ctl``)."""
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not candidates:
        found = shutil.which("initdb")
        if found is None:
            raise ServiceUnavailableError(
                "PostgreSQL server binaries (initdb, pg_ctl) are missing; "
                "install them with: apt-get install postgresql"
            )
        return Path(found).parent
    newest = max(candidates, key=lambda p: int(Path(p).parent.parent.name.split(".")[0]))
    return Path(newest).parent


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", POSTGRES_SYSTEM_USER, "--", *command]
    return command


def _give_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _write(path: Path, text: str, mode: int) -> None:
    path.write_text(text)
    path.chmod(mode)
    _give_to_postgres(path)


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ServiceUnavailableError(
            f"{what} failed ({result.returncode}): {result.stderr[-2000:] or result.stdout[-2000:]}"
        )


@contextmanager
def tls_postgres(pem: ServerPem, *, mtls_role: str = "mtls") -> Iterator[TLSPostgres]:
    """A throwaway PostgreSQL cluster that accepts TLS connections only.

    ``pg_hba.conf`` rejects every non-TLS TCP connection; the role ``mtls_role`` must also
    present a client certificate issued by ``pem.client_ca`` (``clientcert=verify-ca``).
    """
    bindir = postgres_bindir()
    base = Path(tempfile.mkdtemp(prefix="ps-tls-pg-"))
    base.chmod(0o700)
    _give_to_postgres(base)
    data = base / "data"
    port = free_port()
    started = False
    try:
        _run(
            _as_postgres(
                [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                 "-E", "UTF8", "--no-sync", "--no-instructions"]
            ),
            "initdb",
        )  # fmt: skip
        _write(data / "server.crt", pem.certificate_chain, 0o644)
        _write(data / "server.key", pem.private_key, 0o600)
        _write(data / "client-ca.crt", pem.client_ca, 0o644)
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {port}\n"
                f"unix_socket_directories = '{base}'\n"
                "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
                "ssl_ca_file = 'client-ca.crt'\nssl_min_protocol_version = 'TLSv1.2'\n"
                "fsync = off\nmax_connections = 20\nshared_buffers = 16MB\n"
            )
        _write(
            data / "pg_hba.conf",
            "local all all trust\n"
            f"hostssl all {mtls_role} 127.0.0.1/32 trust clientcert=verify-ca\n"
            "hostssl all all 127.0.0.1/32 trust\n"
            "hostnossl all all 0.0.0.0/0 reject\n",
            0o600,
        )
        _run(
            _as_postgres(
                [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"),
                 "-w", "-t", str(int(START_TIMEOUT_S)), "start"]
            ),
            "pg_ctl start",
        )  # fmt: skip
        started = True
        _run(
            _as_postgres(
                [str(bindir / "psql"), "-h", str(base), "-p", str(port),
                 "-U", "postgres", "-d", "postgres", "-q", "-c", f"CREATE ROLE {mtls_role} LOGIN"]
            ),
            "create mTLS role",
        )  # fmt: skip
        yield TLSPostgres("127.0.0.1", port, data)
    finally:
        if started:
            subprocess.run(
                _as_postgres(
                    [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
                ),
                capture_output=True,
                check=False,
            )
        shutil.rmtree(base, ignore_errors=True)


# --- processes listening on a TCP port (Redis, SecantusDB) -----------------------------


def _wait_for_port(
    process: subprocess.Popen[bytes], port: int, name: str, log: Path, hint: str
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceUnavailableError(
                f"{name} exited with {process.returncode}: {log.read_text()[-2000:]}; {hint}"
            )
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise ServiceUnavailableError(f"{name} did not listen on port {port}; {hint}")


@contextmanager
def _process(args: list[str], port: int, name: str, workdir: Path, hint: str) -> Iterator[None]:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        _wait_for_port(process, port, name, log, hint)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _pem_files(workdir: Path, pem: ServerPem) -> tuple[Path, Path, Path]:
    cert, key, ca = workdir / "server.crt", workdir / "server.key", workdir / "client-ca.crt"
    cert.write_text(pem.certificate_chain)
    key.write_text(pem.private_key)
    key.chmod(0o600)
    ca.write_text(pem.client_ca)
    return cert, key, ca


@dataclass(frozen=True)
class TLSEndpoint:
    host: str
    port: int


REDIS_HINT = (
    "needs redis-server built with TLS (Debian's redis-server package is); "
    "check with: redis-server --tls-port 1 --help"
)


@contextmanager
def tls_redis(pem: ServerPem, *, require_client_cert: bool = False) -> Iterator[TLSEndpoint]:
    """A redis-server that only speaks TLS (``--port 0``), on a free port."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise ServiceUnavailableError("redis-server is missing: apt-get install redis-server")
    with tempfile.TemporaryDirectory(prefix="ps-tls-redis-") as tmp:
        workdir = Path(tmp)
        cert, key, ca = _pem_files(workdir, pem)
        port = free_port()
        args = [
            executable, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
            "--tls-cert-file", str(cert), "--tls-key-file", str(key),
            "--tls-ca-cert-file", str(ca),
            "--tls-auth-clients", "yes" if require_client_cert else "no",
            "--save", "", "--appendonly", "no", "--dir", str(workdir),
        ]  # fmt: skip
        with _process(args, port, "redis-server", workdir, REDIS_HINT):
            yield TLSEndpoint("127.0.0.1", port)


@contextmanager
def tls_mongo(pem: ServerPem) -> Iterator[TLSEndpoint]:
    """SecantusDB (MongoDB wire protocol) wrapping every connection in TLS."""
    with tempfile.TemporaryDirectory(prefix="ps-tls-mongo-") as tmp:
        workdir = Path(tmp)
        cert, key, ca = _pem_files(workdir, pem)
        port = free_port()
        args = [
            secantus_executable(), "--host", "127.0.0.1", "--port", str(port),
            "--storage-path", ":memory:", "--log-level", "WARNING",
            "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-file", str(ca),
        ]  # fmt: skip
        hint = f"SecantusDB ({sys.executable} -m pip show secantusdb) must support --tls-cert-file"
        with _process(args, port, "secantusdb", workdir, hint):
            yield TLSEndpoint("127.0.0.1", port)
