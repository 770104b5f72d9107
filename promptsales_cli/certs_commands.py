"""``promptsales certs``: create CAs, issue, inspect, verify, list what is due.

Output files use the ``kubernetes.io/tls`` Secret's key names (``tls.crt``, ``tls.key``,
``ca.crt``) so a directory can be turned into a Secret with ``kubectl create secret
generic --from-file``. Errors print ``error: ...`` and exit 1; nothing is written when
any input is refused.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml
from cryptography import x509

from certs.authority import CertificateAuthority, create_intermediate_ca, create_root_ca
from certs.describe import describe
from certs.encoding import (
    CA_CRT,
    SECRET_TYPE_TLS,
    TLS_CRT,
    TLS_KEY,
    load_certificates,
    private_key_to_pem,
    tls_secret_data,
    to_pem,
)
from certs.errors import CertificateError, IdentityError
from certs.files import certificates_in, check_writable, load_ca_files, read_text, write_file
from certs.identity import client_identity_from_certificate, parse_role
from certs.issue import IssuedCertificate, issue_client_certificate, issue_server_certificate
from certs.keys import KeyAlgorithm
from certs.rotation import trust_bundle
from certs.settings import CertsSettings, load_certs_settings
from certs.validity import as_utc, utcnow
from certs.verify import verify_client, verify_server

app = typer.Typer(
    help="Platform PKI: CAs, certificates, verification and renewal checks.",
    no_args_is_help=True,
)
issue_app = typer.Typer(help="Issue a server or campaign client certificate.", no_args_is_help=True)
app.add_typer(issue_app, name="issue")

T = TypeVar("T")


def _run(action: Callable[[], T]) -> T:
    """Turn the library's refusals into one error line and exit code 1."""
    try:
        return action()
    except CertificateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _days(days: int | None, default: dt.timedelta) -> dt.timedelta:
    if days is None:
        return default
    if days <= 0:
        raise CertificateError("--validity-days must be positive")
    return dt.timedelta(days=days)


def _moment(at: str | None) -> dt.datetime:
    if at is None:
        return utcnow()
    try:
        return as_utc(dt.datetime.fromisoformat(at), "--at")
    except ValueError:
        raise CertificateError("--at must be an ISO 8601 time with a UTC offset") from None


def _renew_before(hours: float | None, settings: CertsSettings) -> dt.timedelta | None:
    if hours is None:
        return settings.renew_before
    if hours <= 0:
        raise CertificateError("--renew-before-hours must be positive")
    return dt.timedelta(hours=hours)


OutDir = Annotated[Path, typer.Option("--out-dir", help="Directory to write into.")]
Force = Annotated[bool, typer.Option("--force", help="Overwrite existing files.")]
KeyAlg = Annotated[
    KeyAlgorithm | None,
    typer.Option("--key-algorithm", help="Key type (default from settings: ecdsa-p256)."),
]
ValidityDays = Annotated[int | None, typer.Option("--validity-days", min=1)]


@app.command("create-ca")
def create_ca(
    common_name: Annotated[str, typer.Option("--common-name", "--cn", help="CA subject CN.")],
    out_dir: OutDir = Path(),
    name: Annotated[str, typer.Option(help="File stem: <name>.crt and <name>.key.")] = "ca",
    validity_days: ValidityDays = None,
    key_algorithm: KeyAlg = None,
    path_length: Annotated[
        int | None, typer.Option(help="Max CAs below this one (root default 1, inter 0).")
    ] = None,
    parent_cert: Annotated[
        Path | None, typer.Option(help="Parent CA certificate: creates an intermediate.")
    ] = None,
    parent_key: Annotated[Path | None, typer.Option(help="Parent CA private key.")] = None,
    force: Force = False,
) -> None:
    """Create a self-signed root CA, or an intermediate when --parent-cert/--parent-key."""

    def action() -> None:
        settings = load_certs_settings()
        password = settings.password_bytes()
        validity = _days(validity_days, settings.ca_validity)
        algorithm = key_algorithm or settings.key_algorithm
        cert_path, key_path = out_dir / f"{name}.crt", out_dir / f"{name}.key"
        check_writable([cert_path, key_path], force=force)
        ca: CertificateAuthority
        if (parent_cert is None) != (parent_key is None):
            raise CertificateError("--parent-cert and --parent-key go together")
        if parent_cert is not None and parent_key is not None:
            parent, _ = load_ca_files(parent_cert, parent_key, password=password)
            ca = create_intermediate_ca(
                parent,
                common_name,
                validity=validity,
                key_algorithm=algorithm,
                path_length=0 if path_length is None else path_length,
            )
        else:
            ca = create_root_ca(
                common_name,
                validity=validity,
                key_algorithm=algorithm,
                path_length=1 if path_length is None else path_length,
            )
        write_file(key_path, private_key_to_pem(ca.private_key, password), private=True)
        write_file(cert_path, to_pem((ca.certificate, *ca.chain)), private=False)
        typer.echo(f"wrote {cert_path} and {key_path} (mode 0600)")

    _run(action)


