"""Continuous real TLS traffic on loopback while certificates and trust files change.

A server thread serves with the MCP server's own :class:`ReloadingServerContext` over
certificate files (the same reload the MCP server does, polled every ``RELOAD_SECONDS``),
and asks for an optional client certificate verified against its CA bundle file. Client
threads connect over and over, each building a fresh ``ssl`` context from its files for
every connection, and record every outcome with the CAs that signed both leaves.

What a kubelet does with a mounted Secret (copy the data into files, some time later) is
:class:`FileSync`: it writes each change into a pod's directory ``lag`` seconds after the
change appeared, by rename, so readers never see half a file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

import certs
from mcp_server.access.tls import ReloadingServerContext

RELOAD_SECONDS = 0.1
TIMEOUT = 5.0


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One connection: who connected, whether it worked, and which CAs signed the leaves."""

    at: float
    client: str
    ok: bool
    error: str
    server_leaf: bytes | None = dataclasses.field(
        repr=False
    )  # DER of the leaf the server presented (None: not reached)
    client_leaf: bytes | None = dataclasses.field(
        repr=False
    )  # DER of the leaf the client presented (None: none)

    def server_issuer(self, cas: dict[str, x509.Certificate]) -> str:
        return issuer_label(self.server_leaf, cas)

    def client_issuer(self, cas: dict[str, x509.Certificate]) -> str:
        return issuer_label(self.client_leaf, cas)


DATA_LINK = "..data"


def snapshot_paths(*paths: Path) -> list[Path]:
    """``paths`` resolved through one reading of their directory's ``..data`` link (the
    kubelet's layout), so files read one after another come from the same update."""
    directory = paths[0].parent
    link = directory / DATA_LINK
    if not link.is_symlink():
        return list(paths)
    snapshot = directory / os.readlink(link)
    return [snapshot / p.name if p.parent == directory else p for p in paths]


class FileSync:
    """Mirrors ``source() -> {name: bytes}`` into ``directory``, each change ``lag`` seconds
    after it first appeared in the source (polled every ``POLL_SECONDS``): a pod whose
    kubelet is exactly that far behind the API server."""

    POLL_SECONDS = 0.05

    def __init__(self, directory: Path, source: Callable[[], dict[str, bytes]], lag: float) -> None:
        self.directory = directory
        self.source = source
        self.lag = lag
        self._pending: tuple[float, dict[str, bytes]] | None = None
        self._write(source())

    def _write(self, files: dict[str, bytes]) -> None:
        """As the kubelet's AtomicWriter updates a Secret volume: the whole set in a new
        directory, then one atomic swap of the ``..data`` symlink the file names point
        through, so a reader never meets a new certificate beside an old key."""
        data_link = self.directory / DATA_LINK
        if data_link.exists() and all(
            (data_link / n).exists() and (data_link / n).read_bytes() == b for n, b in files.items()
        ):
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        snapshot = Path(tempfile.mkdtemp(dir=self.directory, prefix="..snapshot-"))
        for name, data in files.items():
            (snapshot / name).write_bytes(data)
        swap = self.directory / "..data_tmp"
        with contextlib.suppress(FileNotFoundError):
            swap.unlink()
        swap.symlink_to(snapshot.name)
        previous = os.readlink(data_link) if data_link.is_symlink() else None
        os.replace(swap, data_link)
        for name in files:
            link = self.directory / name
            if not link.is_symlink():
                with contextlib.suppress(FileNotFoundError):
                    link.unlink()
                link.symlink_to(Path(DATA_LINK) / name)
        # The snapshot just replaced stays (a reader may have resolved the link a moment
        # ago); older ones go.
        keep = {snapshot.name, previous}
        for old in self.directory.glob("..snapshot-*"):
            if old.name not in keep:
                for file in old.iterdir():
                    file.unlink()
                old.rmdir()

    def sync(self) -> None:
        """One poll: note a change when first seen, write it once it is ``lag`` old."""
        now = time.monotonic()
        files = self.source()
        if self._pending is None or self._pending[1] != files:
            on_disk = {
                n: (self.directory / n).read_bytes() if (self.directory / n).exists() else b""
                for n in files
            }
            self._pending = None if on_disk == files else (now, files)
        if self._pending is not None and now - self._pending[0] >= self.lag:
            self._write(self._pending[1])
            self._pending = None

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.POLL_SECONDS):
            self.sync()

    def caught_up(self) -> bool:
        """The files on disk are the source's now (nothing pending): a wait on this holds
        on a slow machine, where a sleep of the lag may not."""
        data = self.directory / DATA_LINK
        return all(
            (data / n).exists() and (data / n).read_bytes() == b for n, b in self.source().items()
        )