def _write_issued(
    issued: IssuedCertificate,
    ca: CertificateAuthority,
    anchors: tuple[x509.Certificate, ...],
    *,
    out_dir: Path,
    trust_file: Path | None,
    secret_name: str | None,
    namespace: str,
    force: bool,
    password: bytes | None,
) -> None:
    bundle = (
        tuple(load_certificates(read_text(trust_file), field=str(trust_file)))
        if trust_file is not None
        else trust_bundle(ca, *anchors)
    )
    data = tls_secret_data(issued, bundle)
    if secret_name is not None:
        path = out_dir / f"{secret_name}.yaml"
        check_writable([path], force=force)
        manifest: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": SECRET_TYPE_TLS,
            "metadata": {"name": secret_name, "namespace": namespace},
            "stringData": data,
        }
        write_file(path, yaml.safe_dump(manifest, sort_keys=False), private=True)
        typer.echo(f"wrote Secret manifest {path} (mode 0600)")
        return
    paths = {key: out_dir / key for key in (TLS_CRT, TLS_KEY, CA_CRT)}
    check_writable(list(paths.values()), force=force)
    write_file(paths[TLS_KEY], private_key_to_pem(issued.private_key, password), private=True)
    write_file(paths[TLS_CRT], data[TLS_CRT], private=False)
    write_file(paths[CA_CRT], data[CA_CRT], private=False)
    typer.echo(f"wrote {TLS_CRT}, {TLS_KEY} (mode 0600), {CA_CRT} in {out_dir}")


CaCert = Annotated[
    Path | None,
    typer.Option(
        "--ca-cert",
        help="Issuing CA certificate, or a ca.crt bundle holding it (default: "
        "PROMPTSALES_CERTS_CA_CERT_FILE).",
    ),
]
CaKey = Annotated[
    Path | None,
    typer.Option(
        "--ca-key", help="Issuing CA private key (default: PROMPTSALES_CERTS_CA_KEY_FILE)."
    ),
]
TrustFile = Annotated[
    Path | None, typer.Option("--trust-bundle", help="ca.crt content (default: the CA's root).")
]
SecretName = Annotated[
    str | None, typer.Option("--secret-name", help="Write a Secret manifest instead of files.")
]
Namespace = Annotated[str, typer.Option("--namespace")]


def _issue_and_write(
    issue: Callable[[CertificateAuthority, CertsSettings], IssuedCertificate],
    *,
    ca_cert: Path | None,
    ca_key: Path | None,
    out_dir: Path,
    trust_file: Path | None,
    secret_name: str | None,
    namespace: str,
    force: bool,
) -> None:
    """Load the issuing CA, let ``issue`` make the leaf, write it: one path for every kind
    of leaf, so each command only says what it issues."""

    def action() -> None:
        settings = load_certs_settings()
        password = settings.password_bytes()
        cert_file, key_file = settings.issuing_ca_files(ca_cert, ca_key)
        ca, anchors = load_ca_files(cert_file, key_file, password=password)
        _write_issued(
            issue(ca, settings),
            ca,
            anchors,
            out_dir=out_dir,
            trust_file=trust_file,
            secret_name=secret_name,
            namespace=namespace,
            force=force,
            password=password,
        )

    _run(action)


@issue_app.command("server")
def issue_server(
    common_name: Annotated[str, typer.Option("--common-name", "--cn")],
    ca_cert: CaCert = None,
    ca_key: CaKey = None,
    dns: Annotated[list[str] | None, typer.Option("--dns", help="DNS SAN (repeatable).")] = None,
    ip: Annotated[list[str] | None, typer.Option("--ip", help="IP SAN (repeatable).")] = None,
    out_dir: OutDir = Path(),
    validity_days: ValidityDays = None,
    key_algorithm: KeyAlg = None,
    trust_file: TrustFile = None,
    secret_name: SecretName = None,
    namespace: Namespace = "promptsales",
    force: Force = False,
) -> None:
    """Issue a serverAuth certificate with DNS and IP SANs."""

    def issue(ca: CertificateAuthority, settings: CertsSettings) -> IssuedCertificate:
        return issue_server_certificate(
            ca,
            common_name,
            dns_names=dns or [],
            ip_addresses=ip or [],
            validity=_days(validity_days, settings.leaf_validity),
            key_algorithm=key_algorithm or settings.key_algorithm,
        )

    _issue_and_write(
        issue,
        ca_cert=ca_cert,
        ca_key=ca_key,
        out_dir=out_dir,
        trust_file=trust_file,
        secret_name=secret_name,
        namespace=namespace,
        force=force,
    )


@issue_app.command("client")
def issue_client(
    campaign_name: Annotated[str, typer.Option(help="PromptSalesCampaign resource name.")],
    campaign_id: Annotated[str, typer.Option(help="PromptAds campaign id.")],
    role: Annotated[str, typer.Option(help="marketing, sales or user.")],
    ca_cert: CaCert = None,
    ca_key: CaKey = None,
    out_dir: OutDir = Path(),
    validity_days: ValidityDays = None,
    key_algorithm: KeyAlg = None,
    trust_file: TrustFile = None,
    secret_name: SecretName = None,
    namespace: Namespace = "promptsales",
    force: Force = False,
) -> None:
    """Issue a campaign client certificate (clientAuth, SPIFFE URI SAN)."""

    def issue(ca: CertificateAuthority, settings: CertsSettings) -> IssuedCertificate:
        return issue_client_certificate(
            ca,
            campaign_name=campaign_name,
            campaign_id=campaign_id,
            role=parse_role(role),
            validity=_days(validity_days, settings.leaf_validity),
            key_algorithm=key_algorithm or settings.key_algorithm,
        )

    _issue_and_write(
        issue,
        ca_cert=ca_cert,
        ca_key=ca_key,
        out_dir=out_dir,
        trust_file=trust_file,
        secret_name=secret_name,
        namespace=namespace,
        force=force,
    )


At = Annotated[
    str | None, typer.Option("--at", help="Evaluate at this ISO 8601 time (default now).")
]
RenewBefore = Annotated[
    float | None,
    typer.Option("--renew-before-hours", help="Renew this long before expiry (default 2/3)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="JSON output.")]


@app.command()
def inspect(
    path: Annotated[Path, typer.Argument(help="PEM file, Secret manifest or directory.")],
    at: At = None,
    renew_before_hours: RenewBefore = None,
    as_json: AsJson = False,
) -> None:
    """Show subject, SANs, serial, validity, SHA-256 fingerprint and renewal time."""

    def action() -> None:
        settings = load_certs_settings()
        now = _moment(at)
        renew_before = _renew_before(renew_before_hours, settings)
        found = certificates_in(path)
        if not found:
            raise CertificateError(f"{path}: no certificates found")
        facts = [
            {"source": label, **describe(cert, now=now, renew_before=renew_before)}
            for label, cert in found
        ]
        if as_json:
            typer.echo(json.dumps(facts, indent=2))
            return
        for item in facts:
            typer.echo(f"== {item['source']}")
            for key, value in item.items():
                if key != "source":
                    shown = ", ".join(value) if isinstance(value, list) else value
                    typer.echo(f"  {key:<19} {shown}")

    _run(action)


@app.command()
def verify(
    certificate: Annotated[Path, typer.Argument(help="Leaf PEM, optionally followed by chain.")],
    trust: Annotated[Path, typer.Option("--trust-bundle", help="Trusted roots (ca.crt).")],
    purpose: Annotated[str, typer.Option(help="server or client.")] = "server",
    hostname: Annotated[
        str | None, typer.Option(help="DNS name or IP the server must match.")
    ] = None,
    at: At = None,
) -> None:
    """Verify the chain and purpose (EKU) of a certificate; exit 1 when refused."""

    def action() -> None:
        certs = load_certificates(read_text(certificate), field=str(certificate))
        roots = load_certificates(read_text(trust), field=str(trust))
        now = _moment(at)
        leaf, intermediates = certs[0], certs[1:]
        if purpose == "server":
            if hostname is None:
                raise CertificateError("--hostname is required for --purpose server")
            chain = verify_server(
                leaf, trust=roots, hostname=hostname, intermediates=intermediates, now=now
            )
        elif purpose == "client":
            chain = verify_client(leaf, trust=roots, intermediates=intermediates, now=now)
        else:
            raise CertificateError("--purpose must be server or client")
        typer.echo("OK: " + " <- ".join(c.subject.rfc4514_string() for c in chain))
        if purpose == "client":
            try:
                identity = client_identity_from_certificate(leaf)
            except IdentityError as exc:
                typer.echo(f"no campaign identity: {exc}")
            else:
                typer.echo(
                    f"campaign identity: name={identity.campaign_name} "
                    f"id={identity.campaign_id} role={identity.role.value}"
                )

    _run(action)


@app.command()
def due(
    path: Annotated[Path, typer.Argument(help="Directory of PEMs or a Secret manifest.")],
    at: At = None,
    renew_before_hours: RenewBefore = None,
    fail_if_due: Annotated[
        bool, typer.Option("--fail-if-due", help="Exit 3 when anything is due.")
    ] = False,
) -> None:
    """List certificates due for renewal (renewal time reached, or expired)."""

    def action() -> int:
        settings = load_certs_settings()
        now = _moment(at)
        renew_before = _renew_before(renew_before_hours, settings)
        rows = [
            (label, describe(cert, now=now, renew_before=renew_before))
            for label, cert in certificates_in(path)
        ]
        due_rows = [(label, facts) for label, facts in rows if facts["renewal_due"]]
        for label, facts in sorted(due_rows, key=lambda row: str(row[1]["renewal_time"])):
            state = "EXPIRED" if facts["expired"] else "due"
            typer.echo(
                f"{state:<8} {label}  renew at {facts['renewal_time']}  "
                f"expires {facts['not_after']}  {facts['subject']}"
            )
        typer.echo(f"{len(due_rows)} of {len(rows)} certificates due for renewal")
        return len(due_rows)

    count = _run(action)
    if fail_if_due and count:
        raise typer.Exit(3)