class Server:
    """A TLS server over ``cert``/``key`` files, trusting client certificates from ``ca``."""

    def __init__(self, cert: Path, key: Path, ca: Path) -> None:
        self.context = ReloadingServerContext(cert, key, ca)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = int(self.listener.getsockname()[1])
        self.reload_checks = 0  # completed reload_if_changed calls

    def serve(self, stop: threading.Event) -> None:
        last_reload = time.monotonic()
        while not stop.is_set():
            if time.monotonic() - last_reload >= RELOAD_SECONDS:
                self.context.reload_if_changed()
                self.reload_checks += 1
                last_reload = time.monotonic()
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(TIMEOUT)
            with (
                contextlib.suppress(ssl.SSLError, OSError),
                self.context.listening.wrap_socket(conn, server_side=True) as tls,
            ):
                tls.sendall(b"ok")
            conn.close()
        self.listener.close()


def issuer_label(der: bytes | None, cas: dict[str, x509.Certificate]) -> str:
    """Which of ``cas`` (label -> CA) signed this leaf: by signature, as names may match."""
    if not der:
        return ""
    leaf = x509.load_der_x509_certificate(der)
    return next((label for label, ca in cas.items() if certs.issued_by(leaf, ca)), "unknown")


@dataclasses.dataclass
class Client:
    """Connects with ``trust`` (a CA bundle file) and optionally ``cert``/``key`` files."""

    name: str
    trust: Path
    cert: Path | None = None
    key: Path | None = None
    server_hostname: str = "localhost"

    def attempt(self, port: int) -> Attempt:
        started = time.monotonic()
        client_der: bytes | None = None
        server_der: bytes | None = None
        try:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(cafile=str(self.trust))
            if self.cert is not None and self.key is not None:
                # Both from one snapshot of the volume, as a careful client reads them.
                cert, key = snapshot_paths(self.cert, self.key)
                pem = cert.read_bytes()
                ctx.load_cert_chain(cert, key)
                client_der = x509.load_pem_x509_certificates(pem)[0].public_bytes(Encoding.DER)
            with (
                socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw,
                ctx.wrap_socket(raw, server_hostname=self.server_hostname) as tls,
            ):
                server_der = tls.getpeercert(binary_form=True)
                reply = tls.recv(16)  # TLS 1.3: a refused client certificate shows up here
            ok, error = reply == b"ok", "" if reply == b"ok" else f"reply {reply!r}"
        except (ssl.SSLError, OSError, ValueError) as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        return Attempt(started, self.name, ok, error, server_der, client_der)


class Traffic:
    """Clients connecting in a loop until stopped; ``attempts`` holds every outcome."""

    def __init__(self, server: Server, clients: list[Client]) -> None:
        self.server = server
        self.clients = clients
        self.attempts: list[Attempt] = []

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            for client in self.clients:
                self.attempts.append(client.attempt(self.server.port))

    def wait_for_attempts(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        start = len(self.attempts)
        while len(self.attempts) < start + count:
            if time.monotonic() > deadline:
                raise AssertionError(f"fewer than {count} connections in {timeout} s")
            time.sleep(0.02)


@contextlib.contextmanager
def running(*loops: Callable[[threading.Event], None]) -> Iterator[None]:
    """Run each loop on its own thread until the block ends; stop them last to first,
    so a server listed first outlives the clients that connect to it."""
    started = []
    for loop in loops:
        stop = threading.Event()
        thread = threading.Thread(target=loop, args=(stop,), daemon=True)
        thread.start()
        started.append((stop, thread))
    try:
        yield
    finally:
        for stop, thread in reversed(started):
            stop.set()
            thread.join(10)
